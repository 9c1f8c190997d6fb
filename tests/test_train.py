"""The training pipeline end to end: config composition, every model x transform for a few steps (real
MNIST and synthetic 3-channel 32x32 data), results.json, eval.py, multirun, resume, DDP on CPU, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
from rvt.training import run as train_script  # the library, not the script
from rvt.errors import RVTError

CONF = ROOT / "conf"
GROUPS = ["dataset", "model", "transform", "trainer", "logger", "callbacks", "paths", "hydra", "experiment",
          "optimizer", "scheduler"]
MODELS_SMALL = ["resnet", "vit"]
TRANSFORMS = ["none", "rvt", "random", "permutation", "block"]
RESULT_FIELDS = ["dataset", "model", "transform", "transform_mode", "transform_key", "seed", "epochs", "test_acc",
                 "test_acc_last", "test_acc_best_epoch", "val_acc_best", "info_loss", "train_seconds",
                 "images_per_s", "git", "versions", "history", "status"]


def tiny(data_dir) -> list[str]:
    """A few steps on a few images: seconds per run on a CPU."""
    return ["trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1", "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "dataset.train_subset=64", "dataset.val_size=32",
            "dataset.test_subset=32", "data.batch_size=16", "data.eval_batch_size=32", "info_loss.n_images=8",
            "dataset.download=false", f"paths.data_dir={data_dir}"]


def make_cfg(overrides, run_dir=None):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides) + ([f"paths.run_dir={run_dir}"] if run_dir else []))
    return cfg


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


# --------------------------------------------------------------------------------- composition
def test_every_option_of_every_group_composes(tmp_path):
    import hydra

    assert set(options("transform")) == set(TRANSFORMS) | {"rvt_bijective", "blockwise"}
    assert {"default", "cpu", "gpu", "ddp", "debug"} <= set(options("trainer"))
    assert {"csv", "wandb", "none"} <= set(options("logger"))
    assert {"quick", "paper", "none"} <= set(options("experiment"))
    for group in GROUPS:
        for option in options(group):
            cfg = make_cfg([f"{group}={option}"], tmp_path)
            resolved = OmegaConf.to_container(cfg, resolve=True)
            assert resolved["dataset"]["name"] in ("mnist", "fashion_mnist", "cifar10")
            if group == "trainer":
                trainer = hydra.utils.instantiate(cfg.trainer, accelerator="cpu")
                assert trainer.max_epochs == cfg.trainer.max_epochs
            if group == "logger":
                for node in cfg.logger.values():
                    hydra.utils.instantiate(node)
    for dataset in options("dataset"):
        for transform in TRANSFORMS:
            cfg = make_cfg([f"dataset={dataset}", f"transform={transform}"], tmp_path)
            t = train_script.build_transform(cfg.transform)
            x = torch.zeros(2, cfg.dataset.channels, cfg.dataset.size, cfg.dataset.size, dtype=torch.uint8)
            assert t(x).shape == x.shape
    cfg = make_cfg(["dataset=cifar10"], tmp_path)
    assert cfg.transform.key == "authors:cifar10" and list(cfg.dataset.mean) == [0.485, 0.456, 0.406]


def test_default_is_quick_and_groups_keep_full_settings(tmp_path):
    quick = make_cfg([], tmp_path)
    assert quick.experiment_name == "quick" and quick.model.width == 0.25 and quick.dataset.train_subset is None
    assert quick.data.augment == "before" and quick.data.padding == 2 and not quick.data.flip  # digits: no flip
    assert quick.scheduler.interval == "step" and quick.optimizer._target_ == "torch.optim.SGD"
    vit = make_cfg(["model=vit"], tmp_path)  # conf/recipe/quick_mnist_vit.yaml on conf/recipe/quick_vit.yaml
    assert vit.model.kwargs.depth == 4 and vit.model.patch_size == 7 and vit.optimizer._target_ == "torch.optim.AdamW"
    # the Fashion-MNIST ViT's recipe trains without the crop (chosen on validation); its ResNet keeps it
    assert make_cfg(["dataset=fashion_mnist", "model=vit"], tmp_path).data.padding == 0
    assert make_cfg(["dataset=fashion_mnist"], tmp_path).data.padding == 2
    cifar = make_cfg(["dataset=cifar10"], tmp_path)
    assert cifar.data.flip and cifar.data.padding == 4 and cifar.trainer.max_epochs == 14
    paper = make_cfg(["experiment=paper", "model=vit"], tmp_path)  # the authors' SGD and augmentation
    assert paper.optimizer._target_ == "torch.optim.SGD" and paper.data.flip and list(paper.data.color_jitter) == [0.4, 0.4, 0.4, 0.2]
    full = make_cfg(["experiment=none"], tmp_path)
    assert full.model.width == 1.0 and full.dataset.train_subset is None and full.module.ricap_beta == 0.3
    assert full.seed == 3407 and full.optimizer.nesterov and full.optimizer.momentum == 0.9


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_paper_cells(tmp_path, dataset):
    for model in ("resnet", "vit_b16"):
        for transform in TRANSFORMS:
            cfg = make_cfg(["experiment=paper", f"dataset={dataset}", f"model={model}", f"transform={transform}"], tmp_path)
            train_script.check_config(cfg)
            r = OmegaConf.to_container(cfg, resolve=True)
            assert r["module"]["ricap_beta"] == 0.3 and r["seed"] == 3407 and r["test_every_epoch"]
            assert r["scheduler"]["_target_"] == "rvt.training.schedules.cosine"
            assert r["data"]["img_size"] == r["model"]["img_size"] in (28, 32, 224)
    cell = lambda **kw: OmegaConf.to_container(make_cfg(["experiment=paper"] + [f"{k}={v}" for k, v in kw.items()], tmp_path), resolve=True)
    if dataset == "cifar10":
        r = cell(dataset="cifar10", model="resnet", transform="rvt")
        assert (r["trainer"]["max_epochs"], r["data"]["batch_size"], r["model"]["img_size"]) == (100, 32, 224)
        r = cell(dataset="cifar10", model="vit_b16", transform="rvt")
        assert r["optimizer"]["lr"] == 0.005 and r["optimizer"]["weight_decay"] == 1e-3
    if dataset == "mnist":
        r = cell(dataset="mnist", model="resnet", transform="random")
        assert (r["trainer"]["max_epochs"], r["model"]["img_size"]) == (30, 28)
        r = cell(dataset="mnist", model="vit_b16", transform="rvt")
        assert r["optimizer"]["lr"] == 0.005 and r["optimizer"]["weight_decay"] == 2e-4
    if dataset == "fashion_mnist":
        r = cell(dataset="fashion_mnist", model="resnet", transform="none")
        assert (r["trainer"]["max_epochs"], r["data"]["batch_size"], r["model"]["img_size"]) == (50, 256, 32)
    # the paper's ViT column is ViT-B/16: model=vit takes its cell (tests/test_sweep.py checks the network)
    train_script.check_config(make_cfg(["experiment=paper", f"dataset={dataset}", "model=vit"], tmp_path))


# ---------------------------------------------------------------------------- a few steps each
def _check_results(res, run_dir, **expected):
    on_disk = json.loads((Path(run_dir) / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(on_disk)) and on_disk["dataset"] == res["dataset"]
    for field in RESULT_FIELDS:
        assert field in on_disk, field
    for k, v in expected.items():
        assert on_disk[k] == v, (k, on_disk[k], v)
    for k in ("test_acc", "test_acc_last", "test_acc_best_epoch", "val_acc_best"):
        assert 0.0 <= on_disk[k] <= 1.0
    assert on_disk["images_per_s"] > 0 and on_disk["train_seconds"] > 0
    from importlib import metadata

    assert on_disk["versions"]["torch"] == metadata.version("torch")
    assert torch.__version__.startswith(on_disk["versions"]["torch"].split("+")[0])
    return on_disk


@pytest.mark.parametrize("model", MODELS_SMALL)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_model_x_transform_on_mnist(tmp_path, data_dir, model, transform):
    cfg = make_cfg(tiny(data_dir) + [f"model={model}", f"transform={transform}", "logger=csv"], tmp_path)
    res = train_script.train(cfg)
    on_disk = _check_results(res, tmp_path, model=model, transform=transform, steps=2, epochs=1, n_train=64)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv").is_dir()
    if transform == "none":
        assert on_disk["info_loss"] == pytest.approx(0.0, abs=1e-6)
    else:
        assert 0.0 < on_disk["info_loss"] <= 1.0 and on_disk["info_loss_images"] == 8
    if transform == "rvt":
        assert on_disk["transform_key"] == "authors:mnist" and on_disk["transform_mode"] == "authors"


def test_results_record_the_tree_the_run_started_from(tmp_path, data_dir, monkeypatch):
    """A commit made while a run trains changes nothing of what it executes: results.json names the tree
    at the start (what collect.py sorts by) and the one at the end beside it."""
    states = iter([{"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": True}])
    monkeypatch.setattr(train_script, "git_state", lambda: next(states))
    res = train_script.train(make_cfg(tiny(data_dir) + ["logger=none", "info_loss.enabled=false"], tmp_path))
    assert res["git"] == {"commit": "a" * 40, "dirty": False, "at": "start"}
    assert res["git_end"] == {"commit": "b" * 40, "dirty": True}
    monkeypatch.setattr(train_script, "git_state", lambda: {"commit": "c" * 40, "dirty": False})
    res = train_script.train(make_cfg(tiny(data_dir) + ["logger=none", "info_loss.enabled=false"], tmp_path / "2"))
    assert res["git"]["commit"] == "c" * 40 and "git_end" not in res


def _synthetic(name, root, train, download=True):
    g = torch.Generator().manual_seed(0 if train else 1)
    n = 200 if train else 40
    y = torch.arange(n) % 10
    x = torch.randint(0, 64, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    x[:, y % 3] += (y * 19).to(torch.uint8).view(n, 1, 1, 1)  # a learnable colour cue per class
    return x, y


@pytest.mark.parametrize("model", MODELS_SMALL)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_model_x_transform_on_synthetic_rgb(tmp_path, monkeypatch, model, transform):
    import rvt.training.datamodule

    monkeypatch.setattr(rvt.training.datamodule, "read_split", _synthetic)
    cfg = make_cfg(tiny("/nonexistent") + ["dataset=cifar10", f"model={model}", f"transform={transform}",
                                           "logger=none", "module.ricap_beta=0.3"], tmp_path)
    res = train_script.train(cfg)
    _check_results(res, tmp_path, dataset="cifar10", model=model, transform=transform, steps=2, ricap_beta=0.3)


def test_vit_b16_at_224_few_steps(tmp_path, data_dir):
    cfg = make_cfg(tiny(data_dir) + ["model=vit_b16", "++model.kwargs.depth=1",
                                     "data.batch_size=4", "data.eval_batch_size=8", "dataset.val_size=8",
                                     "dataset.test_subset=8", "logger=none", "info_loss.enabled=false"], tmp_path)
    res = train_script.train(cfg)
    _check_results(res, tmp_path, model="vit_b16", img_size=224, steps=2)


def test_resnet_at_224_with_augment_before(tmp_path, data_dir):
    cfg = make_cfg(tiny(data_dir) + ["model.img_size=56", "data.augment=before", "logger=none",
                                     "data.batch_size=8"], tmp_path)
    res = train_script.train(cfg)
    _check_results(res, tmp_path, img_size=56, augment="before")


@pytest.mark.slow
def test_wandb_offline(tmp_path, data_dir, monkeypatch):
    """An offline run carries what a wandb user groups and filters by (flattened config, group per dataset x
    model, tags with the sweep) and logs info_loss before the first training step."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_cfg(tiny(data_dir) + ["logger=wandb", "sweep=unit-sweep"], tmp_path)
    assert cfg.logger.wandb.mode == "offline" and "rvt" in list(cfg.logger.wandb.tags)
    assert cfg.logger.wandb.group == "mnist-resnet"
    res = train_script.train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs and (tmp_path / "results.json").is_file() and (tmp_path / "csv").is_dir()
    assert res["sweep"] == "unit-sweep" and "sweep:unit-sweep" in res["tags"] and "augment-before" in res["tags"]
    log = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"sweep:unit-sweep" in log and b"mnist-resnet" in log
    assert b"dataset.name" in log and b"optimizer.lr" in log  # flattened: one column per setting
    # protobuf items: key (field 1) "info_loss" (9 bytes) is logged before any training step's loss
    assert log.find(b"\n\tinfo_loss") != -1 and log.find(b"train/loss") != -1
    assert log.find(b"\n\tinfo_loss") < log.find(b"train/loss")


def test_flat_config():
    from rvt.training.tracking import flat_config

    assert flat_config({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None, "f": {}}) == {
        "a.b": 1, "a.c.d": [1, 2], "e": None, "f": {}}


# ------------------------------------------------------------------------- the command line
def run_cli(args, data_dir, tmp_path, script="train.py", extra_env=None, timeout=600):
    env = dict(os.environ, RVT_DATA_DIR=str(data_dir), WANDB_MODE="offline", PYTHONWARNINGS="ignore")
    env.pop("HYDRA_FULL_ERROR", None)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


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
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (run_dir / "results.json").exists()
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


@pytest.mark.parametrize("override,message", [
    ("trainer.max_epochs=many", "trainer.max_epochs must be an integer, got 'many'"),
    ("data.batch_size=1.5", "data.batch_size must be an integer"),
    ("optimizer.lr=fast", "optimizer.lr must be a number"),
    ("seed=abc", "seed must be an integer"),
])
def test_non_numeric_settings_are_user_errors(override, message):
    with pytest.raises(RVTError, match=re.escape(message)):
        train_script.check_config(make_cfg([override]))
    train_script.check_config(make_cfg([]))  # the defaults pass


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
    p = run_cli(base + ["dataset=imagenet"], data_dir, tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr and "imagenet" in p.stderr
    p = run_cli(base + ["ckpt_path=last"], data_dir, tmp_path)
    assert p.returncode == 2 and "hydra.run.dir=" in p.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("overrides,message", [
    (["data.batch_size=0"], "data.batch_size must be a positive integer, got 0"),
    (["model.width=-1"], "model.width must be a positive number, got -1"),
    (["data.augment=sideways"], "data.augment must be one of after, before, none"),
    (["optimizer.lr=-0.1"], "optimizer.lr must be a positive number"),
    (["dataset.train_subset=0"], "dataset.train_subset must be a positive integer"),
    (["info_loss.channels=blue"], "info_loss.channels must be one of sum, mean, gray"),
    (["dataset=cifar10", "transform.key=authors:mnist"], "key authors:mnist:10 is for 28x28 images, but cifar10"),
    (["transform.key=authors:mnist:0"], "no active vortex"),
    (["progress=sometimes"], "progress must be one of auto, bar, lines, none"),
    (["model.stem_stride=3"], "model.stem_stride must be 1 or 2, got 3"),
    (["transform=blockwise", "transform.block=5"], "blockwise: block 5 must divide the image size, got 28x28"),
    (["transform=block", "transform.block=5"], "needs image sides divisible by 5, got 28x28"),
    (["module.channels_last=maybe"], "module.channels_last must be true or false"),
])
def test_bad_values_are_refused_before_any_model_is_built(tmp_path, monkeypatch, overrides, message):
    import rvt.training.models

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built for a bad configuration")

    monkeypatch.setattr(rvt.training.models, "build_model", no_model)
    cfg = make_cfg(tiny("/nonexistent") + overrides, tmp_path)
    with pytest.raises(RVTError, match=re.escape(message)):
        train_script.train(cfg)


@pytest.mark.parametrize("model", MODELS_SMALL)
def test_blockwise_trains_with_the_patch_as_block(tmp_path, data_dir, model):
    cfg = make_cfg(tiny(data_dir) + [f"model={model}", "transform=blockwise", "logger=none"], tmp_path)
    assert cfg.transform.block == (7 if model == "vit" else 4)  # the ViT's patch; 4 for a CNN
    res = train_script.train(cfg)
    on_disk = _check_results(res, tmp_path, model=model, transform="blockwise", steps=2, epochs=1, n_train=64)
    assert 0.0 < on_disk["info_loss"] <= 1.0 and on_disk["transform_map_sha1"]


def test_blockwise_with_channel_shuffle_on_rgb(tmp_path, monkeypatch):
    """Values moved between channels: no position map, so no information loss or map digest (null)."""
    import rvt.training.datamodule

    monkeypatch.setattr(rvt.training.datamodule, "read_split", _synthetic)
    cfg = make_cfg(tiny("/nonexistent") + ["dataset=cifar10", "model=vit", "transform=blockwise", "logger=none",
                                           "transform.negpos=true", "transform.channel_shuffle=true"], tmp_path)
    res = train_script.train(cfg)
    assert cfg.transform.block == 8 and res["info_loss"] is None and res["transform_map_sha1"] is None
    assert res["test_acc"] is not None


def test_paper_vit_cells_without_weights_get_the_from_scratch_recipe(tmp_path):
    for model in ("vit", "vit_b16"):
        cfg = make_cfg(["experiment=paper", "dataset=mnist", f"model={model}", "transform=rvt"], tmp_path)
        train_script.check_config(cfg)
        assert cfg.experiment_name == "paper-scratch" and "paper-scratch" in OmegaConf.to_container(cfg, resolve=True)["tags"]
        assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.scheduler.warmup_epochs == 5.0
        assert cfg.trainer.max_epochs == 30 and cfg.model.img_size == 224  # the authors' cell otherwise
        import hydra

        opt = hydra.utils.instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
        assert isinstance(opt, torch.optim.AdamW)
    cfg = make_cfg(["experiment=paper", "dataset=mnist", "model=vit_b16", "transform=rvt", "model.pretrained=true"],
                   tmp_path)
    train_script.check_config(cfg)  # with weights: the authors' fine-tuning settings
    assert cfg.experiment_name == "paper" and cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 0.005
    cfg = make_cfg(["experiment=paper", "dataset=mnist", "model=resnet", "transform=rvt"], tmp_path)
    train_script.check_config(cfg)
    assert cfg.experiment_name == "paper" and cfg.optimizer._target_ == "torch.optim.SGD"



class RecordDevice:
    """A callback (by its import path in a config) noting where the splits and the first batch live."""

    seen: dict = {}

    def __new__(cls):
        from pytorch_lightning import Callback

        class _Where(Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                cls.seen["splits"] = {k: str(v.x.device) for k, v in trainer.datamodule.splits.items()}
                cls.seen["batch"] = str(batch[0].device)

        return _Where()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_run_keeps_the_data_on_the_device(tmp_path, data_dir):
    """trainer=gpu: bf16 autocast, the uint8 splits resident on the GPU (batches gathered there)."""
    cfg = make_cfg([a for a in tiny(data_dir) if a != "trainer=cpu"]
                   + ["trainer=gpu", "logger=none", "+callbacks.where._target_=test_train.RecordDevice"], tmp_path)
    assert cfg.trainer.precision == "bf16-mixed" and cfg.data.resident == "auto"
    res = train_script.train(cfg)
    assert res["accelerator"] == "CUDAAccelerator"
    assert set(RecordDevice.seen["splits"].values()) == {"cuda:0"} and RecordDevice.seen["batch"] == "cuda:0"


def test_sampler_yields_device_slices_of_one_epoch_order():
    from rvt.training.sampler import IndexBatchSampler

    plain = IndexBatchSampler(100, 32, shuffle=True, drop_last=True, seed=3)
    resident = IndexBatchSampler(100, 32, shuffle=True, drop_last=True, seed=3, device="meta")
    batches = list(resident)
    assert len(batches) == 3 and all(b.device.type == "meta" and b.shape == (32,) for b in batches)
    assert [b.tolist() for b in plain] == [b.tolist() for b in IndexBatchSampler(100, 32, True, True, seed=3)]
