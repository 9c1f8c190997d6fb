"""Shared fixtures. Real data comes from the local mirror (../shared/datasets), unpacked once per session,
and is read through the project's one dataset reader (rvt.training.datasets.read_split).

Without the data these tests are skipped, except where RVT_REQUIRE_DATA=1 (set by .ci/run): there a
missing mirror is a failure, so CI can never pass by skipping the tests that use real images."""

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


def missing(reason: str):
    """Skip, or fail where the data is required (RVT_REQUIRE_DATA=1)."""
    if os.environ.get("RVT_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (RVT_REQUIRE_DATA=1: the data is required here)")
    pytest.skip(reason)


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
        missing("no dataset mirror (../shared/datasets) and no RVT_DATA_DIR")
    dest = tmp_path_factory.mktemp("data")
    subprocess.run(["bash", str(unpack), str(dest)], check=True, capture_output=True)
    return dest


def _test_split(name: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Test images as numpy, channels last like torchvision's ``.data``: (N, H, W) grey, (N, H, W, 3) colour."""
    from rvt.training.datasets import read_split

    x, y = read_split(name, data_dir, train=False, download=False)
    x = x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)
    return np.ascontiguousarray(x.numpy()), y.numpy()


@pytest.fixture(scope="session")
def mnist_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8, N x 28 x 28) and labels."""
    return _test_split("mnist", data_dir)


@pytest.fixture(scope="session")
def fashion_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    return _test_split("fashion_mnist", data_dir)


@pytest.fixture(scope="session")
def cifar_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 test images (uint8, N x 32 x 32 x 3) and labels."""
    return _test_split("cifar10", data_dir)


def golden(name: str) -> dict:
    path = GOLDEN / f"{name}.npz"
    if not path.exists():
        missing(f"golden vectors not found at {path}")
    z = np.load(path)
    return {k: z[k] for k in z.files}
