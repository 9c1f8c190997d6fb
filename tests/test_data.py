"""Data: readers, the batched on-device pipeline (checked against torchvision), sampling, the DataModule."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from rvt import RVT, Permutation, RandomPermutation
from rvt.training.augment import apply_jitter, crop_flip, jitter_factors
from rvt.training.datamodule import ImageDataModule
from rvt.training.datasets import read_split
from rvt.training.pipeline import BatchPipeline
from rvt.training.sampler import IndexBatchSampler
from rvt.errors import RVTError


# ------------------------------------------------------------------------------------ readers
def test_read_mnist_and_fashion(data_dir):
    x, y = read_split("mnist", data_dir, train=False, download=False)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert abs(x.float().mean().item() / 255 - 0.1325) < 0.003  # MNIST test mean
    x, y = read_split("fashion_mnist", data_dir, train=False, download=False)
    assert x.shape == (10000, 1, 28, 28) and sorted(y.unique().tolist()) == list(range(10))


def test_read_cifar10_without_md5(data_dir):
    x, y = read_split("cifar10", data_dir, train=False, download=False)
    assert x.shape == (10000, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [1000] * 10
    x, _ = read_split("cifar10", data_dir, train=True, download=False)
    means = x.float().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4914, 0.4822, 0.4465]), atol=1e-3)


def test_corrupt_cifar_batch_is_a_user_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": np.zeros((10000, 3072), np.uint8), "labels": [0] * 10000}, f)
    with pytest.raises(RVTError, match="label counts"):
        read_split("cifar10", tmp_path, train=False, download=False)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 10}, f)
    with pytest.raises(RVTError, match="10000 x 3072"):
        read_split("cifar10", tmp_path, train=False, download=False)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_data_says_where_to_put_it(tmp_path, name):
    with pytest.raises(RVTError) as e:
        read_split(name, tmp_path / "nothing", train=True, download=False)
    msg = str(e.value)
    assert "\n" not in msg and "unpack.sh" in msg and "make data" in msg and str(tmp_path / "nothing") in msg


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    import urllib.error

    from torchvision.datasets import MNIST

    def offline(self, *a, **k):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(RVTError, match="could not be downloaded .*Name or service not known.*unpack.sh"):
        read_split("mnist", tmp_path, train=False, download=True)


# ---------------------------------------------------------------------------- batched pipeline
def test_crop_flip_is_a_padded_crop_or_its_mirror():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 8, 8)
    out = crop_flip(x, padding=2, flip=True)
    padded = F.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(16):
        found = [(oy, ox, f) for oy in range(5) for ox in range(5) for f in (0, 1)
                 if torch.equal(out[i], (lambda c: c.flip(-1) if f else c)(padded[i, :, oy:oy + 8, ox:ox + 8]))]
        assert found, f"sample {i} is not a crop of its padded image"
        flips += all(f for *_, f in found)
    assert 0 < flips < 16  # both outcomes occur


def test_crop_offsets_cover_the_range():
    torch.manual_seed(1)
    x = torch.zeros(2000, 1, 4, 4)
    x[:, :, 0, 0] = 1  # find where the top-left pixel lands
    out = crop_flip(x, padding=4, flip=False)
    pos = out.view(2000, -1).argmax(1)
    seen = out.view(2000, -1).amax(1) > 0
    assert seen.float().mean() > 0.1  # sometimes cropped away, often kept
    assert len(pos[seen].unique()) == 16  # every landing position reachable


@pytest.mark.parametrize("channels", [1, 3])
def test_jitter_matches_torchvision_per_image(channels):
    torch.manual_seed(2)
    x = torch.rand(6, channels, 10, 10)
    f = jitter_factors(6, 0.4, 0.4, 0.4, 0.2)
    out = apply_jitter(x, **f)
    for i in range(6):
        ref = TF.adjust_brightness(x[i], float(f["brightness"][i]))
        ref = TF.adjust_contrast(ref, float(f["contrast"][i]))
        if channels == 3:
            ref = TF.adjust_saturation(ref, float(f["saturation"][i]))
            ref = TF.adjust_hue(ref, float(f["hue"][i]))
        assert (out[i] - ref).abs().max() < 1e-4, (i, (out[i] - ref).abs().max())


def test_eval_pipeline_is_encrypt_then_normalise():
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    t = RVT("authors:mnist")
    pipe = BatchPipeline(t, 28, mean=(0.5,), std=(0.5,))
    expected = (t(x).float() / 255 - 0.5) / 0.5
    assert torch.allclose(pipe(x, train=False), expected)
    # resize for the paper's 224 cells, after encryption
    big = BatchPipeline(t, 56)(x, train=False)
    ref = F.interpolate(t(x).float() / 255, size=(56, 56), mode="bilinear", align_corners=False)
    assert big.shape == (5, 1, 56, 56) and torch.allclose(big, (ref - 0.5) / 0.5, atol=1e-6)


def test_augment_order_after_vs_before():
    torch.manual_seed(3)
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    t = Permutation(seed=1)
    kw = dict(img_size=32, mean=(0.0,), std=(1.0,), padding=4, flip=True, color_jitter=None)
    torch.manual_seed(4)
    after = BatchPipeline(t, augment="after", **kw)(x, train=True)
    torch.manual_seed(4)
    manual_after = crop_flip(t(x).float() / 255, 4, True)
    assert torch.equal(after, manual_after)
    torch.manual_seed(4)
    before = BatchPipeline(t, augment="before", **kw)(x, train=True)
    torch.manual_seed(4)
    manual_before = t(crop_flip(x.float() / 255, 4, True))
    assert torch.equal(before, manual_before)
    assert not torch.equal(after, before)  # the order matters for a scrambling transform
    none = BatchPipeline(t, augment="none", **kw)(x, train=True)
    assert torch.equal(none, t(x).float() / 255)
    # without a crop or flip (the Fashion-MNIST ViT recipe) the two orders are one and the same batch
    bare = dict(kw, padding=0, flip=False)
    one, other = (BatchPipeline(t, augment=a, **bare)(x, train=True) for a in ("before", "after"))
    assert torch.equal(one, other) and torch.equal(one, none)


def test_pipeline_rejects_bad_settings():
    with pytest.raises(RVTError, match="augment"):
        BatchPipeline(None, augment="sometimes")
    with pytest.raises(RVTError, match="4 values"):
        BatchPipeline(None, color_jitter=[0.4])
    with pytest.raises(RVTError, match="uint8"):
        BatchPipeline(None)(torch.rand(1, 1, 4, 4))


def test_random_transform_differs_per_image_and_call():
    x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).repeat(4, 1, 1, 1)
    pipe = BatchPipeline(RandomPermutation(seed=0), 4, mean=(0,), std=(1,))
    a, b = pipe(x), pipe(x)
    assert not torch.equal(a[0], a[1]) and not torch.equal(a, b)
    assert torch.equal(a.view(4, -1).sort(1).values, x.float().view(4, -1).sort(1).values / 255)
    # training ignores ids: a fresh map per image and per call
    ids = torch.arange(4)
    assert not torch.equal(pipe(x, train=True, ids=ids), pipe(x, train=True, ids=ids))


def test_random_evaluation_maps_are_fixed_by_seed_and_image_id():
    """Evaluation: one map per image, the same at every call, whatever the batch split or the generator's
    state; another seed or another id gives another map."""
    t = RandomPermutation(seed=3)
    ids = torch.arange(100, 164)
    maps = t.image_index(ids, 28, 28)
    assert torch.equal(maps.sort(1).values, torch.arange(784).expand(64, 784))  # every row a permutation
    assert len({tuple(m.tolist()) for m in maps}) == 64  # distinct per image
    t(torch.zeros(5, 1, 28, 28, dtype=torch.uint8))  # training draws move the generator ...
    assert torch.equal(torch.cat([t.image_index(ids[:10], 28, 28), t.image_index(ids[10:], 28, 28)]), maps)  # ... not these
    assert not torch.equal(RandomPermutation(seed=4).image_index(ids, 28, 28), maps)
    # no visible structure: the mean displacement of a uniform permutation of 28x28 positions
    rows = torch.arange(784) // 28
    shift = (rows[maps] - rows).abs().float().mean()
    assert 8.5 < shift < 10.1, shift  # 28^2-1 / (3*28) = 9.32 for a uniform permutation
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    pipe = BatchPipeline(t, 28, mean=(0,), std=(1,))
    assert torch.equal(pipe(x, ids=ids), pipe(x, ids=ids))
    assert torch.equal(pipe(x, ids=ids)[7].flatten(), x[7].flatten()[maps[7]].float() / 255)


# ------------------------------------------------------------------------------------- sampling
def test_sampler_shards_for_ddp():
    n, bs = 103, 10
    shards = [list(IndexBatchSampler(n, bs, shuffle=True, drop_last=True, seed=5, rank=r, world_size=2))
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5  # 51 per rank -> 5 full batches each
    flat = [torch.cat(s) for s in shards]
    assert not set(flat[0].tolist()) & set(flat[1].tolist())
    evals = [torch.cat(list(IndexBatchSampler(n, bs, False, False, rank=r, world_size=2))) for r in range(2)]
    assert sorted(torch.cat(evals).tolist()) == list(range(n))


def test_sampler_reshuffles_per_epoch_and_is_seeded():
    s = IndexBatchSampler(50, 10, shuffle=True, drop_last=False, seed=1)
    e0 = torch.cat(list(s))
    s.set_epoch(1)
    e1 = torch.cat(list(s))
    assert sorted(e0.tolist()) == sorted(e1.tolist()) == list(range(50)) and not torch.equal(e0, e1)
    s2 = IndexBatchSampler(50, 10, shuffle=True, drop_last=False, seed=1)
    s2.set_epoch(1)
    assert torch.equal(torch.cat(list(s2)), e1) and len(s2) == 5


def test_datamodule_splits_and_batches(data_dir):
    dm = ImageDataModule("mnist", str(data_dir), download=False, val_size=500, train_subset=1000, test_subset=300,
                         batch_size=64, eval_batch_size=100, transform=RVT("authors:mnist"), test_every_epoch=True)
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [1000, 500, 300]
    assert not set(dm.split_indices["train"].tolist()) & set(dm.split_indices["val"].tolist())
    assert dm.splits["train"].x.dtype == torch.uint8
    x, y, ids = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.uint8 and y.shape == (64,)
    assert len(dm.train_dataloader()) == 1000 // 64
    assert [len(dl) for dl in dm.val_dataloader()] == [5, 3]
    assert set(ids.tolist()) <= set(dm.split_indices["train"].tolist())  # ids: indices in the training file
    out, _, _ = dm.on_after_batch_transfer((x, y, ids), 0)  # no trainer: the evaluation path
    assert out.dtype == torch.float32 and out.shape == (64, 1, 28, 28)
    # the same split for another training seed
    dm2 = ImageDataModule("mnist", str(data_dir), download=False, val_size=500, train_subset=1000, seed=9)
    dm2.setup()
    assert torch.equal(dm2.split_indices["val"], dm.split_indices["val"])
