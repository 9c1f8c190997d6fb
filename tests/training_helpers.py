"""What the training tests share: a few-step recipe (``tiny``), config composition (``make_cfg``) and the
command line in a subprocess (``run_cli``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


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



def run_cli(args, data_dir, tmp_path, script="train.py", extra_env=None, timeout=600):
    env = dict(os.environ, RVT_DATA_DIR=str(data_dir), WANDB_MODE="offline", PYTHONWARNINGS="ignore")
    env.pop("HYDRA_FULL_ERROR", None)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)

