"""Sweeps: experiment=paper gives the authors' per-cell settings for every dataset x model x transform, the
launcher presets compose (slurm is never submitted), the rvt_bijective option, and a local-launcher
multirun in which one of two jobs fails while the other still writes its results.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# The authors' per-cell settings (docs/training.md), transcribed: (dataset, model) -> {column: (epochs, batch, crop, lr, wd)}; columns origin/vor/random
SPEC6 = {
    ("cifar10", "resnet"): {"none": (100, 256, 32, 0.1, 1e-4), "rvt": (100, 32, 224, 0.1, 1e-4),
                            "random": (100, 256, 224, 0.1, 1e-4)},
    ("cifar10", "vit"): {"none": (70, 128, 224, 0.005, 1e-4), "rvt": (70, 128, 224, 0.005, 1e-3),
                         "random": (70, 128, 224, 0.005, 1e-4)},
    ("mnist", "resnet"): {"none": (30, 256, 28, 0.1, 1e-4), "rvt": (30, 256, 224, 0.1, 1e-4),
                          "random": (30, 256, 28, 0.1, 1e-4)},
    ("mnist", "vit"): {"none": (30, 128, 224, 0.1, 1e-4), "rvt": (30, 128, 224, 0.005, 2e-4),
                       "random": (30, 128, 224, 0.1, 1e-4)},
    ("fashion_mnist", "resnet"): {"none": (50, 256, 32, 0.1, 1e-4), "rvt": (50, 256, 224, 0.1, 5e-4),
                                  "random": (50, 256, 224, 0.1, 1e-4)},
    ("fashion_mnist", "vit"): {"none": (50, 128, 224, 0.005, 2e-4), "rvt": (50, 128, 224, 0.005, 5e-4),
                               "random": (50, 128, 224, 0.005, 2e-4)},
}
# our transforms and the authors' column they take
COLUMN = {"none": "none", "rvt": "rvt", "rvt_bijective": "rvt", "random": "random", "permutation": "rvt",
          "block": "rvt"}


def make_cfg(overrides, hydra_cfg=False):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        # paths.run_dir is ${hydra:runtime.output_dir} otherwise, which compose() alone cannot resolve
        return compose("train", overrides=list(overrides) + ["paths.run_dir=/nonexistent/run"],
                       return_hydra_config=hydra_cfg)


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_paper_recipe_every_cell(dataset):
    from rvt.training import run as train_script

    for model in ("resnet", "vit_b16"):
        for transform, column in COLUMN.items():
            # the authors' settings for a ViT are for fine-tuning: with weights, experiment=paper_finetune
            # (without: paper-scratch, tested in test_train.py)
            weights = [] if model == "resnet" else ["model.pretrained=true"]
            experiment = "paper" if model == "resnet" else "paper_finetune"
            cfg = make_cfg([f"experiment={experiment}", f"dataset={dataset}", f"model={model}", f"transform={transform}",
                            *weights])
            train_script.check_config(cfg)
            r = OmegaConf.to_container(cfg, resolve=True)
            epochs, batch, crop, lr, wd = SPEC6[(dataset, "resnet" if model == "resnet" else "vit")][column]
            got = (r["trainer"]["max_epochs"], r["data"]["batch_size"], r["model"]["img_size"],
                   r["optimizer"]["lr"], r["optimizer"]["weight_decay"])
            assert got == pytest.approx((epochs, batch, crop, lr, wd)), (dataset, model, transform, got)
            assert r["data"]["img_size"] == crop and r["scheduler"]["interval"] == "epoch"
            assert r["module"]["ricap_beta"] == 0.3 and r["seed"] == 3407 and r["test_every_epoch"]
            assert r["optimizer"]["momentum"] == 0.9 and r["optimizer"]["nesterov"]
            assert r["experiment_name"] == "paper" and "recipe" not in r
            assert r["dataset"]["train_subset"] is None and r["data"]["augment"] == "after"
            if model == "resnet":
                assert r["model"].get("arch") is None and r["model"]["width"] == 1.0
                # paper_finetune reads paper's tables (conf/recipe/paper_finetune_*.yaml point at them)
                finetune = make_cfg(["experiment=paper_finetune", f"dataset={dataset}", f"model={model}",
                                     f"transform={transform}"])
                assert OmegaConf.to_container(finetune, resolve=True) == r
            else:  # the paper's ViT-B/16
                assert (r["model"]["arch"], r["model"]["patch_size"]) == ("vit_base_patch16_224", 16)
                assert r["model"]["name"] == model and r["model"]["kwargs"] == {}
            if transform == "rvt_bijective":
                assert r["transform"]["name"] == "rvt" and r["transform"]["mode"] == "bijective"


def test_paper_vit_builds_vit_b16_and_quick_vit_stays_small():
    import hydra

    cfg = make_cfg(["experiment=paper", "dataset=mnist", "model=vit_b16", "transform=rvt", "++model.kwargs.depth=1"])
    net = hydra.utils.instantiate(cfg.model)
    assert tuple(net.patch_embed.patch_size) == (16, 16) and tuple(net.patch_embed.img_size) == (224, 224)
    assert net.embed_dim == 768 and net.head.out_features == 10
    quick = make_cfg(["model=vit"])  # experiment=quick: the small ViT at 28 px with 7x7 patches (its recipe)
    net = hydra.utils.instantiate(quick.model)
    assert tuple(net.patch_embed.patch_size) == (7, 7) and tuple(net.patch_embed.img_size) == (28, 28)
    assert net.embed_dim == 128


def test_rvt_bijective_option():
    from rvt.training import run as train_script

    cfg = make_cfg(["transform=rvt_bijective", "dataset=fashion_mnist", "transform.vortices=5"])
    assert (cfg.transform.name, cfg.transform.mode, cfg.transform.key) == ("rvt", "bijective", "authors:fashion_mnist")
    t = train_script.build_transform(cfg.transform)
    assert t.mode == "bijective"


def test_slurm_launcher_composes_without_submitting(tmp_path, monkeypatch):
    import hydra
    import submitit
    from hydra.plugins.launcher import Launcher
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    monkeypatch.setenv("SLURM_PARTITION", "gpu-test")
    cfg = make_cfg(["hydra/launcher=slurm", "hydra.sweep.dir=" + str(tmp_path)], hydra_cfg=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["partition"] == "gpu-test" and launcher["gpus_per_node"] == 1
    assert launcher["timeout_min"] > 0 and launcher["array_parallelism"] > 0 and launcher["mem_gb"]
    cls = hydra.utils.get_class(launcher.pop("_target_"))
    assert issubclass(cls, Launcher) and cls._EXECUTOR == "slurm"
    # the parameters are ones submitit's SLURM executor accepts, mapped as the launcher maps them, and the
    # sbatch script asks for one GPU on that partition (no srun here: pretend to be on a cluster)
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    folder = launcher.pop("submitit_folder")
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm",
                                     slurm_max_num_timeout=launcher.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in launcher.items()})
    text = executor._executor._make_submission_file_text("python -c pass", "uid")
    assert "#SBATCH --partition=gpu-test" in text and "#SBATCH --gpus-per-node=1" in text
    monkeypatch.delenv("SLURM_PARTITION")
    monkeypatch.delenv("RVT_SLURM_PARTITION", raising=False)
    cfg = make_cfg(["hydra/launcher=slurm"], hydra_cfg=True)
    assert OmegaConf.to_container(cfg.hydra.launcher, resolve=True)["partition"] is None


def test_local_launcher_composes(monkeypatch):
    monkeypatch.delenv("RVT_LOCAL_GPUS", raising=False)
    monkeypatch.setenv("RVT_LOCAL_JOBS", "2")
    cfg = make_cfg(["hydra/launcher=local"], hydra_cfg=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"] == "hydra_plugins.rvt_launchers.LocalLauncher"
    assert launcher["gpus_per_node"] == 0 and launcher["array_parallelism"] == 2


TINY = ["trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1", "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "dataset.train_subset=64", "dataset.val_size=32",
        "dataset.test_subset=32", "data.batch_size=16", "data.eval_batch_size=32", "info_loss.n_images=8",
        "dataset.download=false", "logger=none"]


@pytest.mark.slow
def test_local_launcher_one_failed_job_keeps_the_other(tmp_path, data_dir):
    """Job 0 fails (a bad RVT mode: train.py exits 2), job 1 runs after it and writes its results.json;
    the multirun lists the failure and exits non-zero only at the end."""
    sweep = tmp_path / "sweep"
    env = dict(os.environ, RVT_DATA_DIR=str(data_dir), WANDB_MODE="disabled", PYTHONWARNINGS="ignore",
               RVT_LOCAL_JOBS="1")
    p = subprocess.run([sys.executable, "train.py", "-m", "hydra/launcher=local", f"hydra.sweep.dir={sweep}",
                        "transform=rvt", "transform.mode=spiral,authors"] + TINY,
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    assert "1 of 2 jobs failed" in out and "unknown RVT mode 'spiral'" in out, out[-3000:]
    results = sorted(sweep.glob("*/results.json"))
    assert [r.parent.name for r in results] == ["1-mnist-resnet-rvt-before-s3407"], out[-3000:]
    res = json.loads(results[0].read_text())
    assert res["status"] == "finished" and res["transform_mode"] == "authors" and 0 <= res["test_acc"] <= 1
    assert not (sweep / "0-mnist-resnet-rvt-before-s3407" / "results.json").exists()
    assert list((sweep / ".submitit").glob("*/*_log.err"))  # every job's log is kept


@pytest.mark.slow
def test_gpu_check_small_mode_on_cpu(tmp_path, data_dir):
    """The prepared GPU check runs end to end on the CPU (--small) and records every step."""
    import json
    import subprocess
    import sys

    out = tmp_path / "gpu"
    p = subprocess.run([sys.executable, "experiments/gpu_check.py", "--small", "--device", "cpu", "--out", str(out),
                        "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    assert set(steps) == {"cuda-tests", "bench", "train none", "train rvt", "train random"}
    assert all(s["status"] == "ok" for s in steps.values()) and summary["device"] == "cpu"
    assert steps["cuda-tests"]["tests"] >= 5  # collected (and skipped without CUDA)
    bench = json.loads((out / "bench.json").read_text())
    assert bench["transforms"] and bench["machine"]["commit"]
    for t in ("none", "rvt", "random"):
        assert 0 <= steps[f"train {t}"]["test_acc"] <= 1 and steps[f"train {t}"]["epoch_seconds"][0] > 0
    assert "| train rvt | ok |" in (out / "summary.md").read_text()
