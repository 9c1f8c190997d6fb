"""RVT and baselines: bit-exactness against the authors' outputs and the per-pixel oracle, exact
inverses, per-image randomness, and the tensor contract (dtype, shape, device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rvt
from rvt import RVT, BlockScramble, Identity, Permutation, RandomPermutation
from rvt.errors import InputError
from rvt.transforms.keys import authors_key_names
from rvt.transforms.base import invert_permutation, is_permutation
from rvt.transforms.reference import key_vortices, rvt_reference

from conftest import golden


def nchw(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t[:, None] if t.dim() == 3 else t.permute(0, 3, 1, 2)


def oracle(images: np.ndarray, key) -> np.ndarray:
    return np.stack([np.array(rvt_reference(im.tolist(), key_vortices(key), key.divisor, key.orientation),
                              dtype=np.uint8) for im in images])


# ---------------------------------------------------------------- authors mode is the authors' code

@pytest.mark.parametrize("name,key", [("mnist_v10", "authors:mnist"), ("cifar10_v2", "authors:cifar10")])
def test_golden_vectors_every_pixel(name, key):
    g = golden(name)
    out = RVT(key)(nchw(g["input"]))
    expected = nchw(g["output"])
    assert out.dtype == torch.uint8
    assert torch.equal(out, expected), f"{int((out != expected).sum())} pixels differ"
    # and the golden output is really encrypted (the test would catch an identity map)
    assert not torch.equal(nchw(g["input"]), expected)


def test_golden_default_vortex_counts_are_the_authors():
    assert len(RVT("authors:mnist").key.vortices) == 10
    assert len(RVT("authors:fashion_mnist").key.vortices) == 10
    assert len(RVT("authors:cifar10").key.vortices) == 2


@pytest.mark.parametrize("spec", [f"authors:{n}" for n in authors_key_names()] + ["authors:mnist:20"])
def test_fast_map_equals_per_pixel_oracle_on_real_mnist(spec, mnist_test, cifar_test):
    key = rvt.load_key(spec)
    images = (cifar_test if key.image_size == (32, 32) else mnist_test)[0][:12]
    assert torch.equal(RVT(key)(nchw(images)), nchw(oracle(images, key)))


@pytest.mark.parametrize("seed", range(4))
def test_fast_map_equals_oracle_on_generated_keys(seed):
    rng = np.random.default_rng(seed)
    h, w = [(28, 28), (32, 32), (20, 31)][seed % 3]
    key = rvt.generate(h, w, 8, seed=seed)
    images = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    assert torch.equal(RVT(key)(nchw(images)), nchw(oracle(images, key)))


@pytest.mark.parametrize("spec,lost", [("authors:mnist", 68), ("authors:fashion_mnist", 127),
                                       ("authors:cifar10", 64)])
def test_authors_mode_loses_the_documented_pixels(spec, lost):
    t = RVT(spec)
    counts = torch.bincount(t.source_index, minlength=t.source_index.numel())
    assert len(t.lost_positions()) == lost
    # every lost pixel is matched by one extra copy of another
    assert int((counts[counts > 1] - 1).sum()) == lost
    assert not t.exact_inverse


def test_authors_inverse_recovers_every_pixel_that_survives(mnist_test):
    t = RVT("authors:mnist")
    x = nchw(mnist_test[0][:64])
    back = t.inverse(t(x)).flatten(-2)
    kept = torch.ones(784, dtype=torch.bool)
    kept[t.lost_positions()] = False
    assert torch.equal(back[..., kept], x.flatten(-2)[..., kept])


def test_authors_inverse_estimates_lost_pixels_from_their_neighbours(mnist_test):
    t = RVT("authors:mnist")
    x = nchw(mnist_test[0][:64])
    back = t.inverse(t(x)).flatten(-2).float()
    lost = t.lost_positions()
    h, w = 28, 28
    for s in lost[:10].tolist():
        r, c = divmod(s, w)
        nbrs = [(r + dr) * w + c + dc for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if (dr or dc) and 0 <= r + dr < h and 0 <= c + dc < w and (r + dr) * w + c + dc not in lost]
        expected = back[..., nbrs].mean(-1).round()
        assert torch.equal(back[..., s], expected)
    # closer to the plain pixels than leaving the cipher pixel in place
    naive = t(x).flatten(-2).float()[..., lost]
    plain = x.flatten(-2).float()[..., lost]
    assert (back[..., lost] - plain).abs().mean() < (naive - plain).abs().mean()


# ---------------------------------------------------------------- bijective mode

@pytest.mark.parametrize("spec", [f"authors:{n}" for n in authors_key_names()])
def test_bijective_is_a_permutation_and_inverts_exactly(spec, mnist_test, cifar_test):
    t = RVT(spec, mode="bijective")
    assert is_permutation(t.source_index) and t.exact_inverse
    images = (cifar_test if t.image_size == (32, 32) else mnist_test)[0][:100]
    x = nchw(images)
    y = t(x)
    assert not torch.equal(y, x)
    assert torch.equal(t.inverse(y), x)
    # positions move, values don't: every image keeps its histogram
    assert torch.equal(y.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)


@pytest.mark.parametrize("seed", range(20))
def test_bijective_generated_keys_are_permutations(seed):
    key = rvt.generate(28, 28, 20, seed=seed)
    assert is_permutation(RVT(key, mode="bijective").source_index)


@pytest.mark.parametrize("spec", ["authors:mnist", "authors:fashion_mnist", "authors:cifar10"])
def test_bijective_turns_the_same_way_as_authors(spec):
    """Output o takes a source near the authors' source for o (not the mirror-image rotation)."""
    a, b = RVT(spec).source_index, RVT(spec, mode="bijective").source_index
    w = RVT(spec).image_size[1]
    moved = a != torch.arange(a.numel())

    def dist(i, j):
        return ((i // w - j // w) ** 2 + (i % w - j % w) ** 2).double().sqrt()

    assert dist(a, b)[moved].mean() < 1.5
    assert dist(a, invert_permutation(b))[moved].mean() > 3.0


# ---------------------------------------------------------------- baselines

def test_random_permutation_differs_per_image_and_keeps_channels_together():
    x = torch.arange(3 * 64, dtype=torch.float32).view(1, 3, 8, 8).repeat(16, 1, 1, 1)
    y = RandomPermutation(seed=0)(x)
    flat = y.flatten(2)
    # all 16 copies of the same image are scrambled differently
    assert len({tuple(f[0].tolist()) for f in flat}) == 16
    # every output is a permutation of its input, the same one in every channel
    assert torch.equal(flat.sort(dim=2).values, x.flatten(2).sort(dim=2).values)
    assert torch.equal(flat[:, 1] - 64, flat[:, 0]) and torch.equal(flat[:, 2] - 128, flat[:, 0])


def test_random_permutation_seeded_and_fresh_per_call():
    x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(4, 1, 1, 1)
    a, b = RandomPermutation(seed=1), RandomPermutation(seed=1)
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, a(x))  # the next batch gets new maps
    with pytest.raises(InputError):
        a.inverse(first)


@pytest.mark.parametrize("make", [lambda: Permutation(3), lambda: BlockScramble(4, 3),
                                  lambda: BlockScramble(4, 3, rotate_flip=False), lambda: BlockScramble(7, 1)])
def test_keyed_baselines_invert_exactly(make, mnist_test):
    t = make()
    x = nchw(mnist_test[0][:50])
    y = t(x)
    assert is_permutation(t.index_for(28, 28))
    assert not torch.equal(y, x)
    assert torch.equal(t.inverse(y), x)
    assert torch.equal(make()(x), y)  # the key (seed) fixes the map


def test_block_scramble_moves_whole_blocks():
    t = BlockScramble(4, seed=0, rotate_flip=True)
    index = t.index_for(8, 12).view(8, 12)
    for bi in range(2):
        for bj in range(3):
            tile = index[4 * bi:4 * bi + 4, 4 * bj:4 * bj + 4]
            rows, cols = tile // 12, tile % 12
            # a tile's sources all come from one source tile
            assert len(set((rows // 4).flatten().tolist())) == 1
            assert len(set((cols // 4).flatten().tolist())) == 1
    with pytest.raises(InputError):
        t(torch.zeros(1, 1, 10, 12))


def test_block_scramble_rotate_flip_changes_tiles():
    plain = BlockScramble(4, seed=5, rotate_flip=False).index_for(16, 16)
    turned = BlockScramble(4, seed=5, rotate_flip=True).index_for(16, 16)
    assert not torch.equal(plain, turned)


def test_permutation_seeds_differ():
    assert not torch.equal(Permutation(0).index_for(28, 28), Permutation(1).index_for(28, 28))


# ---------------------------------------------------------------- the tensor contract

TRANSFORMS = [lambda: RVT("authors:mnist"), lambda: RVT("authors:mnist", mode="bijective"),
              lambda: Permutation(0), lambda: BlockScramble(4, 0), lambda: RandomPermutation(0), Identity]


@pytest.mark.parametrize("make", TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.int16])
def test_dtype_shape_and_single_image(make, dtype):
    x = (torch.rand(5, 2, 28, 28) * 255).to(dtype)
    y = make()(x)
    assert y.dtype == dtype and y.shape == x.shape and y.device == x.device
    single = make()(x[0])
    assert single.shape == x[0].shape
    if not isinstance(make(), RandomPermutation):
        assert torch.equal(single, make()(x)[0])


@pytest.mark.parametrize("make", TRANSFORMS[:4])
def test_float_and_uint8_move_the_same_pixels(make, mnist_test):
    x = nchw(mnist_test[0][:8])
    t = make()
    assert torch.equal(t(x.float() / 255), t(x).float() / 255)


def test_non_contiguous_input():
    x = torch.randint(0, 255, (4, 28, 28, 3), dtype=torch.uint8).permute(0, 3, 1, 2)
    t = RVT("authors:mnist")
    assert torch.equal(t(x), t(x.contiguous()))


def test_wrong_size_and_rank_are_clear_errors():
    t = RVT("authors:mnist")
    with pytest.raises(InputError, match="28x28"):
        t(torch.zeros(1, 1, 32, 32))
    with pytest.raises(InputError, match="expected images"):
        t(torch.zeros(28, 28))


def test_source_index_is_exposed_and_moves_with_the_module():
    t = RVT("authors:cifar10")
    assert t.source_index.shape == (1024,) and t.source_index.dtype == torch.long
    assert Permutation(0, size=(28, 28)).source_index.shape == (784,)
    with pytest.raises(AttributeError):
        RandomPermutation(0).source_index


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("make", TRANSFORMS[:4])
def test_cpu_equals_cuda(make, mnist_test):
    x = nchw(mnist_test[0][:256])
    t = make()
    gpu = t.to("cuda")(x.cuda())
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), make()(x))
    assert torch.equal(t.inverse(gpu).cpu(), make().inverse(make()(x)))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_random_permutation_same_maps_on_cuda():
    x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(4, 1, 1, 1)
    assert torch.equal(RandomPermutation(2)(x.cuda()).cpu(), RandomPermutation(2)(x))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["rvt", "blockwise", "permutation"])
def test_training_pipeline_cpu_equals_cuda(name, cifar_test):
    """The batch the network sees (encrypted, resized to 224, normalised) is the same on both devices."""
    from rvt.training.pipeline import BatchPipeline

    x = torch.from_numpy(cifar_test[0][:64]).permute(0, 3, 1, 2).contiguous()
    t = rvt.registry.transform_spec(name).for_dataset("cifar10")
    pipe = BatchPipeline(t, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), augment="none")
    cpu = pipe(x, train=True)
    gpu = pipe.to("cuda")(x.cuda(), train=True)
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-4)
