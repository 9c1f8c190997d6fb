"""What the experiment scripts share: the datasets, where results go, the machine and the git state.

The git state is the same record that every training run writes into its results.json
(:func:`rvt.training.results.git_state`).
"""

from __future__ import annotations

import csv
import datetime
from collections import defaultdict
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from rvt.machine import machine_line
from rvt.registry import labels_where, list_transforms, transform_spec
from rvt.training.datasets import DATASETS as DATASET_SPECS
from rvt.training.datasets import read_split
from rvt.training.results import git_state

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DATASETS = tuple(DATASET_SPECS)  # mnist, fashion_mnist, cifar10
PRETTY = {name: info.display for name, info in DATASET_SPECS.items()}
#: transform labels for which the augmentation order is moot: plain images, and a fresh map for every image
#: (cropping then permuting or permuting then cropping both give uniformly shuffled pixels). One run of
#: these stands for both orders in the report's authors column and in the frontier.
ORDER_FREE = labels_where(order_free=True)


def default_data_dir() -> Path:
    """RVT_DATA_DIR, else data/ at the repository root (what `make data` fills)."""
    return Path(os.environ.get("RVT_DATA_DIR", ROOT / "data"))


def datasets_present(data_dir: Path) -> bool:
    """Whether ``data_dir`` has the folder of every dataset (what :func:`load_images` reads)."""
    return all((Path(data_dir) / spec.folder).is_dir() for spec in DATASET_SPECS.values())


def load_images(name: str, data_dir: Path, train: bool, n: int | None = None) -> torch.Tensor:
    """The first n images of a split as uint8 (N, C, H, W), through the one dataset reader."""
    x, _ = read_split(name, data_dir, train=train, download=False)
    return (x if n is None else x[:n]).contiguous()


def machine() -> str:
    """One line: host, OS, CPU, cores and torch threads (and the GPU when one is visible): rvt.machine."""
    return machine_line()


def git_label(paths: tuple[str, ...] = ()) -> str:
    """Short HEAD, marked '(modified)' when the tree (or only ``paths``, if given) differs from it."""
    state = git_state(ROOT, paths)
    if state["commit"] is None:
        return "unknown"
    return state["commit"][:7] + (" (modified)" if state["dirty"] else "")


def command_line(script: str, argv: list[str] | None) -> str:
    """How the script was called: ``python experiments/<script>.py`` and its arguments, shell-quoted."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"experiments/{script}.py"] + [shlex.quote(a) for a in args])


def utc_now() -> str:
    """The date and time of a report: ``YYYY-MM-DD HH:MM UTC``."""
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"


def registered_transforms(dataset: str, seed: int = 0) -> list[tuple]:
    """(spec, instance) for every registered transform, in table order, as the studies use it on
    ``dataset``: :meth:`rvt.registry.TransformSpec.for_dataset` (RVT: the authors' key of the dataset;
    seeded transforms: ``seed``)."""
    return [(spec, spec.for_dataset(dataset, seed=seed)) for spec in map(transform_spec, list_transforms())]


def quick_accuracies(path: Path) -> list[tuple[dict, float]]:
    """(row, test accuracy in %) for every experiment=quick run of the report's runs.csv (``make table``)
    with its transform's default configuration (an empty variant: no strength-axis key, no parameter off
    its config; older files: no vortex count). Any model, the patchify ResNet (resnet-patch7) included.
    What the security study and the frontier quote as the accuracy a transform keeps; [] if absent."""
    if not Path(path).exists():
        return []
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("experiment") != "quick" or row.get("variant") or ("variant" not in row and row.get("vortices")):
                continue
            try:
                out.append((row, 100 * float(row["test_acc"])))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def quick_accuracy(path: Path) -> dict:
    """{(dataset, transform label): 'model (order) mean (n=...)'} from the report's runs.csv (``make table``):
    experiment=quick runs with the transform's default configuration (experiments.common.quick_accuracies),
    accuracy in %; {} if absent."""
    groups = defaultdict(list)
    for row, acc in quick_accuracies(path):
        order = row.get("augment") or "-"
        model = row.get("model", "?") + (f" ({order})" if order not in ("-", "") else "")
        groups[((row.get("dataset", ""), row.get("transform", "")), model)].append(acc)
    out = defaultdict(list)
    for (key, model), accs in sorted(groups.items()):
        out[key].append(f"{model} {np.mean(accs):.1f}% (n={len(accs)})")
    return {k: "; ".join(v) for k, v in out.items()}
