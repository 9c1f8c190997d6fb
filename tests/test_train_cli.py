"""The training command line in subprocesses: train.py then eval.py, multirun, resume after a kill, DDP on two
CPU processes, and one-line errors for a user's mistakes."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from training_helpers import run_cli, tiny


@pytest.mark.slow
def test_cli_run_then_eval(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    p = run_cli(tiny(data_dir) + [f"hydra.run.dir={run_dir}"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((run_dir / "results.json").read_text())
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")  # the resolved config is kept with the run
    assert saved.dataset.name == "mnist" and (run_dir / ".hydra" / "overrides.yaml").is_file()
    assert res["git"]["commit"] and res["git"]["at"] == "start" and res["best_checkpoint"]
    assert res["config"]["dataset"]["name"] == "mnist" and res["config"]["trainer"]["max_epochs"] == 1  # resolved
    assert "trainer.max_epochs=1" in res["overrides"]
    out = tmp_path / "eval.json"
    p = run_cli([str(run_dir), "--test-subset", "32", "--out", str(out), "--device", "cpu"], data_dir, tmp_path,
                script="eval.py")
    assert p.returncode == 0, p.stderr[-3000:]
    ev = json.loads(out.read_text())
    assert ev["acc_encrypted"] == pytest.approx(res["test_acc"], abs=1e-6)  # the same checkpoint, same images
    assert 0 <= ev["acc_plain"] <= 1 and "plain test" in p.stdout


@pytest.mark.slow
def test_multirun_two_jobs(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    p = run_cli(["-m", "transform=none,rvt", f"hydra.sweep.dir={sweep}", "logger=none"] + tiny(data_dir),
                data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    results = sorted(sweep.glob("*/results.json"))
    assert [r.parent.name for r in results] == ["0-mnist-resnet-none-before-s3407", "1-mnist-resnet-rvt-before-s3407"]
    records = [json.loads(r.read_text()) for r in results]
    assert [r["transform"] for r in records] == ["none", "rvt"]
    # each job records its own command-line overrides (the report tells a changed recipe from the default's)
    assert [[o for o in r["overrides"] if o.startswith("transform=")] for r in records] == [["transform=none"],
                                                                                           ["transform=rvt"]]
    assert all("logger=none" in r["overrides"] for r in records)
    assert records[0]["augmentation"] == {"padding": 2, "flip": False, "color_jitter": None}  # MNIST's


KILLER = '''
import os
from pytorch_lightning import Callback

class KillAtEpoch(Callback):
    """Simulates a killed job: exits hard when epoch `epoch` starts (after the previous one was saved)."""
    def __init__(self, epoch):
        self.epoch = epoch
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            os._exit(3)
'''


@pytest.mark.slow
def test_resume_after_a_killed_run(tmp_path, data_dir):
    (tmp_path / "killer.py").write_text(KILLER)
    run_dir = tmp_path / "run"
    args = tiny(data_dir) + ["trainer.max_epochs=2", f"hydra.run.dir={run_dir}", "logger=csv"]
    p = run_cli(args + ["+callbacks.kill._target_=killer.KillAtEpoch", "+callbacks.kill.epoch=1"], data_dir,
                tmp_path, extra_env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 3, p.stderr[-3000:]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    killed = json.loads((run_dir / "results.json").read_text())  # the record written when fitting started
    assert killed["status"] == "running" and killed["test_acc"] is None and killed["dataset"] == "mnist"
    p = run_cli(args + ["ckpt_path=last"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((run_dir / "results.json").read_text())
    assert res["resumed_from"].endswith("last.ckpt") and res["epochs"] == 2 and res["steps"] == 4
    assert [h["epoch"] for h in res["history"]] == [0, 1]  # epoch 0 from the checkpoint, epoch 1 now


@pytest.mark.slow
@pytest.mark.parametrize("transform", ["rvt", "random"])
def test_resumed_run_ends_with_the_metrics_of_an_uninterrupted_one(tmp_path, data_dir, transform):
    """Kill after epoch 0, resume: losses, accuracies and the best epochs equal a run never killed (CPU,
    deterministic), also for the per-image random permutation, whose generator state is checkpointed."""
    (tmp_path / "killer.py").write_text(KILLER)
    args = tiny(data_dir) + ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "logger=none",
                             f"transform={transform}", "trainer.deterministic=true", "module.ricap_beta=0.3"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    p = run_cli(args + [f"hydra.run.dir={whole}"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_cli(args + [f"hydra.run.dir={killed}", "+callbacks.kill._target_=killer.KillAtEpoch",
                        "+callbacks.kill.epoch=1"], data_dir, tmp_path, extra_env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 3, p.stderr[-3000:]
    p = run_cli(args + [f"hydra.run.dir={killed}", "ckpt_path=last"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = (json.loads((d / "results.json").read_text()) for d in (whole, killed))
    assert b["resumed_from"] and not a["resumed_from"]
    for k in ("test_acc", "test_acc_last", "test_acc_best_epoch", "val_acc_best", "steps", "info_loss"):
        assert a[k] == b[k], k
    untimed = lambda h: [{k: v for k, v in e.items() if k != "train_seconds"} for e in h]  # noqa: E731
    assert untimed(a["history"]) == untimed(b["history"])  # every metric of every epoch; times differ


SPY = '''
import hashlib, json, os
import torch
from pytorch_lightning import Callback

def digest(t):
    return hashlib.sha1(t.numpy().tobytes()).hexdigest()

class RecordSamples(Callback):
    """Writes the training indices this rank's sampler gave it in epoch 0 and its random streams' states
    at the start of training to <dir>/rank<r>.json."""
    def __init__(self, out):
        self.out = out
    def on_train_start(self, trainer, pl_module):
        self.streams = {"torch": digest(torch.get_rng_state()),
                        "maps": digest(trainer.datamodule.transform.generator.get_state())}
        self.monitored = []
    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:  # what ModelCheckpoint compares on this rank
            self.monitored.append(float(trainer.callback_metrics["val/acc"]))
    def on_train_epoch_end(self, trainer, pl_module):
        sampler = trainer.train_dataloader.sampler
        sampler.set_epoch(0)
        seen = [int(i) for batch in sampler for i in batch]
        with open(os.path.join(self.out, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump({"world": trainer.world_size, "seen": seen, "streams": self.streams,
                       "monitored": self.monitored}, f)
'''


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, data_dir):
    """Two CPU processes: each rank trains on its own shard (disjoint samples that together cover the
    training set) with its own random streams (augmentation, RICAP, per-image maps), the step count
    follows from the data and the per-device batch (no batch limit), and an uneven test set (33 images on
    2 ranks) is counted once."""
    (tmp_path / "spy.py").write_text(SPY)
    run_dir = tmp_path / "run"
    p = run_cli(tiny(data_dir) + ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "transform=random",
                                  "dataset.test_subset=33", "module.ricap_beta=0.3",
                                  "trainer.limit_train_batches=1.0", f"hydra.run.dir={run_dir}", "logger=none",
                                  "+callbacks.spy._target_=spy.RecordSamples", f"+callbacks.spy.out={tmp_path}"],
                data_dir, tmp_path, extra_env={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((run_dir / "results.json").read_text())
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    a, b = (set(r["seen"]) for r in ranks)
    assert len(a) == len(ranks[0]["seen"]) == 32 and len(b) == 32 and not a & b  # disjoint shards
    assert a | b == set(range(64))  # 64 training images, every one seen once per epoch
    # 64 images over 2 ranks in per-device batches of 16 (a global batch of 32): 2 steps
    assert res["world_size"] == 2 and res["steps"] == 2 and res["n_test"] == 33
    assert ranks[0]["streams"]["torch"] != ranks[1]["streams"]["torch"]  # crops, flips, RICAP differ per rank
    assert ranks[0]["streams"]["maps"] != ranks[1]["streams"]["maps"]  # so do the per-image random maps
    # every rank selects the checkpoint on the same number: the validation accuracy of the whole split
    assert ranks[0]["monitored"] == ranks[1]["monitored"] and len(ranks[0]["monitored"]) == 1
    assert ranks[0]["monitored"][0] == pytest.approx(res["history"][0]["val_acc"])
    # the 33 test images counted once each, none padded: one process scores the last weights alike
    import eval as eval_script

    alone = eval_script.evaluate(run_dir / "checkpoints" / "last.ckpt", str(data_dir), test_subset=33)
    assert res["test_acc_last"] == pytest.approx(alone["acc_encrypted"], abs=1e-6)
    assert res["history"][0]["test_acc"] is not None


@pytest.mark.slow
def test_ddp_reaches_the_accuracy_of_one_process(tmp_path, data_dir):
    """Two CPU processes with per-device batches of 32 learn what one process learns with batches of 64 (the
    same global batch, learning rate and steps). Their random streams differ (crops, shards), so their
    accuracies differ by chance: measured here with seeds 0-3 on 2000 test images, one process 90.55 / 90.00 /
    89.90 / 91.35 %, two processes 90.25 / 90.55 / 91.75 / 91.70 % (s.d. about 0.7 points each, binomial s.e.
    0.66 a run), so a difference has s.d. about 1.0 point and 3 points (3 s.d.) is the tolerance. What falls
    outside it: a DDP run that does not learn, diverges, or counts its steps or test images wrongly."""
    budget = ["trainer.max_epochs=3", "trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0",
              "trainer.limit_test_batches=1.0", "dataset.train_subset=8000", "dataset.val_size=1000",
              "dataset.test_subset=2000", "data.eval_batch_size=500", "model=mlp", "model.hidden=[256]",
              "optimizer.lr=3e-3", "transform=permutation", "logger=none", "info_loss.enabled=false",
              "test_every_epoch=false", "seed=0"]
    one, two = tmp_path / "one", tmp_path / "two"
    p = run_cli(tiny(data_dir) + budget + ["data.batch_size=64", f"hydra.run.dir={one}"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_cli(tiny(data_dir) + budget + ["data.batch_size=32", "trainer=ddp", "trainer.accelerator=cpu",
                                           "trainer.devices=2", f"hydra.run.dir={two}"], data_dir, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = (json.loads((d / "results.json").read_text()) for d in (one, two))
    assert a["steps"] == b["steps"] == 3 * (8000 // 64) and b["world_size"] == 2 and b["n_test"] == 2000
    assert a["test_acc"] >= 0.87 and b["test_acc"] >= 0.87, (a["test_acc"], b["test_acc"])
    assert abs(a["test_acc"] - b["test_acc"]) <= 0.03, (a["test_acc"], b["test_acc"])


@pytest.mark.slow
def test_user_errors_are_one_line(tmp_path, data_dir):
    base = tiny(data_dir) + [f"hydra.run.dir={tmp_path / 'r'}"]
    p = run_cli(base + [f"paths.data_dir={tmp_path / 'nothing'}"], data_dir, tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-3000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: dataset mnist not found in") and "unpack.sh" in last
    p = run_cli(base + ["transform.mode=spiral"], data_dir, tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "unknown RVT mode 'spiral'" in p.stderr.strip().splitlines()[-1]
    p = run_cli(base + ["dataset=imagenet"], data_dir, tmp_path)  # the command line itself: one line too
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "Traceback" not in p.stderr and "HYDRA_FULL_ERROR" not in p.stderr
    assert last.startswith("error: In 'train': Could not find 'dataset/imagenet'") and "mnist" in last
    p = run_cli(base + ["no_such_setting=1"], data_dir, tmp_path)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("error: Could not override 'no_such_setting'")
    p = run_cli(base + ["ckpt_path=last"], data_dir, tmp_path)
    assert p.returncode == 2 and "hydra.run.dir=" in p.stderr.strip().splitlines()[-1]


