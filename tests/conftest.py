"""Shared fixtures. Real data comes from the local mirror (../shared/datasets), unpacked once per session."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RVT_SHARED", ROOT.parent / "shared"))
GOLDEN = SHARED / "golden"


def _has_mnist(d: Path) -> bool:
    return (d / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A folder torchvision can read MNIST, Fashion-MNIST and CIFAR-10 from.

    RVT_DATA_DIR (set by the Makefile) when it holds the data, else the mirror unpacked into a temp dir.
    """
    env = os.environ.get("RVT_DATA_DIR")
    if env and _has_mnist(Path(env)):
        return Path(env)
    unpack = SHARED / "datasets" / "unpack.sh"
    if not unpack.exists():
        pytest.skip("no dataset mirror (../shared/datasets) and no RVT_DATA_DIR")
    dest = tmp_path_factory.mktemp("data")
    subprocess.run(["bash", str(unpack), str(dest)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def mnist_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8, N x 28 x 28) and labels, as torchvision returns them."""
    from torchvision.datasets import MNIST

    ds = MNIST(str(data_dir), train=False, download=False)
    return ds.data.numpy(), ds.targets.numpy()


@pytest.fixture(scope="session")
def fashion_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import FashionMNIST

    ds = FashionMNIST(str(data_dir), train=False, download=False)
    return ds.data.numpy(), ds.targets.numpy()


@pytest.fixture(scope="session")
def cifar_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 test images (uint8, N x 32 x 32 x 3) read straight from the batch pickle."""
    import pickle

    with open(data_dir / "cifar-10-batches-py" / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(data), np.asarray(batch["labels"])


def golden(name: str) -> dict:
    path = GOLDEN / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"golden vectors not found at {path}")
    z = np.load(path)
    return {k: z[k] for k in z.files}
