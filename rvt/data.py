"""Data: uint8 tensors in memory, whole batches on the device, encryption and augmentation there.

- :func:`read_split` reads MNIST, Fashion-MNIST (torchvision) and CIFAR-10 (its batch pickles, checked
  by shape and label counts rather than MD5: the local mirror's pickles lack ``filenames``) as
  uint8 (N, C, H, W) plus int64 labels. A download is tried only when files are missing; when it fails,
  one :class:`~rvt.errors.RVTError` line says where to put the files.
- :class:`BatchPipeline` turns a uint8 batch into the network's input with batched tensor ops on
  whatever device the batch is on: encrypt (one gather) -> resize -> random crop with padding and
  horizontal flip (one gather) -> colour jitter (per-sample factors, batched) -> normalise. ``augment``
  says where augmentation sits relative to encryption: ``after`` (the authors' order), ``before``
  (augment the plain image, then encrypt) or ``none``.
- :class:`ImageDataModule` holds the splits (validation cut from train with a fixed seed), yields whole
  uint8 batches (one indexing op per batch, no per-image Python, no collate) and applies the pipeline in
  ``on_after_batch_transfer``, i.e. after the batch reached the GPU.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import pickle
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from rvt.errors import RVTError

log = logging.getLogger(__name__)

# name -> (channels, size, classes, torchvision folder)
DATASETS = {
    "mnist": (1, 28, 10, "MNIST"),
    "fashion_mnist": (1, 28, 10, "FashionMNIST"),
    "cifar10": (3, 32, 10, "cifar-10-batches-py"),
}
AUGMENT = ("after", "before", "none")
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = ["test_batch"]


# --------------------------------------------------------------------------------------- readers
def _missing(name: str, root: Path, why: str) -> RVTError:
    folder = root / DATASETS[name][3]
    return RVTError(
        f"dataset {name} not found in {folder} and it could not be downloaded ({why}); put the files "
        f"there (`make data`, or `bash ../shared/datasets/unpack.sh {root}`), or point "
        f"paths.data_dir / RVT_DATA_DIR at a folder that has them")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1].strip() if text else type(e).__name__


def _read_torchvision(name: str, root: Path, train: bool, download: bool):
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
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


def _read_cifar10(root: Path, train: bool, download: bool):
    folder = root / DATASETS["cifar10"][3]
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
    if name == "cifar10":
        return _read_cifar10(root, train, download)
    return _read_torchvision(name, root, train, download)


# ------------------------------------------------------------------------------- batch pipeline
GRAY = (0.299, 0.587, 0.114)  # the luma weights torchvision's rgb_to_grayscale uses


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (r * GRAY[0] + g * GRAY[1] + b * GRAY[2]).unsqueeze(1)


def _hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each RGB image of the batch by ``shift`` (N,) turns, exactly as torchvision's
    adjust_hue (RGB -> HSV -> RGB), fused: value and saturation are kept, so each output channel is
    v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h') mod 6, n = 5, 3, 1, and v s = max - min."""
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    delta = maxc - torch.minimum(torch.minimum(r, g), b)
    safe = delta + (delta == 0)  # grey pixels: any divisor (their delta is 0, so is their change)
    h6 = torch.where(maxc == r, (g - b) / safe, torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h6 = torch.remainder(h6 + 6 * shift.to(x.dtype).view(-1, 1, 1), 6.0)  # 6 x the new hue, in [0, 6)
    out = torch.empty_like(x)
    for c, n in enumerate((5.0, 3.0, 1.0)):
        k = h6 + n
        k = k - 6 * (k >= 6)
        out[:, c] = maxc - delta * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return out


def crop_flip(x: torch.Tensor, padding: int, flip: bool) -> torch.Tensor:
    """Per-sample random crop of the zero-padded batch (torchvision RandomCrop(padding=p), fill 0) and
    per-sample horizontal flip with probability 1/2, as ONE gather over the padded batch."""
    n, c, h, w = x.shape
    p = int(padding)
    if p == 0 and not flip:
        return x
    xp = F.pad(x, (p, p, p, p)) if p else x
    wp = w + 2 * p
    dev = x.device
    oy = torch.randint(0, 2 * p + 1, (n, 1), device=dev)
    ox = torch.randint(0, 2 * p + 1, (n, 1), device=dev)
    rows = oy + torch.arange(h, device=dev)
    cols = ox + torch.arange(w, device=dev)
    if flip:
        flipped = torch.rand(n, 1, device=dev) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return xp.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


def jitter_factors(n: int, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2, device=None) -> dict:
    """Per-sample factors as torchvision's ColorJitter draws them: U[1-a, 1+a] (clipped at 0), hue U[-h, h]."""
    def factor(amount):
        if not amount:
            return None
        return (1 - amount + 2 * amount * torch.rand(n, device=device)).clamp_min(0)

    return dict(brightness=factor(brightness), contrast=factor(contrast), saturation=factor(saturation),
                hue=(2 * torch.rand(n, device=device) - 1) * hue if hue else None)


def apply_jitter(x: torch.Tensor, brightness=None, contrast=None, saturation=None, hue=None) -> torch.Tensor:
    """Brightness, contrast, saturation, hue with per-sample factors (N,), in this fixed order, on a float
    batch in [0, 1]; the formulas of torchvision's adjust_* functions. Saturation and hue act on
    3-channel images only (torchvision leaves grayscale images unchanged by them too)."""
    n, c = x.shape[:2]

    def per_sample(f):
        return f.to(x.dtype).view(n, 1, 1, 1)

    if brightness is not None:
        x = (x * per_sample(brightness)).clamp(0, 1)
    if contrast is not None:
        f = per_sample(contrast)
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (f * x + (1 - f) * mean).clamp(0, 1)
    if c == 3 and saturation is not None:
        f = per_sample(saturation)
        x = (f * x + (1 - f) * _gray(x)).clamp(0, 1)
    if c == 3 and hue is not None:
        x = _hue_shift(x, hue)
    return x


def color_jitter(x: torch.Tensor, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2) -> torch.Tensor:
    """ColorJitter on a float batch in [0, 1], factors drawn per sample, applied in the fixed order
    brightness, contrast, saturation, hue (torchvision draws a random order per image); hue is an exact
    HSV hue rotation, batched."""
    f = jitter_factors(x.shape[0], brightness, contrast, saturation, hue, device=x.device)
    return apply_jitter(x, **f)


class BatchPipeline(nn.Module):
    """uint8 (N, C, H, W) -> encrypted, augmented, resized, normalised float batch, on x's device."""

    def __init__(self, transform: nn.Module | None = None, img_size: int | None = None,
                 mean=(0.5,), std=(0.5,), augment: str = "after", padding: int = 4, flip: bool = True,
                 color_jitter: tuple | list | None = (0.4, 0.4, 0.4, 0.2)):
        super().__init__()
        if augment not in AUGMENT:
            raise RVTError(f"data.augment must be one of {', '.join(AUGMENT)}, got {augment!r}")
        self.transform = transform
        self.img_size = int(img_size) if img_size else None
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        self.padding = int(padding)
        self.flip = bool(flip)
        self.jitter = tuple(float(v) for v in color_jitter) if color_jitter else None
        if self.jitter is not None and len(self.jitter) != 4:
            raise RVTError(f"data.color_jitter takes 4 values (brightness, contrast, saturation, hue), "
                           f"got {list(color_jitter)}")

    def encrypt(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.transform is None else self.transform(x)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        if self.img_size is None or tuple(x.shape[-2:]) == (self.img_size, self.img_size):
            return x
        down = self.img_size < x.shape[-1]
        return F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False,
                             antialias=down)

    def _needs_resize(self, x: torch.Tensor) -> bool:
        return self.img_size is not None and tuple(x.shape[-2:]) != (self.img_size, self.img_size)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        if self.jitter is not None and any(self.jitter):
            x = color_jitter(x, *self.jitter)
        return x

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Crop + flip, then colour jitter, on a float batch in [0, 1]."""
        return self._jitter(crop_flip(x, self.padding, self.flip))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        mean, std = self.mean, self.std
        if len(mean) == 1 and c > 1:
            mean, std = mean * c, std * c
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return x.sub_(m).div_(s) if not x.requires_grad else (x - m) / s

    @torch.no_grad()
    def forward(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise RVTError(f"the batch pipeline takes uint8 images, got {x.dtype}")
        if train and self.augment == "before":
            # augment the plain image at its native size, then encrypt and resize
            x = crop_flip(x, self.padding, self.flip).float().div_(255)
            x = self.resize(self.encrypt(self._jitter(x)))
        else:
            x = self.encrypt(x)
            augment = train and self.augment == "after"
            resize = self._needs_resize(x)
            if augment and not resize:
                x = crop_flip(x, self.padding, self.flip)  # gathers move uint8: 4x fewer bytes than float
            x = self.resize(x.float().div_(255))
            if augment:
                x = self._jitter(crop_flip(x, self.padding, self.flip) if resize else x)
        return self.normalise(x)


# ------------------------------------------------------------------------------------- loading
class TensorBatches(torch.utils.data.Dataset):
    """Indexable by a whole batch of indices: ``ds[idx] -> (x[idx], y[idx])``, one op per batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        if isinstance(idx, torch.Tensor):  # index_select: ~10x faster than advanced indexing on uint8
            return self.x.index_select(0, idx), self.y.index_select(0, idx)
        return self.x[idx], self.y[idx]


class IndexBatchSampler(torch.utils.data.Sampler):
    """Yields index tensors, one per batch; shuffled by (seed, epoch) and sharded by rank for DDP.

    Training shards have equal numbers of batches on every rank (DDP needs it); evaluation shards
    cover every index exactly once (torchmetrics syncs the counts).
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.shuffle, self.drop_last = n, int(batch_size), shuffle, drop_last
        self.seed, self.rank, self.world_size, self.epoch = int(seed), rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: (self.n // self.world_size) * self.world_size]
            order = order[self.rank::self.world_size]
        return order

    def __iter__(self):
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                break
            yield batch

    def __len__(self):
        m = len(self._order())
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)


class ImageDataModule(pl.LightningDataModule):
    """Train / validation / test splits of one dataset as uint8 tensors; batches encrypted and augmented
    on the device in :meth:`on_after_batch_transfer`.

    ``test_every_epoch`` adds the test set as a second validation loader (the authors' protocol: the
    test accuracy of every epoch is recorded and the best one reported).
    """

    def __init__(self, dataset: str = "mnist", data_dir: str = "data", download: bool = True,
                 val_size: int = 5000, train_subset: int | None = None, test_subset: int | None = None,
                 split_seed: int = 0, seed: int = 0, batch_size: int = 128, eval_batch_size: int = 512,
                 num_workers: int = 0, img_size: int | None = None, mean=(0.5,), std=(0.5,),
                 augment: str = "after", padding: int = 4, flip: bool = True,
                 color_jitter=(0.4, 0.4, 0.4, 0.2), test_every_epoch: bool = False,
                 transform: nn.Module | None = None):
        super().__init__()
        if dataset not in DATASETS:
            raise RVTError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
        self.name = dataset
        self.channels, self.size, self.num_classes, _ = DATASETS[dataset]
        self.data_dir = Path(data_dir)
        self.download = download
        self.val_size, self.train_subset, self.test_subset = int(val_size), train_subset, test_subset
        self.split_seed, self.seed = int(split_seed), int(seed)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.num_workers = int(num_workers)
        self.test_every_epoch = bool(test_every_epoch)
        self.img_size = int(img_size) if img_size else self.size
        self.pipeline = BatchPipeline(transform, self.img_size, mean, std, augment, padding, flip, color_jitter)
        self.splits: dict[str, TensorBatches] = {}

    @property
    def transform(self):
        return self.pipeline.transform

    # -- data ----------------------------------------------------------------------------------
    def prepare_data(self):
        # rank 0 only: fetch what is missing (a no-op when the files are there)
        read_split(self.name, self.data_dir, train=False, download=self.download)

    def setup(self, stage: str | None = None):
        if self.splits:
            return
        x, y = read_split(self.name, self.data_dir, train=True, download=self.download)
        if not 0 < self.val_size < len(y):
            raise RVTError(f"dataset.val_size must be in [1, {len(y)}), got {self.val_size}")
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = order[: self.val_size], order[self.val_size:]
        if self.train_subset:
            train_idx = train_idx[: int(self.train_subset)]
        tx, ty = read_split(self.name, self.data_dir, train=False, download=self.download)
        if self.test_subset:
            tx, ty = tx[: int(self.test_subset)], ty[: int(self.test_subset)]
        self.split_indices = {"train": train_idx, "val": val_idx}
        self.splits = {
            "train": TensorBatches(x[train_idx].contiguous(), y[train_idx].contiguous()),
            "val": TensorBatches(x[val_idx].contiguous(), y[val_idx].contiguous()),
            "test": TensorBatches(tx.contiguous(), ty.contiguous()),
        }
        log.info("%s: %d train, %d val, %d test images (%dx%dx%d uint8, fed at %d)", self.name,
                 len(self.splits["train"]), len(self.splits["val"]), len(self.splits["test"]),
                 self.channels, self.size, self.size, self.img_size)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, split: str, train: bool) -> torch.utils.data.DataLoader:
        ds = self.splits[split]
        rank, world = self._rank()
        bs = self.batch_size if train else self.eval_batch_size
        if train:
            bs = max(1, min(bs, len(ds) // world))
        sampler = IndexBatchSampler(len(ds), bs, shuffle=train, drop_last=train, seed=self.seed,
                                    rank=rank, world_size=world)
        return torch.utils.data.DataLoader(ds, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                                           pin_memory=torch.cuda.is_available(),
                                           persistent_workers=self.num_workers > 0)

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        loaders = [self._loader("val", False)]
        if self.test_every_epoch:
            loaders.append(self._loader("test", False))
        return loaders

    def test_dataloader(self):
        return self._loader("test", False)

    # -- exact resume ---------------------------------------------------------------------------
    # Augmentation draws from the global torch generator and the per-image random permutation from its
    # own; Lightning checkpoints neither. Saving both with the DataModule makes a resumed run continue
    # with the same random numbers as an uninterrupted one (tests/test_train.py checks the metrics).
    def state_dict(self) -> dict:
        state = {"torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        generator = getattr(self.transform, "generator", None)
        if isinstance(generator, torch.Generator):
            state["transform_rng"] = generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available() and len(state["cuda_rng"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        generator = getattr(self.transform, "generator", None)
        if "transform_rng" in state and isinstance(generator, torch.Generator):
            generator.set_state(state["transform_rng"])

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        training = self.trainer is not None and self.trainer.training
        return self.pipeline(x, train=training), y

    def test_images(self, n: int | None = None) -> torch.Tensor:
        """The first n plain test images, uint8 (N, C, H, W)."""
        self.setup()
        x = self.splits["test"].x
        return x if n is None else x[: int(n)]
