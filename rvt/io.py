"""Reading and writing images and keys: .npy arrays (streamed) and PNG files, always atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from rvt.errors import InputError

IMAGE_SUFFIXES = (".png",)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it vanishes.

    Readers never see a half-written file and a failed run leaves nothing behind.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"output directory does not exist: {directory}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=directory)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def kind_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .npy or .png")


def open_images(path: str | Path) -> np.ndarray:
    """Open a .npy batch (memory-mapped, so large files stream) or one PNG as a batch of one.

    Returns uint8 shaped (N, H, W) or (N, H, W, C), channels last as torchvision's ``.data``.
    """
    path = Path(path)
    kind = kind_of(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if not path.is_file():
        raise InputError(f"input is not a file: {path}")
    if kind == "npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise InputError(f"{path}: not a readable .npy array ({e})") from None
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                if im.mode not in ("L", "RGB"):
                    im = im.convert("RGB" if "A" in im.mode or im.mode in ("P", "CMYK") else "L")
                arr = np.asarray(im)[None]
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"{path}: not a readable image ({e})") from None
    check_images(arr, str(path))
    return arr


def check_images(arr: np.ndarray, what: str) -> None:
    if arr.dtype != np.uint8:
        raise InputError(f"{what}: expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4):
        raise InputError(f"{what}: expected (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got shape {arr.shape}")
    if arr.ndim not in (3, 4):
        raise InputError(f"{what}: expected (N, H, W) or (N, H, W, C) uint8, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{what}: no images")


def write_image(path: str | Path, arr: np.ndarray) -> None:
    """Write one (H, W) or (H, W, C) uint8 image as PNG, atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(arr.squeeze(-1) if arr.ndim == 3 and arr.shape[-1] == 1 else arr)).save(tmp, format="PNG")


def to_nchw(chunk: np.ndarray):
    """(N, H, W) or (N, H, W, C) uint8 array -> (N, C, H, W) torch tensor (a copy: memory-mapped inputs
    are read-only)."""
    import torch

    t = torch.from_numpy(np.array(chunk))
    return t[:, None] if t.dim() == 3 else t.permute(0, 3, 1, 2)


def from_nchw(t, like_ndim: int) -> np.ndarray:
    """Back to the layout of the input: (N, H, W) when it had no channel axis, else channels last."""
    return (t[:, 0] if like_ndim == 3 else t.permute(0, 2, 3, 1)).contiguous().numpy()
