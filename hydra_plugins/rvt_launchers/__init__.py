"""Hydra launchers for sweeps (conf/hydra/launcher/local.yaml, slurm.yaml): the submitit launchers of
hydra-submitit-launcher with two changes.

- A failed job does not lose the others. The plugin collects ``job.results()`` in order and raises at the
  first failed job, leaving later jobs unwatched (the multirun ends while they still run). Here every job
  is waited for; failed ones (an exception, ``sys.exit``, a crash, a SLURM failure) become FAILED job
  returns, a summary names them with their logs, and Hydra raises only after all jobs have ended. Every
  job writes its own run directory (and results.json), so the finished ones are all on disk.
- The local executor starts every job at once; ``array_parallelism`` here limits how many run together
  (on SLURM it is the job array's ``%N`` as in the plugin).
- A sweep can be run again in its folder (``hydra.sweep.dir``): jobs whose run directory holds a finished
  results.json are kept and not submitted, the others are (an unfinished one continues from its last
  checkpoint: ``ckpt_path=auto``). The folder remembers its sweep (``.rvt-sweep.json``): another sweep
  pointed at it is refused with one line, so a run folder is never shared by two jobs.
- SLURM: no partition, or no reachable cluster, is one line and exit 2 before anything is submitted; on a
  cluster without accounting (sacct), job states are read with squeue, said once, instead of a warning
  per poll; a preempted or timed-out job is requeued by submitit (``max_num_timeout``,
  ``signal_delay_s``) and continues from its checkpoint (docs/cluster.md).

Hydra accepts launchers only from the ``hydra_plugins`` package: this folder joins the installed
``hydra_plugins`` namespace when the repository root is on sys.path, as it is for ``python train.py`` and
for the submitit jobs started from the repository root.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf, open_dict

from rvt.errors import JobFailed
from rvt.io import atomic_write_text
from rvt.training.record import RunRecord

#: the file in a sweep folder that names the sweep it belongs to (its command line's overrides)
MANIFEST = ".rvt-sweep.json"

log = logging.getLogger(__name__)


class _Tolerant:
    poll_s = 1.0

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None and len(job_overrides) > 0
        self._preflight()  # before submitit's executor, which fails with a traceback where sbatch is missing
        params = dict(self.params)
        parallel = params.pop("array_parallelism", None) if self._EXECUTOR == "local" else None
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        _claim(sweep_dir, [str(o) for o in self.config.hydra.overrides.task])
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        job_params: List[Any] = []
        kept: dict = {}
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            record = self._finished_record(list(overrides), idx)
            if record is not None:
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))} | finished before: kept")
                kept[idx] = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                                      _return_value=record.test_acc)
                continue
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        if not job_params:
            log.info(f"every job of the sweep finished before ({len(kept)} kept)")
            return [kept[i] for i in sorted(kept)]

        if parallel and int(parallel) < len(job_params):
            jobs = self._rolling(executor, job_params, int(parallel))
        else:
            jobs = executor.map_array(self, *zip(*job_params))

        returns, failed = [], []
        for job, args in zip(jobs, job_params):
            try:
                ret = job.results()[0]
            except Exception as e:  # no result: sys.exit, a crash, a cancelled or timed-out SLURM job
                first = _last_line(job.paths.stderr) or (str(e).strip().splitlines() or [type(e).__name__])[0]
                ret = JobReturn(overrides=args[0], status=JobStatus.FAILED,
                                _return_value=JobFailed(f"job #{args[2]} ({job.job_id}) failed: {first}; "
                                                        f"log: {job.paths.stderr}"))
            if ret.status == JobStatus.FAILED:
                failed.append((args[2], args[0], job))
            returns.append((args[2], ret))
        returns = [ret for _, ret in sorted(returns + list(kept.items()), key=lambda pair: pair[0])]
        if failed:
            log.error(f"{len(failed)} of {len(jobs)} jobs failed; the other {len(jobs) - len(failed)} finished "
                      f"and kept their run directories:")
            for idx, overrides, job in failed:
                log.error(f"\t#{idx} : {' '.join(filter_overrides(overrides))} | log {job.paths.stderr}")
        return returns

    def _preflight(self) -> None:
        """Refuse, before anything is submitted, what cannot run (one line, exit 2)."""

    def _finished_record(self, overrides: list, idx: int) -> RunRecord | None:
        """The finished record in this job's run directory (a sweep run again in its folder), else None."""
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.num = idx
        run_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
        try:
            record = RunRecord.load(run_dir)
        except (OSError, ValueError, TypeError):
            return None
        return record if record.is_finished else None

    def _rolling(self, executor, job_params, parallel: int):
        """Submit one job at a time, keeping at most ``parallel`` running."""
        jobs: list = []
        running: list = []
        for args in job_params:
            while len(running) >= parallel:
                time.sleep(self.poll_s)
                running = [j for j in running if not j.done()]
            job = executor.submit(self, *args)
            jobs.append(job)
            running.append(job)
        return jobs


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _claim(sweep_dir: Path, overrides: list[str]) -> None:
    """Mark ``sweep_dir`` as this sweep's (its command line's overrides); refuse a folder that another sweep
    marked: its jobs' run folders would be shared by two sweeps' jobs."""
    manifest = sweep_dir / MANIFEST
    mine = sorted(overrides)
    if manifest.is_file():
        try:
            theirs = json.loads(manifest.read_text()).get("overrides")
        except (OSError, ValueError):
            theirs = None
        if theirs is not None and sorted(theirs) != mine:
            was = " ".join(sorted(set(theirs) - set(mine))) or "fewer overrides"
            now = " ".join(sorted(set(mine) - set(theirs))) or "fewer overrides"
            _refuse(f"{sweep_dir} holds another sweep (it ran {was}; this one asks for {now}): give this one "
                    f"its own folder, hydra.sweep.dir=...")
        return
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps({"overrides": mine}, indent=1) + "\n")


def _last_line(path) -> str | None:
    """The last non-empty line of a job's stderr (train.py's one-line ``error: ...`` for user mistakes)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1][:500] if lines else None


class LocalLauncher(_Tolerant, plugin.LocalLauncher):
    pass


class SlurmLauncher(_Tolerant, plugin.SlurmLauncher):
    def _preflight(self) -> None:
        partition = self.params.get("partition")
        if not partition:
            _refuse("hydra/launcher=slurm needs a partition: SLURM_PARTITION=<name> in the environment, "
                    "hydra.launcher.partition=<name>, or conf/hydra/launcher/site/slurm.yaml (docs/cluster.md)")
        if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
            _refuse("hydra/launcher=slurm: no sbatch/sinfo on this machine (run the sweep from a SLURM login node)")
        try:
            done = subprocess.run(["sinfo", "-h", "-p", str(partition), "-o", "%P"], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            _refuse(f"SLURM is not reachable: {e}")
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["sinfo failed"])[-1]
            _refuse(f"SLURM is not reachable (sinfo: {first})")
        if not done.stdout.strip():
            _refuse(f"SLURM has no partition {partition!r} (sinfo lists: {_partitions()})")
        _quiet_job_polling()


def _partitions() -> str:
    done = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
    return ", ".join(p.rstrip("*") for p in done.stdout.split()) or "none"


def _quiet_job_polling() -> None:
    """submitit polls job states with sacct and, on a cluster without accounting, warns on every poll
    ("Bypassing sacct error"). There, read the states with squeue instead and say so once."""
    from submitit.slurm import slurm

    if getattr(slurm.SlurmJob.watcher, "reads_squeue", False):
        return
    probe = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return
    log.info("this cluster has no SLURM accounting (sacct: %s): job states are read with squeue",
             (probe.stderr.strip().splitlines() or ["unavailable"])[-1])

    class SqueueWatcher(slurm.SlurmInfoWatcher):
        """submitit's SLURM watcher reading ``squeue --states=all`` (the jobs the controller still holds; a
        job it has forgotten counts as finished once its result file exists, as submitit checks anyway)."""

        reads_squeue = True

        def _make_command(self):
            ids = sorted({x.split("_")[0] for x in self._registered - self._finished})
            return ["squeue", "--states=all", "-h", "-o", "%i|%T|%N", "-j", ",".join(ids)] if ids else None

        def read_info(self, string):
            text = string if isinstance(string, str) else string.decode()
            return super().read_info("JobID|State|NodeList\n" + text)

    # the library has no hook for its watcher: the class attribute every SlurmJob polls through
    slurm.SlurmJob.watcher = SqueueWatcher(delay_s=slurm.SlurmJob.watcher._delay_s)
