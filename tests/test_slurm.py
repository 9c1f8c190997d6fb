"""Sweeps on a real SLURM cluster through `hydra/launcher=slurm`, typed as a user types them (the partition
from SLURM_PARTITION): four jobs end with four results.json and the report over them, one wandb run per job
grouped by the sweep; the same command run again keeps the finished jobs; another sweep in the same folder
is refused; a job warned of its time limit (USR2) or requeued with `scontrol requeue` continues from its
checkpoint and ends with the metrics of an uninterrupted job.

These need a cluster: `sudo bash scripts/slurm_cluster.sh start` (.ci/run starts one and sets
RVT_REQUIRE_SLURM=1, which turns the skip into a failure)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training_helpers import ROOT, run_cli, tiny

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

#: what every job asks for on the one-node test cluster (CPU jobs, two at once on two cores)
JOB = ["hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2",
       "hydra.launcher.timeout_min=20", "progress=none"]


@pytest.fixture(scope="module")
def partition() -> str:
    name = os.environ.get("SLURM_PARTITION", "debug")
    why = None
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        why = "no sinfo/sbatch"
    else:
        done = subprocess.run(["sinfo", "-h", "-p", name, "-o", "%t"], capture_output=True, text=True, timeout=60)
        if done.returncode or not any(s.startswith(("idle", "mix", "alloc")) for s in done.stdout.split()):
            why = f"partition {name} is not up ({(done.stderr or done.stdout).strip() or 'no nodes'})"
    if why:
        message = f"no SLURM cluster ({why}); start one with `sudo bash scripts/slurm_cluster.sh start`"
        if os.environ.get("RVT_REQUIRE_SLURM"):
            pytest.fail(message)
        pytest.skip(message)
    return name


def sweep(args, data_dir, tmp_path, partition, env=None, timeout=900):
    return run_cli(["-m", "hydra/launcher=slurm", *JOB, *args], data_dir, tmp_path, timeout=timeout,
                   extra_env={"SLURM_PARTITION": partition, **(env or {})})


def wandb_records(path: Path) -> list:
    """The records of an offline wandb run file (run-<id>.wandb): a 7-byte header, then LevelDB-log framed
    protobuf records (4-byte checksum, 2-byte length, 1-byte type; 32 KiB blocks), read to check the group,
    the exit and the summary of each job's run (wandb ships no reader for it)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", path
    pos, out, pending, block = 7, [], b"", 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def records(folder: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/results.json"))}


def test_a_2x2_sweep_runs_reports_resumes_and_refuses_another_sweep_in_its_folder(tmp_path, data_dir, partition):
    from rvt.training.tracking import run_id

    folder = tmp_path / "sweep"
    args = tiny(data_dir) + ["logger=wandb", "transform=none,rvt", "seed=0,1", f"hydra.sweep.dir={folder}"]
    p = sweep(args, data_dir, tmp_path, partition)
    assert p.returncode == 0, p.stderr[-3000:]
    runs = records(folder)
    assert len(runs) == 4 and all(r["status"] == "finished" for r in runs.values())
    assert sorted((r["transform"], r["seed"]) for r in runs.values()) == [("none", 0), ("none", 1), ("rvt", 0), ("rvt", 1)]
    assert len({r["run_dir"] for r in runs.values()}) == 4
    # quiet polling on a cluster without accounting: said once, no warning per poll
    log = p.stdout + p.stderr
    assert "Bypassing sacct" not in log and log.count("no SLURM accounting") <= 1

    # one offline wandb run per job, fixed by its run directory, in the sweep's group, finished by its job
    for name, r in runs.items():
        offline = list((folder / name / "wandb").glob("offline-run-*"))
        assert len(offline) == 1, offline
        assert offline[0].name.endswith(run_id(r["run_dir"]))
        kept = wandb_records(next(offline[0].glob("run-*.wandb")))
        run = [k.run for k in kept if k.WhichOneof("record_type") == "run"]
        assert len(run) == 1 and run[0].run_group == folder.name and run[0].run_id == run_id(r["run_dir"])
        assert [k.exit.exit_code for k in kept if k.WhichOneof("record_type") == "exit"] == [0]
        summary = {u.key: u.value_json for k in kept if k.WhichOneof("record_type") == "summary" for u in k.summary.update}
        assert float(summary["test_acc"]) == pytest.approx(r["test_acc"]) and f"sweep:{folder.name}" in r["tags"]

    done = subprocess.run([sys.executable, "experiments/report.py", "--runs", str(folder), "--out",
                           str(tmp_path / "report"), "--no-examples"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "report" / "table.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| mnist | resnet |")]
    assert len(rows) == 2 and all(" | 2 | " in ln for ln in rows), rows

    # the same command again: every job finished before, nothing is submitted, nothing changes
    jobs_before = sorted((folder / ".submitit").iterdir())
    p = sweep(args, data_dir, tmp_path, partition)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "every job of the sweep finished before (4 kept)" in p.stdout + p.stderr
    assert sorted((folder / ".submitit").iterdir()) == jobs_before and records(folder) == runs

    # another sweep pointed at the same folder: one line, exit 2, nothing submitted
    p = sweep(tiny(data_dir) + ["transform=none,random", "seed=0,1", f"hydra.sweep.dir={folder}"], data_dir,
              tmp_path, partition)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith(f"error: {folder} holds another sweep")
    assert sorted((folder / ".submitit").iterdir()) == jobs_before


def test_bad_cluster_input_is_one_line_before_anything_is_submitted(tmp_path, data_dir, partition):
    base = tiny(data_dir) + ["transform=none,rvt", f"hydra.sweep.dir={tmp_path / 's'}"]
    for env, extra, message in [
        ({"SLURM_PARTITION": ""}, [], "needs a partition"),
        ({"SLURM_PARTITION": "no_such_partition"}, [], "SLURM has no partition 'no_such_partition'"),
        ({}, ["hydra.launcher.no_such_option=1"], "Could not override 'hydra.launcher.no_such_option'"),
        ({"PATH": "/nonexistent"}, [], "no sbatch/sinfo on this machine"),  # not on a SLURM login node
    ]:
        p = run_cli(["-m", "hydra/launcher=slurm", *JOB, *base, *extra], data_dir, tmp_path,
                    extra_env={"SLURM_PARTITION": partition, **env})
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and "Traceback" not in p.stderr and message in lines[-1], p.stderr[-2000:]
        assert not (tmp_path / "s" / ".submitit").exists()


PAUSE = '''
import os, time
from pathlib import Path
from pytorch_lightning import Callback

class PauseOnFirstAttempt(Callback):
    """At the start of epoch `epoch` of a job's first attempt, write <run dir>/paused (the job id and how the
    test interrupts it) and wait: the test signals or requeues the job meanwhile (how=never: no pause)."""
    def __init__(self, epoch, how):
        self.epoch, self.how = epoch, how
    def on_train_epoch_start(self, trainer, pl_module):
        first_attempt = os.environ.get("SLURM_RESTART_COUNT", "0") == "0"
        if self.how != "never" and trainer.current_epoch == self.epoch and first_attempt:
            array = os.environ.get("SLURM_ARRAY_JOB_ID")  # one task of a job array: <array id>_<task id>
            job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
            Path(trainer.default_root_dir, "paused").write_text(job + " " + self.how)
            time.sleep(600)
'''


def _start_now(job: str) -> None:
    """SLURM holds a requeued job back for about two minutes: start it now (the test cluster is ours)."""
    for _ in range(60):
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True)
            return
        time.sleep(1)


def test_a_preempted_or_requeued_job_ends_as_an_uninterrupted_one(tmp_path, data_dir, partition):
    """Three jobs of one sweep, identical but for when they are interrupted: never; by SLURM's warning signal
    before the time limit (USR2: submitit checkpoints and requeues the job); by `scontrol requeue`. The two
    interrupted jobs start again, continue from their last checkpoint (ckpt_path=auto) and end with every
    metric and every weight of the uninterrupted one."""
    (tmp_path / "pause.py").write_text(PAUSE)
    folder = tmp_path / "sweep"
    args = tiny(data_dir) + ["trainer.max_epochs=3", "trainer.limit_train_batches=3", "transform=random",
                             "trainer.deterministic=true", "module.ricap_beta=0.3", "logger=none",
                             "+callbacks.pause._target_=pause.PauseOnFirstAttempt", "+callbacks.pause.epoch=1",
                             "+callbacks.pause.how=never,usr2,requeue", f"hydra.sweep.dir={folder}"]
    env = dict(os.environ, RVT_DATA_DIR=str(data_dir), WANDB_MODE="offline", SLURM_PARTITION=partition,
               PYTHONPATH=str(tmp_path), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "train.py", "-m", "hydra/launcher=slurm", *JOB, *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    handled: set = set()
    deadline = time.time() + 600
    while len(handled) < 2 and time.time() < deadline and proc.poll() is None:
        for marker in folder.glob("*/paused"):
            job, how = marker.read_text().split()
            if how in handled:
                continue
            if how == "usr2":
                subprocess.run(["scancel", "--signal=USR2", job], check=True)
            else:
                subprocess.run(["scontrol", "requeue", job], check=True)
            _start_now(job)
            handled.add(how)
        time.sleep(1)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and handled == {"usr2", "requeue"}, (handled, err[-3000:])
    runs = {r["config"]["callbacks"]["pause"]["how"]: r for r in records(folder).values()}
    whole = runs["never"]
    assert not whole["resumed_from"]
    untimed = lambda h: [{k: v for k, v in e.items() if k != "train_seconds"} for e in h]  # noqa: E731
    for how in ("usr2", "requeue"):
        r = runs[how]
        assert r["status"] == "finished" and r["resumed_from"].endswith("last.ckpt"), how
        for k in ("test_acc", "test_acc_last", "test_acc_best_epoch", "val_acc_best", "steps", "epochs"):
            assert r[k] == whole[k], (how, k)
        assert untimed(r["history"]) == untimed(whole["history"]), how
        a, b = (torch.load(Path(x["run_dir"]) / "checkpoints" / "last.ckpt", map_location="cpu",
                           weights_only=False)["state_dict"] for x in (whole, r))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), how
