"""The training pipeline end to end: config composition, every model x transform for a few steps (real
MNIST and synthetic 3-channel 32x32 data), results.json, bad values (the command line: test_train_cli.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from pytorch_lightning import Callback

from training_helpers import make_cfg, options, tiny
from rvt.training import run as train_script  # the library, not the script
from rvt.errors import RVTError

GROUPS = ["dataset", "model", "transform", "trainer", "logger", "callbacks", "paths", "hydra", "experiment",
          "optimizer", "scheduler"]
MODELS_SMALL = ["resnet", "vit"]
TRANSFORMS = ["none", "rvt", "random", "permutation", "block"]
RESULT_FIELDS = ["dataset", "model", "transform", "transform_mode", "transform_key", "seed", "epochs", "test_acc",
                 "test_acc_last", "test_acc_best_epoch", "val_acc_best", "info_loss", "train_seconds",
                 "images_per_s", "git", "versions", "history", "status"]


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
    vit = make_cfg(["model=vit"], tmp_path)  # conf/recipe/model/quick_vit.yaml, then conf/recipe/quick_mnist_vit.yaml
    assert vit.model.kwargs.depth == 4 and vit.model.patch_size == 7 and vit.optimizer._target_ == "torch.optim.AdamW"
    # the Fashion-MNIST ViT's recipe trains without the crop (chosen on validation); its ResNet keeps it
    assert make_cfg(["dataset=fashion_mnist", "model=vit"], tmp_path).data.padding == 0
    assert make_cfg(["dataset=fashion_mnist"], tmp_path).data.padding == 2
    cifar = make_cfg(["dataset=cifar10"], tmp_path)
    assert cifar.data.flip and cifar.data.padding == 4 and cifar.trainer.max_epochs == 14
    paper = make_cfg(["experiment=paper", "model=resnet"], tmp_path)  # the authors' SGD and augmentation
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
    def cell(experiment="paper", **kw):
        return OmegaConf.to_container(make_cfg([f"experiment={experiment}"] + [f"{k}={v}" for k, v in kw.items()],
                                               tmp_path), resolve=True)

    if dataset == "cifar10":
        r = cell(dataset="cifar10", model="resnet", transform="rvt")
        assert (r["trainer"]["max_epochs"], r["data"]["batch_size"], r["model"]["img_size"]) == (100, 32, 224)
        r = cell("paper_finetune", dataset="cifar10", model="vit_b16", transform="rvt", **{"model.pretrained": "true"})
        assert r["optimizer"]["lr"] == 0.005 and r["optimizer"]["weight_decay"] == 1e-3
    if dataset == "mnist":
        r = cell(dataset="mnist", model="resnet", transform="random")
        assert (r["trainer"]["max_epochs"], r["model"]["img_size"]) == (30, 28)
        r = cell("paper_finetune", dataset="mnist", model="vit_b16", transform="rvt", **{"model.pretrained": "true"})
        assert r["optimizer"]["lr"] == 0.005 and r["optimizer"]["weight_decay"] == 2e-4
    if dataset == "fashion_mnist":
        r = cell(dataset="fashion_mnist", model="resnet", transform="none")
        assert (r["trainer"]["max_epochs"], r["data"]["batch_size"], r["model"]["img_size"]) == (50, 256, 32)
    # the paper's ViT column is ViT-B/16, model=vit_b16: the small ViT of model=vit is not one of its networks
    with pytest.raises(RVTError, match=r"model=vit transform=rvt \(the paper's ViT is model=vit_b16\)"):
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


class ReadRecordWhileTraining(Callback):
    """Reads results.json at the first training step: the record written when fitting started."""

    def __init__(self, run_dir):
        self.run_dir, self.seen = Path(run_dir), None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen = self.seen or json.loads((self.run_dir / "results.json").read_text())


def test_the_record_is_written_when_fitting_starts_and_when_the_run_ends(tmp_path, data_dir, monkeypatch):
    """results.json says ``running`` with the cell's identity while the run trains, ``finished`` with its
    outcome after; a reader of the record (rvt.training.record) counts only the finished one."""
    from rvt.training import run as run_module
    from rvt.training.record import Cell, RunRecord, load_records

    spy = ReadRecordWhileTraining(tmp_path)
    real = run_module._instantiate_all
    monkeypatch.setattr(run_module, "_instantiate_all",
                        lambda group: real(group) + ([spy] if group and "model_checkpoint" in group else []))
    cfg = make_cfg(tiny(data_dir) + ["transform=rvt_bijective", "logger=none", "seed=5"], tmp_path)
    train_script.train(cfg)
    start = RunRecord.from_dict(spy.seen)
    assert start.status == "running" and start.test_acc is None and start.history is None
    assert not start.is_finished and start.git["at"] == "start" and start.n_train == 64
    expected = Cell("quick", "mnist", "resnet", "rvt-bijective", "before", "")
    assert start.cell() == expected
    end = RunRecord.load(tmp_path)
    assert end.is_finished and end.cell() == expected and end.started == start.started and end.seed == 5
    assert [p for p, _ in load_records(tmp_path)] == [tmp_path / "results.json"]
    (tmp_path / "results.json").write_text(json.dumps(spy.seen))  # a run killed after its start
    assert load_records(tmp_path) == [] and len(load_records(tmp_path, finished_only=False)) == 1


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
    """An offline run carries what a wandb user groups and filters by (flattened config, the sweep as its
    group, dataset x model without one, tags with the sweep) and logs info_loss before the first training
    step."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_cfg(tiny(data_dir) + ["logger=wandb", "sweep=unit-sweep"], tmp_path)
    assert cfg.logger.wandb.mode == "offline" and "rvt" in list(cfg.logger.wandb.tags)
    assert cfg.logger.wandb.group == "unit-sweep"
    assert make_cfg(tiny(data_dir) + ["logger=wandb"], tmp_path).logger.wandb.group == "mnist-resnet"
    res = train_script.train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs and (tmp_path / "results.json").is_file() and (tmp_path / "csv").is_dir()
    assert res["sweep"] == "unit-sweep" and "sweep:unit-sweep" in res["tags"] and "augment-before" in res["tags"]
    log = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"sweep:unit-sweep" in log and b"mnist-resnet" in log  # the tag and the run's name
    assert b"dataset.name" in log and b"optimizer.lr" in log  # flattened: one column per setting
    # protobuf items: key (field 1) "info_loss" (9 bytes) is logged before any training step's loss
    assert log.find(b"\n\tinfo_loss") != -1 and log.find(b"train/loss") != -1
    assert log.find(b"\n\tinfo_loss") < log.find(b"train/loss")


def test_flat_config():
    from rvt.training.tracking import flat_config

    assert flat_config({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None, "f": {}}) == {
        "a.b": 1, "a.c.d": [1, 2], "e": None, "f": {}}


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


def test_the_validation_schemas_hold_no_defaults():
    """Every default lives in conf/ once: the dataclasses that check the settings only name their types
    and ranges (a default written there would be a second copy that silently disagrees)."""
    from dataclasses import fields

    from omegaconf import MISSING

    from rvt.training.config import SECTIONS

    for schema in SECTIONS.values():
        for f in fields(schema):
            assert f.default is MISSING, (schema.__name__, f.name, f.default)


def test_paper_vit_cells_without_weights_get_the_from_scratch_recipe(tmp_path):
    """experiment=paper: the ViT-B/16 cells train from scratch with their recipe file, which the composed
    config shows (no change after composition); experiment=paper_finetune: the authors' SGD on weights."""
    import hydra

    cfg = make_cfg(["experiment=paper", "dataset=mnist", "model=vit_b16", "transform=rvt"], tmp_path)
    composed = OmegaConf.to_container(cfg)
    train_script.check_config(cfg)
    assert OmegaConf.to_container(cfg) == composed  # --cfg job prints what runs
    assert cfg.experiment_name == "paper-scratch" and "paper-scratch" in OmegaConf.to_container(cfg, resolve=True)["tags"]
    assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.optimizer.lr == 5e-4
    assert cfg.scheduler.warmup_epochs == 5.0 and cfg.scheduler.interval == "step" and cfg.module.label_smoothing == 0.1
    assert cfg.trainer.max_epochs == 30 and cfg.model.img_size == 224  # the authors' cell otherwise
    opt = hydra.utils.instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.AdamW)
    with pytest.raises(RVTError, match="use experiment=paper_finetune"):
        train_script.check_config(make_cfg(["experiment=paper", "dataset=mnist", "model=vit_b16", "transform=rvt",
                                            "model.pretrained=true"], tmp_path))
    cfg = make_cfg(["experiment=paper_finetune", "dataset=mnist", "model=vit_b16", "transform=rvt",
                    "model.pretrained=true"], tmp_path)
    train_script.check_config(cfg)  # with weights: the authors' fine-tuning settings
    assert cfg.experiment_name == "paper" and cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 0.005
    assert cfg.module.label_smoothing == 0.0 and cfg.scheduler.interval == "epoch"
    with pytest.raises(RVTError, match="give model.pretrained=true"):
        train_script.check_config(make_cfg(["experiment=paper_finetune", "dataset=mnist", "model=vit_b16",
                                            "transform=rvt"], tmp_path))
    for experiment in ("paper", "paper_finetune"):
        cfg = make_cfg([f"experiment={experiment}", "dataset=mnist", "model=resnet", "transform=rvt"], tmp_path)
        train_script.check_config(cfg)
        assert cfg.experiment_name == "paper" and cfg.optimizer._target_ == "torch.optim.SGD"
        assert cfg.optimizer.nesterov and cfg.optimizer.momentum == 0.9 and cfg.optimizer.lr == 0.1


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
