"""The information measure (rvt.information, docs/information.md): against a brute-force per-pair reference, the swap
theorem as properties over random images, sizes and pairs, conventions, errors, and real data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rvt
from rvt.errors import InputError, RVTError
from rvt.information import (information_content, information_loss, information_stats, loss_matrix,
                             retained_information, retained_pair_matrix, kernel_matrix)

F64 = torch.float64
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- brute-force reference

def m_ref(kernel: str, scale: float, d: float) -> float:
    if kernel == "exp":
        return math.exp(-(d - 1.0) / scale)
    if kernel == "gaussian":
        return math.exp(-((d - 1.0) ** 2) / (2 * scale * scale))
    return d ** (-scale)


def brute(x: np.ndarray, g, kernel="exp", scale=2.0, alpha=1.0) -> tuple[float, float]:
    """(Info, Info_g) of one (C, H, W) float image, literally from the sums over pairs of docs/information.md."""
    c, h, w = x.shape
    p = h * w
    pos = [divmod(i, w) for i in range(p)]
    dist = lambda a, b: math.hypot(pos[a][0] - pos[b][0], pos[a][1] - pos[b][1])  # noqa: E731
    outputs = {s: [o for o in range(p) if int(g[o]) == s] for s in range(p)}
    flat = x.reshape(c, p)
    info = alpha * flat.sum()
    kept = alpha * sum(flat[:, s].sum() for s in range(p) if outputs[s])
    for s, t in itertools.permutations(range(p), 2):
        v = float((flat[:, s] * flat[:, t]).sum())
        if v == 0.0:
            continue
        before = m_ref(kernel, scale, dist(s, t))
        after = max((m_ref(kernel, scale, dist(o, q)) for o in outputs[s] for q in outputs[t]), default=0.0)
        info += v * before
        kept += v * min(before, after)
    return float(info), float(kept)


def brute_fast_matrices(g: np.ndarray, h: int, w: int, kernel="exp", scale=2.0) -> np.ndarray:
    """R_g = min(K, M_g) with M_g from an explicit loop over sources (for images too big for `brute`)."""
    p = h * w
    rows, cols = np.divmod(np.arange(p), w)
    d = np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    np.fill_diagonal(d, 1.0)
    k = np.vectorize(lambda v: m_ref(kernel, scale, v))(d)
    np.fill_diagonal(k, 0.0)
    m = np.zeros((p, p))
    for s in range(p):
        for o in np.flatnonzero(g == s):
            np.maximum.at(m[s], g, k[o])  # best copy-to-copy kernel between s and every t
    r = np.minimum(k, m)
    np.fill_diagonal(r, 0.0)
    return r


# --------------------------------------------------------------------------- strategies

@st.composite
def image_and_size(draw, channels=(1, 3)):
    h = draw(st.integers(2, 8))
    w = draw(st.integers(2, 8))
    c = draw(st.sampled_from(channels))
    seed = draw(st.integers(0, 2**31 - 1))
    zero_frac = draw(st.sampled_from([0.0, 0.3, 0.7, 0.95]))
    rng = np.random.default_rng(seed)
    x = rng.random((1, c, h, w))
    x[rng.random((1, c, h, w)) < zero_frac] = 0.0
    return torch.from_numpy(x), h, w, rng


kernels = st.tuples(st.sampled_from(["exp", "gaussian", "power"]), st.floats(0.5, 4.0))


def transposition(p: int, a: int, b: int) -> torch.Tensor:
    g = torch.arange(p)
    g[a], g[b] = b, a
    return g


# --------------------------------------------------------------------------- the swap theorem
# The measure keeps min(before, after) per pair, so Info_g <= Info holds by construction for every map:
# these tests check the implementation against the definition on random swaps (the brute-force sums and
# the equality condition), not the paper's Theorem 3.1, which this definition makes true.

@PROPS
@given(image_and_size(), kernels, st.data())
def test_swap_never_increases_information_and_equality_iff_no_pair_moves_apart(case, kern, data):
    x, h, w, _ = case
    kernel, scale = kern
    p = h * w
    a = data.draw(st.integers(0, p - 1))
    b = data.draw(st.integers(0, p - 1).filter(lambda v: v != a))
    g = transposition(p, a, b)
    info = information_content(x, kernel, scale, dtype=F64)
    kept = retained_information(x, g, kernel, scale, dtype=F64)
    loss = information_loss(x, g, kernel, scale, dtype=F64)
    info_ref, kept_ref = brute(x[0].numpy(), g.numpy(), kernel, scale)  # the literal sums: this can fail
    assert info.item() == pytest.approx(info_ref, rel=1e-9) and kept.item() == pytest.approx(kept_ref, rel=1e-9, abs=1e-12)
    assert kept.item() <= info.item() * (1 + 1e-12)
    # pair (s, t) keeps min(m(d(s, t)), m(d(g^-1 s, g^-1 t))): it loses iff its pixels end up farther apart
    flat = x[0].reshape(-1, p)
    rows, cols = np.divmod(np.arange(p), w)
    sq = lambda s, t: (rows[s] - rows[t]) ** 2 + (cols[s] - cols[t]) ** 2  # noqa: E731
    ginv = g.numpy()  # a transposition is its own inverse
    moved_apart = any(
        float((flat[:, s] * flat[:, t]).sum()) > 0 and sq(ginv[s], ginv[t]) > sq(s, t)
        for s, t in itertools.permutations(range(p), 2))
    assert (loss.item() > 0) == moved_apart
    # the retained information is the total minus the loss: equal to it when no pair moves apart (a pair
    # that moves apart at a long distance may lose less than the total's last bit, so no strict '<')
    if not moved_apart:
        assert kept.item() == pytest.approx(info.item(), rel=1e-12)
    else:
        assert kept.item() <= info.item() and info.item() - kept.item() == pytest.approx(loss.item() * info.item(), rel=1e-6, abs=1e-12)


@PROPS
@given(image_and_size(), kernels, st.floats(0.0, 3.0))
def test_fast_matches_brute_force_for_permutations_and_lossy_maps(case, kern, alpha):
    x, h, w, rng = case
    kernel, scale = kern
    p = h * w
    for g in (torch.from_numpy(rng.permutation(p)),                     # a permutation
              torch.from_numpy(rng.integers(0, p, p)),                  # any map: copies and losses
              torch.from_numpy(np.where(rng.random(p) < 0.8, np.arange(p), rng.integers(0, p, p)))):
        info_ref, kept_ref = brute(x[0].numpy(), g.numpy(), kernel, scale, alpha)
        info = information_content(x, kernel, scale, alpha, dtype=F64).item()
        kept = retained_information(x, g, kernel, scale, alpha, dtype=F64).item()
        loss = information_loss(x, g, kernel, scale, alpha, dtype=F64).item()
        assert info == pytest.approx(info_ref, rel=1e-10, abs=1e-12)
        assert kept == pytest.approx(kept_ref, rel=1e-10, abs=1e-12)
        expected = 0.0 if info_ref == 0 else 1 - kept_ref / info_ref
        assert loss == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert 0.0 <= loss <= 1.0
        # float32 matmul agrees with float64
        assert information_loss(x, g, kernel, scale, alpha).item() == pytest.approx(loss, abs=1e-6)


@PROPS
@given(image_and_size(), kernels)
def test_any_map_loses_between_0_and_1_and_identity_loses_nothing(case, kern):
    x, h, w, rng = case
    kernel, scale = kern
    p = h * w
    maps = torch.stack([torch.from_numpy(rng.permutation(p)), torch.from_numpy(rng.integers(0, p, p)),
                        torch.arange(p)])
    xs = x.expand(3, -1, -1, -1)
    loss = information_loss(xs, maps, kernel, scale, dtype=F64)
    assert bool(((loss >= 0) & (loss <= 1)).all())
    assert loss[2].item() == 0.0
    assert information_loss(x, rvt.Identity(), kernel, scale).item() == 0.0
    assert information_loss(x, torch.arange(p), kernel, scale).item() == 0.0
    kept = retained_information(xs, maps, kernel, scale, dtype=F64)
    assert bool((kept <= information_content(xs, kernel, scale, dtype=F64) * (1 + 1e-12)).all())


def test_pair_matrix_for_permutation_is_conjugated_kernel():
    g = torch.from_numpy(np.random.default_rng(0).permutation(30))
    k = kernel_matrix(5, 6)
    ginv = torch.argsort(g)
    r = retained_pair_matrix(g, 5, 6)
    assert torch.allclose(r, torch.minimum(k, k[ginv][:, ginv]), rtol=0, atol=1e-15)
    d, lost = loss_matrix(g, 5, 6)
    assert not bool(lost.any()) and bool((d >= 0).all())


# --------------------------------------------------------------------------- conventions

def test_black_image_has_no_information_and_loss_rate_zero():
    x = torch.zeros(2, 3, 4, 5)
    g = torch.from_numpy(np.random.default_rng(1).permutation(20))
    assert information_content(x).tolist() == [0.0, 0.0]
    assert information_loss(x, g).tolist() == [0.0, 0.0]
    assert information_loss(x, rvt.RandomPermutation(0)).tolist() == [0.0, 0.0]


def test_uint8_equals_float_over_255():
    rng = np.random.default_rng(2)
    u8 = torch.from_numpy(rng.integers(0, 256, (4, 3, 6, 7), dtype=np.uint8))
    g = torch.from_numpy(rng.integers(0, 42, 42))
    for dtype in (torch.float32, F64):
        xf = u8.to(dtype) / 255
        assert torch.allclose(information_loss(u8, g, dtype=dtype), information_loss(xf, g, dtype=dtype),
                              rtol=0, atol=1e-12)
        assert torch.allclose(information_content(u8, dtype=dtype), information_content(xf, dtype=dtype),
                              rtol=1e-12)


def test_channels_sum_mean_gray():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((3, 3, 5, 5)))
    g = torch.from_numpy(rng.permutation(25))
    per_channel = torch.stack([information_loss(x[:, i:i + 1], g, dtype=F64) for i in range(3)], 1)
    assert torch.allclose(information_loss(x, g, dtype=F64, channels="mean"), per_channel.mean(1))
    gray = information_loss(x.mean(1, keepdim=True), g, dtype=F64)
    assert torch.allclose(information_loss(x, g, dtype=F64, channels="gray"), gray)
    info, lost = [], []
    for i in range(3):
        xi = x[:, i:i + 1]
        info.append(information_content(xi, dtype=F64))
        lost.append(info[-1] - retained_information(xi, g, dtype=F64))
    assert torch.allclose(information_loss(x, g, dtype=F64), sum(lost) / sum(info))


@pytest.mark.parametrize("dense", [False, True, "mixed"])
def test_per_image_maps_match_one_by_one(dense):
    rng = np.random.default_rng(4)
    n, c, h, w = 7, (3 if dense is True else 1), 6, 5
    x = torch.from_numpy(rng.random((n, c, h, w)))
    if dense is False:  # sparse images take the support-only path of per-image permutations
        x[x < 0.6] = 0
    if dense == "mixed":  # sparse and dense images, in no order: chunks of both paths
        sparse = x[::2]
        sparse[sparse < torch.from_numpy(0.1 + 0.8 * rng.random((4, 1, 1, 1)))] = 0
    perms = torch.stack([torch.from_numpy(rng.permutation(h * w)) for _ in range(n)])
    lossy = torch.from_numpy(rng.integers(0, h * w, (n, h * w)))
    for maps in (perms, lossy):
        one_by_one = torch.cat([information_loss(x[i:i + 1], maps[i], dtype=F64) for i in range(n)])
        for chunk in (None, 1, 3):
            batched = information_loss(x, maps, dtype=F64, chunk=chunk)
            assert torch.allclose(batched, one_by_one, rtol=1e-12, atol=1e-14)
        assert torch.allclose(information_loss(x, maps), one_by_one, atol=1e-6)


def test_random_permutation_transform_draws_one_map_per_image():
    x = torch.rand(5, 1, 6, 6)
    maps = rvt.RandomPermutation(9).sample_index(5, 6, 6)
    t = rvt.RandomPermutation(9)
    state = t.generator.get_state()
    assert torch.equal(information_loss(x, t, dtype=F64), information_loss(x, maps, dtype=F64))
    assert torch.equal(t.generator.get_state(), state)  # measuring does not disturb the transform
    # distinct maps per image: a batch of one image repeated does not lose the same everywhere
    same = x[:1].expand(5, -1, -1, -1)
    assert information_loss(same, rvt.RandomPermutation(9)).unique().numel() > 1


def test_fixed_map_is_cached_and_chunks_agree():
    from rvt.information import operators as info_mod

    info_mod.clear_cache()
    x = torch.rand(9, 2, 4, 4)
    g = torch.from_numpy(np.random.default_rng(5).integers(0, 16, 16))
    a = information_loss(x, g, chunk=2)
    assert len(info_mod._PAIR_CACHE) == 1
    b = information_loss(x, g.clone())
    assert len(info_mod._PAIR_CACHE) == 1  # same map bytes: the same cached matrix
    assert torch.allclose(a, b, rtol=0, atol=1e-6)  # float32 matmul: blocking may differ by chunk
    information_loss(x, g, scale=3.0)
    assert len(info_mod._PAIR_CACHE) == 2


# --------------------------------------------------------------------------- errors

def test_errors_are_clear():
    x = torch.rand(2, 1, 4, 4)
    g = torch.arange(16)
    with pytest.raises(RVTError, match="unknown kernel"):
        information_loss(x, g, kernel="cauchy")
    with pytest.raises(RVTError, match="unknown kernel"):
        information_content(x, kernel="Exp")
    with pytest.raises(RVTError, match="positive"):
        information_loss(x, g, scale=0)
    with pytest.raises(RVTError, match="alpha"):
        information_content(x, alpha=-1)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        information_content(torch.rand(4, 4))
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        information_loss(torch.rand(1, 4, 4), g)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        information_content(x * 2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        information_content(torch.full((1, 1, 2, 2), float("nan")))
    with pytest.raises(InputError, match="uint8"):
        information_content(torch.ones(1, 1, 2, 2, dtype=torch.int32))
    with pytest.raises(InputError, match="need 16"):
        information_loss(x, torch.arange(15))
    with pytest.raises(InputError, match="for 2 images"):
        information_loss(x, torch.arange(16).expand(3, 16))
    with pytest.raises(InputError, match=r"\[0, 16\)"):
        information_loss(x, torch.arange(1, 17))
    with pytest.raises(InputError, match="integers"):
        information_loss(x, torch.arange(16.0))
    with pytest.raises(InputError, match="shape"):
        information_loss(x, torch.zeros(1, 1, 16, dtype=torch.long))
    with pytest.raises(InputError, match="28x28"):
        information_loss(x, rvt.RVT("authors:mnist"))
    with pytest.raises(RVTError, match="channel mode"):
        information_loss(x, g, channels="max")


# --------------------------------------------------------------------------- real data

def test_real_rvt_authors_map_matches_reference_on_mnist(mnist_test):
    """The authors' MNIST key (lossy: 68 pixels lost, some copied twice) on real digits."""
    images = torch.from_numpy(mnist_test[0][:3])[:, None]
    t = rvt.RVT("authors:mnist")
    g = t.source_index.numpy()
    assert len(t.lost_positions()) > 0
    r = torch.from_numpy(brute_fast_matrices(g, 28, 28))
    assert torch.allclose(retained_pair_matrix(t.source_index, 28, 28), r, rtol=0, atol=1e-15)
    x = images.to(F64).reshape(3, 784) / 255
    survived = torch.from_numpy(np.bincount(g, minlength=784) > 0).to(F64)
    kept_ref = x @ survived + ((x @ r) * x).sum(1)
    assert torch.allclose(retained_information(images, t, dtype=F64), kept_ref, rtol=1e-12)
    assert torch.allclose(retained_information(images, t), kept_ref, rtol=1e-6)


def test_authors_keys_reproduce_spec_reference_figures(mnist_test, fashion_test, cifar_test):
    """docs/information.md's reference figures: lambda 2, first 1000 test images: about 0.43 / 0.59 / 0.25 under the authors' keys."""
    cases = ((mnist_test, "authors:mnist", 0.43), (fashion_test, "authors:fashion_mnist", 0.59),
             (cifar_test, "authors:cifar10", 0.25))
    for (data, _), key, expected in cases:
        x = torch.from_numpy(data[:1000])
        x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)
        loss = information_loss(x, rvt.RVT(key))
        assert loss.mean().item() == pytest.approx(expected, abs=0.01)
        if x.shape[1] == 3:  # the channel conventions agree to 0.01 for a map shared by the channels
            for channels in ("mean", "gray"):
                alt = information_loss(x, rvt.RVT(key), channels=channels)
                assert alt.mean().item() == pytest.approx(expected, abs=0.01)


def test_authors_key_loses_less_than_random_on_mnist(mnist_test):
    x = torch.from_numpy(mnist_test[0][:200])[:, None]
    authors = information_loss(x, rvt.RVT("authors:mnist"))
    bijective = information_loss(x, rvt.RVT("authors:mnist", mode="bijective"))
    random = information_loss(x, rvt.RandomPermutation(0))
    assert bool((authors < random).all())
    assert bijective.mean() < authors.mean() < random.mean()
    assert random.mean().item() == pytest.approx(0.84, abs=0.02)  # the reference figure of docs/information.md
    info32, rate32 = information_stats(x, rvt.RVT("authors:mnist"))
    info64, rate64 = information_stats(x, rvt.RVT("authors:mnist"), dtype=F64)
    assert torch.allclose(rate32, rate64, rtol=0, atol=1e-6)
    assert torch.allclose(info32, info64, rtol=1e-6)
