"""The LightningDataModule: train / validation / test splits as uint8 tensors in memory, whole batches
on the device, encryption and augmentation there (:class:`~rvt.training.pipeline.BatchPipeline` in
``on_after_batch_transfer``, i.e. after the batch reached the GPU)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from rvt.errors import RVTError
from rvt.training.datasets import DATASETS, read_split
from rvt.training.pipeline import BatchPipeline
from rvt.training.sampler import IndexBatchSampler, TensorBatches

log = logging.getLogger(__name__)

#: an image's id is its index in its source file; test-file ids start here (val ids are train-file indices)
TEST_IDS = 1 << 24


def test_ids(n: int) -> torch.Tensor:
    """The ids of the first n test images: what fixes their maps under a per-image transform (eval.py)."""
    return TEST_IDS + torch.arange(int(n))


class ImageDataModule(pl.LightningDataModule):
    """Train / validation / test splits of one dataset as uint8 tensors; batches encrypted and augmented
    on the device in :meth:`on_after_batch_transfer`.

    ``test_every_epoch`` adds the test set as a second validation loader (the authors' protocol: the
    test accuracy of every epoch is recorded and the best one reported).
    """

    def __init__(self, dataset: str = "mnist", data_dir: str = "data", download: bool = True,
                 val_size: int = 5000, train_subset: int | None = None, test_subset: int | None = None,
                 split_seed: int = 0, seed: int = 0, batch_size: int = 128, eval_batch_size: int = 512,
                 num_workers: int = 0, img_size: int | None = None, test_every_epoch: bool = False,
                 transform: nn.Module | None = None, resident: bool | str = "auto", read_test: bool = True,
                 **pipeline):
        """``pipeline``: BatchPipeline's settings (mean, std, augment, padding, flip, color_jitter), its
        defaults where not given (one place)."""
        super().__init__()
        if dataset not in DATASETS:
            raise RVTError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
        self.name = dataset
        info = DATASETS[dataset]
        self.channels, self.size, self.num_classes = info.channels, info.size, info.num_classes
        self.data_dir = Path(data_dir)
        self.download = download
        self.val_size, self.train_subset, self.test_subset = int(val_size), train_subset, test_subset
        self.split_seed, self.seed = int(split_seed), int(seed)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.num_workers = int(num_workers)
        self.test_every_epoch = bool(test_every_epoch)
        self.img_size = int(img_size) if img_size else self.size
        self.pipeline = BatchPipeline(transform, self.img_size, **pipeline)
        self.splits: dict[str, TensorBatches] = {}
        self._streams_split_for: set = set()
        # the uint8 splits on the training GPU ("auto": when training on one): batches are gathered there,
        # with no per-batch host work or host-to-device copy (MNIST is 47 MB, CIFAR-10 150 MB)
        self.resident = resident
        self._resident_on = None
        # read_test=False: the test file is never opened (predict.py's probes select and predict on train/val)
        self.read_test = bool(read_test)

    @property
    def transform(self):
        return self.pipeline.transform

    # -- data ----------------------------------------------------------------------------------
    def prepare_data(self):
        # rank 0 only: fetch what is missing (a no-op when the files are there)
        read_split(self.name, self.data_dir, train=not self.read_test, download=self.download)

    def setup(self, stage: str | None = None):
        if self.trainer is not None and stage not in self._streams_split_for:
            self._streams_split_for.add(stage)
            self._per_rank_streams()
        if self.splits:
            return
        x, y = read_split(self.name, self.data_dir, train=True, download=self.download)
        if not 0 < self.val_size < len(y):
            raise RVTError(f"dataset.val_size must be in [1, {len(y)}), got {self.val_size}")
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = order[: self.val_size], order[self.val_size:]
        if self.train_subset:
            train_idx = train_idx[: int(self.train_subset)]
        self.split_indices = {"train": train_idx, "val": val_idx}
        self.splits = {
            "train": TensorBatches(x[train_idx].contiguous(), y[train_idx].contiguous(), train_idx.clone()),
            "val": TensorBatches(x[val_idx].contiguous(), y[val_idx].contiguous(), val_idx.clone()),
        }
        if self.read_test:
            tx, ty = read_split(self.name, self.data_dir, train=False, download=self.download)
            if self.test_subset:
                tx, ty = tx[: int(self.test_subset)], ty[: int(self.test_subset)]
            self.splits["test"] = TensorBatches(tx.contiguous(), ty.contiguous(), test_ids(len(ty)))
        log.info("%s: %s images (%dx%dx%d uint8, fed at %d)", self.name,
                 ", ".join(f"{len(v)} {k}" for k, v in self.splits.items()), self.channels, self.size, self.size,
                 self.img_size)

    def _per_rank_streams(self) -> None:
        """DDP: give every rank its own random streams. ``seed_everything`` seeds all ranks alike, so the
        crops, flips, jitter, RICAP mosaics (torch's global generator) and per-image random maps (the
        transform's generator) would repeat on every rank; each stream is re-seeded with a value drawn
        from it (the same on every rank: deterministic) plus the rank. One process: nothing changes."""
        rank, world = self._rank()
        if world <= 1:
            return
        torch.manual_seed(int(torch.randint(0, 2**62, (1,))) + rank)  # also seeds every CUDA device
        generator = getattr(self.transform, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)) + rank)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _keep_on_device(self) -> None:
        trainer = self.trainer
        device = getattr(getattr(trainer, "strategy", None), "root_device", None)
        wanted = self.resident is True or (self.resident == "auto" and device is not None and device.type == "cuda")
        if not wanted or device is None or self._resident_on == device:
            return
        for ds in self.splits.values():
            ds.to(device)
        self._resident_on = device

    def _loader(self, split: str, train: bool) -> torch.utils.data.DataLoader:
        self._keep_on_device()
        ds = self.splits[split]
        rank, world = self._rank()
        bs = self.batch_size if train else self.eval_batch_size
        if train:
            bs = max(1, min(bs, len(ds) // world))
        sampler = IndexBatchSampler(len(ds), bs, shuffle=train, drop_last=train, seed=self.seed,
                                    rank=rank, world_size=world, device=self._resident_on)
        workers = 0 if self._resident_on is not None else self.num_workers  # workers cannot share GPU tensors
        return torch.utils.data.DataLoader(ds, sampler=sampler, batch_size=None, num_workers=workers,
                                           pin_memory=torch.cuda.is_available() and self._resident_on is None,
                                           persistent_workers=workers > 0)

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
        self._per_rank_streams()  # rank 0's saved state is restored on every rank: split it again

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """(uint8 x, y, ids) -> (network input, y, ids): encrypted (evaluation: each image's fixed map
        under a per-image transform, named by its id), augmented in training, normalised."""
        x, y, ids = batch
        training = self.trainer is not None and self.trainer.training
        return self.pipeline(x, train=training, ids=ids), y, ids

    def test_images(self, n: int | None = None) -> torch.Tensor:
        """The first n plain test images, uint8 (N, C, H, W)."""
        self.setup()
        x = self.splits["test"].x
        return x if n is None else x[: int(n)]
