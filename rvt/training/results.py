"""results.json: one small record per run, written atomically into the run directory.

Fields (see docs/training.md): what ran (dataset, model, transform and its mode/key, seed, epochs),
what came out (test_acc with the checkpoint selected on validation, test_acc_last, test_acc_best_epoch
when the test set was evaluated every epoch, val_acc_best, info_loss of the test set under the run's
transform), how fast (train seconds, images/s) and with what (git commit, package versions).
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from rvt.io import atomic_write_text

PACKAGES = ("torch", "torchvision", "pytorch-lightning", "timm", "torchmetrics", "hydra-core", "omegaconf",
            "numpy", "wandb", "rvt")
ROOT = Path(__file__).resolve().parents[2]


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def git_state(root: str | Path = ROOT, paths: tuple[str, ...] = ()) -> dict:
    """Commit and whether the tree (or only ``paths`` in it) had changes; nulls outside a git checkout."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode:
            return {"commit": None, "dirty": None}
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", *paths)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _clean(value):
    """JSON-safe: NaN/inf -> null, tensors and numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_results(run_dir: str | Path, results: dict, name: str = "results.json") -> Path:
    path = Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(_clean(results), indent=2, sort_keys=False) + "\n")
    return path


def information_loss_of(images, transform, n: int | None = None, **kw) -> float:
    """Mean information-loss rate (docs/information.md) of the first ``n`` of ``images`` under ``transform``."""
    from rvt.information import information_loss

    x = images if n is None else images[: int(n)]
    return float(information_loss(x, transform, **kw).float().mean())
