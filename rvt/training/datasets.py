"""The one dataset reader: MNIST, Fashion-MNIST and CIFAR-10 as uint8 tensors.

:func:`read_split` reads MNIST and Fashion-MNIST (torchvision's idx files) and CIFAR-10 (its batch
pickles, checked by shape and label counts rather than MD5: the local mirror's pickles lack
``filenames``) as uint8 (N, C, H, W) plus int64 labels. Training, the information measure, the security
study and the examples all read through it; nothing else opens these files. A download is tried only
when files are missing; when it fails, one :class:`~rvt.errors.RVTError` line says where to put them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rvt.errors import RVTError

log = logging.getLogger(__name__)

#: the one description of each dataset: conf/dataset/<name>.yaml (what training composes, too), and
#: $RVT_CONFIG_DIR/dataset/<name>.yaml for a user's own (conf/train.yaml adds that folder to Hydra's search
#: path); a name in conf/ wins, as in Hydra
CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"


def dataset_dirs() -> list[Path]:
    extra = os.environ.get("RVT_CONFIG_DIR")
    return [CONF] + ([Path(extra) / "dataset"] if extra else [])


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's facts, read from its conf/dataset yaml: what the library, the CLI, the studies and the
    report know of it. ``reader``: the file format (:data:`READERS`); ``authors_accuracy``: model ->
    their (origin, vor, random) best test accuracies; ``authors_info_loss``: their key's figure."""

    name: str
    channels: int
    size: int
    num_classes: int
    folder: str
    reader: str
    display: str
    order: int
    train_images: int
    test_images: int
    vit_patch: int
    authors_info_loss: float | None = None
    authors_accuracy: dict = field(default_factory=dict)


def _describe(path: Path) -> DatasetInfo:
    from omegaconf import OmegaConf

    c = OmegaConf.to_container(OmegaConf.load(path))
    authors = c.get("authors") or {}
    return DatasetInfo(c["name"], int(c["channels"]), int(c["size"]), int(c["num_classes"]), c["folder"], c["reader"],
                       c.get("display", c["name"]), int(c.get("order", 100)), int(c["train_images"]),
                       int(c["test_images"]), int(c.get("vit_patch") or 4), authors.get("info_loss"),
                       {m: tuple(v) for m, v in (authors.get("accuracy") or {}).items()})


def _read_descriptions() -> dict[str, DatasetInfo]:
    found: dict[str, DatasetInfo] = {}
    for folder in dataset_dirs():
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, _describe(path))
    return {d.name: d for d in sorted(found.values(), key=lambda d: (d.order, d.name))}


DATASETS: dict[str, DatasetInfo] = _read_descriptions()

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = ["test_batch"]


def _missing(name: str, root: Path, why: str) -> RVTError:
    folder = root / DATASETS[name].folder
    return RVTError(
        f"dataset {name} not found in {folder} and it could not be downloaded ({why}); put the files "
        f"there (`make data`, or `bash ../shared/datasets/unpack.sh {root}`), or point "
        f"paths.data_dir / RVT_DATA_DIR at a folder that has them")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1].strip() if text else type(e).__name__


def _read_torchvision(name: str, root: Path, train: bool, download: bool):
    """The idx-file datasets of torchvision whose class is named as their folder (MNIST, FashionMNIST, KMNIST)."""
    from torchvision import datasets

    cls = getattr(datasets, DATASETS[name].folder)
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as first:
        if not download:
            raise _missing(name, root, f"download disabled: {_first_line(first)}") from None
        log.info("%s not found in %s: trying to download it", name, root)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                ds = cls(str(root), train=train, download=True)
        except Exception as e:  # any network or file error ends in the one clear line
            raise _missing(name, root, _first_line(e)) from None
    return ds.data.unsqueeze(1).contiguous(), ds.targets.to(torch.int64)


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"] if "labels" in batch else batch.get("fine_labels"), dtype=np.int64)
    if data.shape != (10000, 3072) or labels.shape != (10000,):
        raise RVTError(f"{path}: expected 10000 x 3072 uint8 images and 10000 labels, "
                       f"got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar10(name: str, root: Path, train: bool, download: bool):
    folder = root / DATASETS[name].folder
    names = CIFAR_TRAIN if train else CIFAR_TEST
    if not all((folder / n).is_file() for n in names):
        if not download:
            raise _missing("cifar10", root, "download disabled")
        from torchvision.datasets import CIFAR10
        from torchvision.datasets.utils import download_and_extract_archive

        log.info("cifar10 not found in %s: trying to download it", root)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename,
                                             md5=CIFAR10.tgz_md5)
        except Exception as e:
            raise _missing("cifar10", root, _first_line(e)) from None
    parts = [_load_cifar_batch(folder / n) for n in names]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    counts = np.bincount(labels, minlength=10)
    expected = len(labels) // 10
    if labels.min() < 0 or labels.max() > 9 or not np.all(counts == expected):
        raise RVTError(f"{folder}: CIFAR-10 label counts {counts.tolist()} are not {expected} per class; "
                       "the batches are corrupt, unpack them again")
    return torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(labels)


def read_split(name: str, root: str | Path, train: bool, download: bool = True):
    """(images uint8 (N, C, H, W), labels int64 (N,)) of one split of a dataset."""
    if name not in DATASETS:
        raise RVTError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    root = Path(root)
    return READERS[DATASETS[name].reader](name, root, train, download)


#: file format -> reader(name, root, train, download); a dataset in a new format adds one here
READERS = {"torchvision": _read_torchvision, "cifar": _read_cifar10}

