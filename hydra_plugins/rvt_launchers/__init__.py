"""Hydra launchers for sweeps (conf/hydra/launcher/local.yaml, slurm.yaml): the submitit launchers of
hydra-submitit-launcher with two changes.

- A failed job does not lose the others. The plugin collects ``job.results()`` in order and raises at the
  first failed job, leaving later jobs unwatched (the multirun ends while they still run). Here every job
  is waited for; failed ones (an exception, ``sys.exit``, a crash, a SLURM failure) become FAILED job
  returns, a summary names them with their logs, and Hydra raises only after all jobs have ended. Every
  job writes its own run directory (and results.json), so the finished ones are all on disk.
- The local executor starts every job at once; ``array_parallelism`` here limits how many run together
  (on SLURM it is the job array's ``%N`` as in the plugin).

Hydra accepts launchers only from the ``hydra_plugins`` package: this folder joins the installed
``hydra_plugins`` namespace when the repository root is on sys.path, as it is for ``python train.py`` and
for the submitit jobs started from the repository root.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from rvt.errors import JobFailed

log = logging.getLogger(__name__)


class _Tolerant:
    poll_s = 1.0

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None and len(job_overrides) > 0
        params = dict(self.params)
        parallel = params.pop("array_parallelism", None) if self._EXECUTOR == "local" else None
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        job_params: List[Any] = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))

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
            returns.append(ret)
        if failed:
            log.error(f"{len(failed)} of {len(jobs)} jobs failed; the other {len(jobs) - len(failed)} finished "
                      f"and kept their run directories:")
            for idx, overrides, job in failed:
                log.error(f"\t#{idx} : {' '.join(filter_overrides(overrides))} | log {job.paths.stderr}")
        return returns

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
    pass
