"""What the network is trained, validated and tested on, through the real path train.py builds (config ->
DataModule -> Trainer -> LightningModule) on real MNIST: for every registered transform and both
augmentation orders, every batch that reaches the network is what that transform makes of the plain images
the batch names, computed here from the files and a transform built apart from the run's.

- validation and test: normalise(T(plain)) exactly (a per-image transform: each image's fixed map);
- training: one crop/flip of T(plain) (augmentation after encryption) or T of one crop/flip of the plain
  image (before), found among every offset and flip; the per-image random permutation: a distinct map per
  image and per call, applied to a crop of the plain image.

A DataModule that skipped encryption, encrypted one split only, swapped the two orders, fed the network
something else than the batch, or drew one random map for the whole batch fails here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from pytorch_lightning import Callback

from rvt.training import run as train_script  # the library, not the script
from rvt import create_transform, list_transforms
from rvt.training.datamodule import TEST_IDS
from rvt.training.datasets import read_split
from training_helpers import make_cfg, tiny

PADDING = 2  # MNIST's crop; flips are switched on here so that both kinds of augmentation are exercised
SEEN: list[dict] = []


class Spy(Callback):
    """Records every batch the LightningModule receives and the tensor its network is called with."""

    def on_fit_start(self, trainer, pl_module):
        self.net_inputs = []
        pl_module.net.register_forward_pre_hook(lambda _m, args: self.net_inputs.append(args[0].detach().clone()))

    def _record(self, stage, trainer, batch, loader=0):
        x, y, ids = batch
        entry = dict(stage=stage, loader=loader, x=x.detach().clone(), y=y.clone(), ids=ids.clone())
        maps = getattr(trainer.datamodule.transform, "last_index", None)
        if stage == "train" and maps is not None:
            entry["maps"] = maps.clone()  # the per-image maps drawn for this batch
        SEEN.append(entry)
        self.net_inputs.clear()

    def _check_net_input(self):
        assert self.net_inputs, "the network was not called on the batch"
        assert torch.equal(self.net_inputs[0].float(), SEEN[-1]["x"]), "the network saw another tensor than the batch"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._record("train", trainer, batch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._check_net_input()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._record("val" if dataloader_idx == 0 else "test", trainer, batch, dataloader_idx)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._check_net_input()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._record("test", trainer, batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._check_net_input()


@pytest.fixture(scope="module")
def mnist_files(data_dir):
    return {"train": read_split("mnist", data_dir, train=True, download=False),
            "test": read_split("mnist", data_dir, train=False, download=False)}


def plain_images(files, ids: torch.Tensor) -> torch.Tensor:
    """The plain images an id names: test-file ids start at TEST_IDS, the others index the training file."""
    test = ids >= TEST_IDS
    assert bool(test.all()) or not bool(test.any()), "a batch mixes the training and the test file"
    x, _ = files["test"] if bool(test.all()) else files["train"]
    return x[ids - TEST_IDS if bool(test.all()) else ids]


def crops_and_flips(x: torch.Tensor) -> torch.Tensor:
    """(K, N, C, H, W): every crop of the zero-padded batch, unflipped and mirrored (K = 2 (2p+1)^2)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (PADDING,) * 4)
    crops = [padded[..., i:i + h, j:j + w] for i in range(2 * PADDING + 1) for j in range(2 * PADDING + 1)]
    return torch.stack(crops + [c.flip(-1) for c in crops])


def matches_one(x: torch.Tensor, candidates: torch.Tensor, atol=1e-5) -> torch.Tensor:
    """(N,) whether each image of x equals one of its K candidates."""
    return ((candidates - x.unsqueeze(0)).abs().flatten(2).amax(2) <= atol).any(0)


def normalise(v: torch.Tensor, cfg) -> torch.Tensor:
    mean, std = float(cfg.dataset.mean[0]), float(cfg.dataset.std[0])
    return (v.float() / 255 - mean) / std


def cases():
    out = []
    for name in list_transforms():
        for order in ("after", "before"):
            out.append(pytest.param(name, order, [], id=f"{name}-{order}"))
    out.append(pytest.param("blockwise", "after", ["transform.negpos=true", "transform.block=7"], id="blockwise-negpos-after"))
    out.append(pytest.param("blockwise", "before", ["transform.negpos=true", "transform.block=7"], id="blockwise-negpos-before"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name,order,extra", cases())
def test_every_batch_is_the_transform_of_its_plain_images(tmp_path, data_dir, mnist_files, name, order, extra):
    SEEN.clear()
    cfg = make_cfg(tiny(data_dir) + [
        f"transform={name}", f"data.augment={order}", "dataset.augmentation.flip=true", "logger=none",
        "dataset.train_subset=32", "trainer.max_epochs=2", "info_loss.enabled=false", "test_every_epoch=true",
        "+callbacks.spy._target_=test_batches.Spy"] + extra, tmp_path)
    assert cfg.data.padding == PADDING
    train_script.train(cfg)
    params = {k: v for k, v in OmegaConf.to_container(cfg.transform, resolve=True).items() if k != "_target_"}
    reference = create_transform(**params)  # built apart from the run's instance

    stages = {e["stage"] for e in SEEN}
    assert stages == {"train", "val", "test"}, stages
    seen_maps: dict[int, list[torch.Tensor]] = {}
    for e in SEEN:
        plain = plain_images(mnist_files, e["ids"].cpu())
        labels = (mnist_files["test"] if e["ids"][0] >= TEST_IDS else mnist_files["train"])[1]
        assert torch.equal(e["y"].cpu(), labels[e["ids"].cpu() - (TEST_IDS if e["ids"][0] >= TEST_IDS else 0)])
        x = e["x"].cpu()
        if e["stage"] != "train":
            expected = reference.encrypt_images(plain, e["ids"]) if not reference.fixed else reference(plain)
            assert torch.allclose(x, normalise(expected, cfg), atol=1e-5), (e["stage"], name, order)
            continue
        assert (e["ids"] < TEST_IDS).all()
        if reference.fixed:
            candidates = (crops_and_flips(reference(plain)) if order == "after"
                          else torch.stack([reference(c) for c in crops_and_flips(plain)]))
            assert bool(matches_one(x, normalise(candidates, cfg)).all()), (name, order)
            if name != "none":  # encrypted: not a mere crop of the plain image
                assert not bool(matches_one(x, normalise(crops_and_flips(plain), cfg)).all())
        else:  # per-image random: the drawn maps, distinct per image, applied to the image (or its crop)
            maps = e["maps"].cpu()
            assert len({tuple(m.tolist()) for m in maps}) == len(maps), "one map shared by several images"
            for i, m in zip(e["ids"].tolist(), maps):
                seen_maps.setdefault(i, []).append(m)
            if order == "before":
                crops = crops_and_flips(plain)
                permuted = torch.gather(crops.flatten(3), 3,
                                        maps[None, :, None, :].expand(len(crops), -1, crops.shape[2], -1)).view_as(crops)
                assert bool(matches_one(x, normalise(permuted, cfg)).all())
            else:
                permuted = torch.gather(plain.flatten(2), 2, maps[:, None, :]).view_as(plain)
                assert bool(matches_one(x, normalise(crops_and_flips(permuted), cfg)).all())
    if not reference.fixed:  # every image seen in both epochs got a fresh map each time
        again = [ms for ms in seen_maps.values() if len(ms) > 1]
        assert again and all(not torch.equal(ms[0], ms[1]) for ms in again)
