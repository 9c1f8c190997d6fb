r"""Image information and how much of it a position transform keeps (SPEC section 5).

**This is the project's reconstruction, not the paper's formula.** The paper (Cao et al. 2024,
arXiv 2411.16207) states only properties of its measure: a pixel-value term plus a neighbour term
given by a non-linear function of pixel distance over all pairs; a variation function for a
transformation; swapping two pixels never increases the total (its Theorem 3.1); the loss rate
correlates with accuracy loss. The definition below has all of these properties; its kernel is
pluggable.

Definitions
-----------
Pixels p, q on the H x W grid (P = H*W positions, row-major), values x_p in [0, 1] per channel
(uint8 input is divided by 255), Euclidean distance d(p, q) >= 1 for p != q. Kernels
(``scale`` = lambda > 0, all equal to 1 at d = 1 and strictly decreasing in d):

- ``exp``:      m(d) = exp(-(d - 1) / lambda)            (default, lambda = 2)
- ``gaussian``: m(d) = exp(-(d - 1)^2 / (2 lambda^2))
- ``power``:    m(d) = d^(-lambda)

Information content of one image, summed over its channels c::

    Info(x) = sum_c [ alpha * sum_p x_cp  +  sum_{p != q} x_cp x_cq m(d(p, q)) ]

so a black (x = 0) background carries nothing.

A position transform is a gather map g: output position o takes source pixel g(o); it may be a
permutation or any map (the authors' rounded RVT copies some sources twice and loses others).
O(s) = {o : g(o) = s} is the set of outputs that hold source s (empty when s is lost). Per channel::

    Info_g(x) = alpha * sum_{s : O(s) != {}} x_s
              + sum_{s != t} x_s x_t min( m(d(s, t)), M_g[s, t] ),
    M_g[s, t] = max_{o in O(s), o' in O(t)} m(d(o, o'))      (0 when O(s) or O(t) is empty)

(a pair keeps at most what it had; a lost pixel keeps nothing, alone or in a pair; a duplicated
source keeps the best of its copies). For a permutation M_g[s, t] = m(d(g^-1(s), g^-1(t))).
The loss rate is L_g(x) = 1 - Info_g(x) / Info(x) in [0, 1]; an image with Info(x) = 0 (all black)
has loss rate 0 by definition (there is nothing to lose).

Swap theorem: for g a transposition of two positions, Info_g(x) <= Info(x), with equality exactly when
no pair (s, t) with x_s x_t > 0 ends up farther apart, d(g^-1 s, g^-1 t) > d(s, t). It holds for every g
because each term of Info_g is bounded by the matching term of Info.

Computation
-----------
With K[s, t] = m(d(s, t)) (zero diagonal) and the loss matrix D_g = K - min(K, M_g) = relu(K - M_g) >= 0::

    lost(x) = alpha * x @ lost_mask + sum((x @ D_g) * x)      Info(x) = alpha * x @ 1 + sum((x @ K) * x)

with channels as rows of an (N*C, P) matrix. For a fixed map the P x 2P matrix [D_g | K] is built once
per (map, kernel, scale, image size, dtype, device) and cached, and a batch costs one matmul. The loss
is computed from D_g directly (not as Info - Info_g), so it is exactly 0 for the identity and never
negative. M_g of a non-injective map is built with two ``scatter_reduce(amax)`` passes (over the outputs
of t, then of s); per-image maps (the random permutation) get one D per image, built in chunks of images
whose (chunk, P, P) block stays under a memory bound, and applied with ``torch.bmm``; for sparse images
(MNIST) the per-image permutation path works on the non-zero pixels only (pairs with a zero pixel
contribute nothing), with images taken in order of their number of non-zero pixels.

The default compute dtype is float32 (matmul and the pairwise-summed per-image sums); loss rates agree
with float64 to about 1e-7 (see tests). Pass ``dtype=torch.float64`` for exact work.

Channels: by default (``channels="sum"``) Info and Info_g are summed over channels before the ratio, as
defined above. ``channels="mean"`` averages the per-channel loss rates instead, and ``channels="gray"``
measures the channel-mean (grey) image; for a map shared by the channels all three are close
(see docs/information.md for the figures).

Known limit (SPEC 5): the measure is per image. A fixed map with many vortices can lose as much
information as the per-image random permutation while a network keeps far more accuracy, because a
network can learn any map that is the same for every image.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict

import torch

from rvt.errors import InputError, RVTError

KERNELS = ("exp", "gaussian", "power")
CHANNEL_MODES = ("sum", "mean", "gray")

#: peak bytes of the per-image loss matrices of one chunk (two (chunk, P, P) blocks live at once)
PER_IMAGE_BYTES = 256 * 2**20
#: images per matmul for a fixed map (bounds the (chunk*C, 2P) output)
FIXED_CHUNK = 4096
#: per-image permutations use the support-only path when an image has at most this fraction non-zero
SPARSE_FRACTION = 0.7
_CACHE_SIZE = 16


class InformationError(RVTError):
    """A bad argument to the information measure (kernel name, scale, channel mode)."""


# --------------------------------------------------------------------------- kernels

def _check_kernel(kernel: str, scale: float, alpha: float) -> tuple[str, float, float]:
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise InformationError(f"unknown kernel {kernel!r}; use one of {', '.join(KERNELS)}")
    try:
        scale = float(scale)
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InformationError(f"scale and alpha must be numbers, got {scale!r}, {alpha!r}") from None
    if not math.isfinite(scale) or scale <= 0:
        raise InformationError(f"kernel scale (lambda) must be a positive number, got {scale}")
    if not math.isfinite(alpha) or alpha < 0:
        raise InformationError(f"alpha must be a non-negative number, got {alpha}")
    return kernel, scale, alpha


def kernel_function(kernel: str, scale: float, d: torch.Tensor) -> torch.Tensor:
    """m(d) of the named kernel at distances ``d`` (>= 1)."""
    kernel, scale, _ = _check_kernel(kernel, scale, 1.0)
    if kernel == "exp":
        return torch.exp(-(d - 1.0) / scale)
    if kernel == "gaussian":
        return torch.exp(-((d - 1.0) ** 2) / (2.0 * scale * scale))
    return d.pow(-scale)


_KERNEL_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()


def kernel_matrix(h: int, w: int, kernel: str = "exp", scale: float = 2.0) -> torch.Tensor:
    """K[s, t] = m(d(s, t)) for s != t, 0 on the diagonal: (H*W, H*W) float64 on the CPU (cached)."""
    kernel, scale, _ = _check_kernel(kernel, scale, 1.0)
    key = (h, w, kernel, scale)
    if key in _KERNEL_CACHE:
        _KERNEL_CACHE.move_to_end(key)
        return _KERNEL_CACHE[key]
    rows = torch.arange(h, dtype=torch.float64).repeat_interleave(w)
    cols = torch.arange(w, dtype=torch.float64).repeat(h)
    d = torch.sqrt((rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2)
    d.fill_diagonal_(1.0)  # any value >= 1; the diagonal is zeroed below
    k = kernel_function(kernel, scale, d)
    k.fill_diagonal_(0.0)
    _KERNEL_CACHE[key] = k
    while len(_KERNEL_CACHE) > _CACHE_SIZE:
        _KERNEL_CACHE.popitem(last=False)
    return k


# --------------------------------------------------------------------------- pair matrices

def _max_over_outputs(g: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """M[n, s, t] = max_{o: g[n,o]=s, o': g[n,o']=t} k[o, o'] (0 if s or t is lost), g (n, P)."""
    n, p = g.shape
    src = k.expand(n, p, p)
    # T[n, o, t] = max over o' with g(o') = t of k[o, o']
    t = torch.zeros(n, p, p, dtype=k.dtype, device=k.device)
    t.scatter_reduce_(2, g[:, None, :].expand(n, p, p), src, "amax", include_self=True)
    m = torch.zeros_like(t)
    m.scatter_reduce_(1, g[:, :, None].expand(n, p, p), t, "amax", include_self=True)
    return m


def _is_permutation_batch(g: torch.Tensor) -> bool:
    p = g.shape[-1]
    return bool(torch.equal(torch.sort(g, dim=-1).values, torch.arange(p, device=g.device).expand_as(g)))


def _loss_matrices(g: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D = relu(K - M_g) (n, P, P) in k's dtype and the lost-source mask (n, P), for maps g (n, P)."""
    n, p = g.shape
    counts = torch.zeros(n, p, dtype=torch.long, device=g.device)
    counts.scatter_add_(1, g, torch.ones_like(g))
    lost = (counts == 0).to(k.dtype)
    if bool((counts == 1).all()):  # permutations: M[s, t] = K[g^-1 s, g^-1 t]
        inv = torch.empty_like(g)
        inv.scatter_(1, g, torch.arange(p, device=g.device).expand(n, p))
        rows = k.index_select(0, inv.reshape(-1)).view(n, p, p)  # whole rows: a fast copy
        m = torch.gather(rows, 2, inv[:, None, :].expand(n, p, p))  # then within each row
        del rows
    else:
        m = _max_over_outputs(g, k)
    d = torch.sub(k, m, out=m).clamp_min_(0.0)  # in place: one (n, P, P) block beside K
    return d, lost


def loss_matrix(source_index: torch.Tensor, h: int, w: int, kernel: str = "exp", scale: float = 2.0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(D_g, lost_mask) for one fixed (H*W,) map, in float64: D_g = K - min(K, M_g), both (P, P) / (P,)."""
    g = _check_index(source_index, h, w)
    if g.dim() != 1:
        raise InputError("loss_matrix takes one (H*W,) map")
    d, lost = _loss_matrices(g.cpu()[None], kernel_matrix(h, w, kernel, scale))
    return d[0], lost[0]


def retained_pair_matrix(source_index: torch.Tensor, h: int, w: int, kernel: str = "exp",
                         scale: float = 2.0) -> torch.Tensor:
    """R_g = min(K, M_g): what each pair keeps under the map (float64, (P, P))."""
    d, _ = loss_matrix(source_index, h, w, kernel, scale)
    return kernel_matrix(h, w, kernel, scale) - d


_PAIR_CACHE: "OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]]" = OrderedDict()


def _fixed_operator(g: torch.Tensor, h: int, w: int, kernel: str, scale: float, dtype, device):
    """Cached ([D_g | K] (P, 2P), lost_mask (P,)) for a fixed map, in ``dtype`` on ``device``."""
    digest = hashlib.sha1(g.detach().to("cpu", torch.int64).contiguous().numpy().tobytes()).hexdigest()
    key = (digest, h, w, kernel, scale, dtype, str(torch.device(device)))
    if key in _PAIR_CACHE:
        _PAIR_CACHE.move_to_end(key)
        return _PAIR_CACHE[key]
    k = kernel_matrix(h, w, kernel, scale)
    d, lost = _loss_matrices(g.to("cpu", torch.int64)[None], k)
    op = torch.cat([d[0], k], dim=1).to(device=device, dtype=dtype).contiguous()
    entry = (op, lost[0].to(device=device, dtype=dtype))
    _PAIR_CACHE[key] = entry
    while len(_PAIR_CACHE) > _CACHE_SIZE:
        _PAIR_CACHE.popitem(last=False)
    return entry


def clear_cache() -> None:
    """Forget every cached kernel and pair matrix (for benchmarks: time a cold first call)."""
    _KERNEL_CACHE.clear()
    _PAIR_CACHE.clear()


# --------------------------------------------------------------------------- inputs

def _prepare(x, dtype) -> torch.Tensor:
    """(N, C, H, W) tensor of values in [0, 1] in ``dtype``; uint8 is divided by 255."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"expected images shaped (N, C, H, W), got {tuple(x.shape)} "
                         "(use x[None] for one image, x[:, None] for a grey (N, H, W) batch)")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
        raise InputError(f"empty image batch {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.to(dtype) / 255.0
    if not x.is_floating_point():
        raise InputError(f"expected float images in [0, 1] or uint8, got {x.dtype}")
    x = x.to(dtype)
    lo, hi = torch.aminmax(x)
    if not (bool(lo >= 0) and bool(hi <= 1)):  # also catches NaN
        raise InputError(f"float images must lie in [0, 1]; got values in [{float(lo):g}, {float(hi):g}]")
    return x


def _check_index(index, h: int, w: int, n: int | None = None) -> torch.Tensor:
    if not isinstance(index, torch.Tensor):
        try:
            index = torch.as_tensor(index)
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"source index must be an integer tensor, got {type(index).__name__}") from None
    if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
        raise InputError(f"source index must hold integers, got {index.dtype}")
    p = h * w
    if index.dim() == 1:
        if index.numel() != p:
            raise InputError(f"source index has {index.numel()} entries; {h}x{w} images need {p}")
    elif index.dim() == 2:
        if index.shape[1] != p:
            raise InputError(f"per-image source maps have {index.shape[1]} entries; {h}x{w} images need {p}")
        if n is not None and index.shape[0] != n:
            raise InputError(f"{index.shape[0]} per-image source maps for {n} images")
    else:
        raise InputError(f"source index must be (H*W,) or (N, H*W), got shape {tuple(index.shape)}")
    index = index.to(torch.int64)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= p):
        raise InputError(f"source index values must lie in [0, {p}), got [{int(index.min())}, {int(index.max())}]")
    return index


def _check_channels(channels: str) -> str:
    if channels not in CHANNEL_MODES:
        raise InformationError(f"unknown channel mode {channels!r}; use one of {', '.join(CHANNEL_MODES)}")
    return channels


def _resolve(source_index_or_transform, n: int, h: int, w: int) -> torch.Tensor:
    from rvt.maps import PositionTransform

    t = source_index_or_transform
    if isinstance(t, PositionTransform):
        size = t.image_size
        if size is not None and tuple(size) != (h, w):
            raise InputError(f"{t!r} is for {size[0]}x{size[1]} images, got {h}x{w}")
        if getattr(t, "fixed", True):
            return t.index_for(h, w)
        if not hasattr(t, "sample_index"):
            raise InputError(f"{type(t).__name__} draws per-image maps but has no sample_index(n, h, w)")
        # measuring must not disturb the transform: draw, then put its generator back where it was
        gen = getattr(t, "generator", None)
        state = gen.get_state() if isinstance(gen, torch.Generator) else None
        try:
            return t.sample_index(n, h, w)
        finally:
            if state is not None:
                gen.set_state(state)
    return t


# --------------------------------------------------------------------------- the measure

def _per_channel_terms(xs: torch.Tensor, g: torch.Tensor, h: int, w: int, kernel: str, scale: float,
                       alpha: float, dtype, chunk: int | None, n_img: int, c: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(info, lost) per image and channel, float64 (N, C), for xs (N, C, P) in ``dtype``."""
    p = h * w
    info = torch.empty(n_img, c, dtype=torch.float64, device=xs.device)
    lost = torch.empty_like(info)
    if g.dim() == 1:
        op, lost_mask = _fixed_operator(g, h, w, kernel, scale, dtype, xs.device)
        has_lost = bool(lost_mask.any())
        step = chunk or FIXED_CHUNK
        for a in range(0, n_img, step):
            rows = xs[a:a + step].reshape(-1, p)
            y = (rows @ op).view(-1, 2, p)  # one matmul: [x @ D | x @ K]
            z = (y * rows[:, None, :]).sum(2).to(torch.float64)  # torch sums pairwise: ~1e-7 relative
            # pixel terms: sums in the compute dtype, alpha applied in float64 (a tiny alpha must not vanish)
            pixels = rows.sum(1).to(torch.float64)
            lost_pixels = (rows @ lost_mask).to(torch.float64) if has_lost else 0.0
            lost[a:a + step] = (z[:, 0] + alpha * lost_pixels).view(-1, c)
            info[a:a + step] = (z[:, 1] + alpha * pixels).view(-1, c)
        return info, lost
    # one map per image: D per image, chunked so that the (chunk, P, P) blocks stay under the bound
    itemsize = torch.finfo(dtype).bits // 8
    full_step = chunk or max(1, PER_IMAGE_BYTES // (2 * p * p * itemsize))
    k = kernel_matrix(h, w, kernel, scale).to(device=xs.device, dtype=dtype)
    g = g.to(xs.device)
    hits = torch.zeros_like(g)
    hits.scatter_add_(1, g, torch.ones_like(g))
    all_permutations = bool((hits == 1).all())
    # images in order of their number of non-zero pixels, so that each chunk's support is tight
    nonzero = (xs != 0).any(1)  # (N, P)
    counts = nonzero.sum(1)
    order = torch.argsort(counts, stable=True)
    sorted_counts = counts[order].tolist()
    a = 0
    while a < n_img:
        end = min(n_img, a + full_step)
        support = all_permutations and sorted_counts[end - 1] <= SPARSE_FRACTION * p
        if all_permutations and chunk is None:
            # sparse chunks hold (n, S, P) blocks (S = the chunk's largest support): take more images
            e = end
            for _ in range(2):  # sizes grow along ``order``: the second pass keeps the bound
                s_max = max(1, sorted_counts[e - 1])
                e = min(n_img, a + max(1, PER_IMAGE_BYTES // (3 * s_max * p * itemsize)))
            if sorted_counts[e - 1] <= SPARSE_FRACTION * p:
                end, support = e, True
        idx = order[a:end]
        a = end
        xb = xs[idx]  # (n, C, P)
        gb = g[idx]
        x64 = xb.to(torch.float64)
        info[idx] = alpha * x64.sum(2) + ((xb @ k).to(torch.float64) * x64).sum(2)
        if support:  # a permutation loses no pixel: only the pair term, on the non-zero pixels
            lost[idx] = _permutation_loss_on_support(xb, gb, k, nonzero[idx], max(1, sorted_counts[end - 1]))
            continue
        d, lost_mask = _loss_matrices(gb, k)
        lq = (torch.bmm(xb, d).to(torch.float64) * x64).sum(2)  # (n, C)
        del d
        lost[idx] = alpha * (x64 * lost_mask[:, None, :].to(torch.float64)).sum(2) + lq
    return info, lost


def _permutation_loss_on_support(xb: torch.Tensor, g: torch.Tensor, k: torch.Tensor, nonzero: torch.Tensor,
                                 size: int) -> torch.Tensor:
    """Pair loss (n, C) of per-image permutations g (n, P), summed only over the pixels that are non-zero
    in some channel (``nonzero``, (n, P), at most ``size`` per image): pairs with a zero pixel contribute
    nothing. Padding positions beyond an image's support hold zeros."""
    n, c, p = xb.shape
    inv = torch.empty_like(g)
    inv.scatter_(1, g, torch.arange(p, device=g.device).expand(n, p))
    pos = torch.argsort((~nonzero).to(torch.int8), dim=1, stable=True)[:, :size]  # non-zero first
    xsub = torch.gather(xb, 2, pos[:, None, :].expand(n, c, size))
    ipos = torch.gather(inv, 1, pos)

    def block(index):  # k[index_i, index_j] per image: whole rows first, then within each row
        rows = k.index_select(0, index.reshape(-1)).view(n, size, p)
        return torch.gather(rows, 2, index[:, None, :].expand(n, size, size))

    d = block(pos)
    d.sub_(block(ipos)).clamp_min_(0.0)  # relu(K[s,t] - K[g^-1 s, g^-1 t]) on the support
    return (torch.bmm(xsub, d).to(torch.float64) * xsub.to(torch.float64)).sum(2)


def _terms(x, source_index_or_transform, kernel, scale, alpha, chunk, dtype, channels):
    kernel, scale, alpha = _check_kernel(kernel, scale, alpha)
    channels = _check_channels(channels)
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise InformationError(f"chunk must be a positive integer, got {chunk!r}")
    x = _prepare(x, dtype)
    n, c, h, w = x.shape
    if channels == "gray" and c > 1:
        x = x.mean(1, keepdim=True)
        c = 1
    g = _check_index(_resolve(source_index_or_transform, n, h, w), h, w, n)
    xs = x.reshape(n, c, h * w)
    return _per_channel_terms(xs, g, h, w, kernel, scale, alpha, dtype, chunk, n, c), channels


def _rate(info: torch.Tensor, lost: torch.Tensor) -> torch.Tensor:
    safe = torch.where(info > 0, info, torch.ones_like(info))
    return torch.where(info > 0, lost / safe, torch.zeros_like(info)).clamp_(0.0, 1.0)


def information_content(x: torch.Tensor, kernel: str = "exp", scale: float = 2.0, alpha: float = 1.0,
                        *, dtype: torch.dtype = torch.float32, chunk: int | None = None) -> torch.Tensor:
    """Info(x) per image, summed over channels: (N,) float64. x: (N, C, H, W) in [0, 1] or uint8."""
    kernel, scale, alpha = _check_kernel(kernel, scale, alpha)
    x = _prepare(x, dtype)
    n, c, h, w = x.shape
    p = h * w
    k = kernel_matrix(h, w, kernel, scale).to(device=x.device, dtype=dtype)
    xs = x.reshape(n * c, p)
    out = torch.empty(n * c, dtype=torch.float64, device=x.device)
    step = (chunk or FIXED_CHUNK) * c
    for a in range(0, n * c, step):
        rows = xs[a:a + step]
        out[a:a + step] = ((rows @ k) * rows).sum(1).to(torch.float64) + alpha * rows.sum(1).to(torch.float64)
    return out.view(n, c).sum(1)


def retained_information(x: torch.Tensor, source_index, kernel: str = "exp", scale: float = 2.0,
                         alpha: float = 1.0, *, chunk: int | None = None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Info_g(x) per image, summed over channels: (N,) float64.

    ``source_index``: a (H*W,) gather map, an (N, H*W) batch of per-image maps, or a transform.
    """
    (info, lost), _ = _terms(x, source_index, kernel, scale, alpha, chunk, dtype, "sum")
    return (info - lost).clamp_min(0.0).sum(1)


def information_loss(x: torch.Tensor, source_index_or_transform, kernel: str = "exp", scale: float = 2.0,
                     alpha: float = 1.0, chunk: int | None = None, *, dtype: torch.dtype = torch.float32,
                     channels: str = "sum") -> torch.Tensor:
    """Loss rate L_g(x) = 1 - Info_g(x) / Info(x) per image: (N,) float64 in [0, 1].

    ``source_index_or_transform``: a (H*W,) gather map, an (N, H*W) batch of per-image maps, or an
    :class:`rvt.maps.PositionTransform` (fixed ones give their map; ``RandomPermutation`` draws one per
    image, from the transform's generator, whose state is restored afterwards: measuring leaves the
    transform as it was and repeated calls draw the same maps). ``chunk``: images per step (default: 4096 for a fixed map; for per-image maps as many as
    keep one (chunk, P, P) block under 256 MiB). ``channels``: "sum" (Info summed over channels, the
    definition), "mean" (mean of per-channel loss rates) or "gray" (the channel-mean image).
    An all-black image (Info = 0) has loss rate 0.
    """
    (info, lost), channels = _terms(x, source_index_or_transform, kernel, scale, alpha, chunk, dtype,
                                    channels)
    if channels == "mean":
        return _rate(info, lost).mean(1)
    return _rate(info.sum(1), lost.sum(1))


def information_stats(x: torch.Tensor, source_index_or_transform, kernel: str = "exp", scale: float = 2.0,
                      alpha: float = 1.0, chunk: int | None = None, *, dtype: torch.dtype = torch.float32,
                      channels: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """(Info(x), loss rate) per image in one pass, both (N,) float64 (Info summed over channels)."""
    (info, lost), channels = _terms(x, source_index_or_transform, kernel, scale, alpha, chunk, dtype,
                                    channels)
    rate = _rate(info, lost).mean(1) if channels == "mean" else _rate(info.sum(1), lost.sum(1))
    return info.sum(1), rate


# --------------------------------------------------------------------------- benchmark

def _bench_images(name: str, shape: tuple[int, ...]) -> tuple[torch.Tensor, str]:
    """The real test set when it is on disk (RVT_DATA_DIR or data/), else random uint8 of that shape."""
    import os
    import pickle
    from pathlib import Path

    import numpy as np

    root = Path(os.environ.get("RVT_DATA_DIR", "data"))
    try:
        if name == "MNIST":
            raw = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
            arr = np.fromfile(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
        else:
            with open(root / "cifar-10-batches-py" / "test_batch", "rb") as f:
                arr = np.asarray(pickle.load(f, encoding="latin1")["data"], np.uint8).reshape(-1, 3, 32, 32)
        if arr.shape == shape:
            return torch.from_numpy(arr.copy()), f"{name} test set"
    except (OSError, ValueError, KeyError, pickle.UnpicklingError):
        pass
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g), f"random uint8 {shape}"


def bench_information(print_fn=print, repeats: int = 3, n_random: int = 1000) -> list[dict]:
    """Time loss rates of the MNIST and CIFAR-10 test sets under a fixed RVT map (first call with the
    pair-matrix build, then cached) and under per-image random permutations. Prints and returns rows."""
    from rvt import RVT, RandomPermutation

    rows = []
    cases = (("MNIST", (10000, 1, 28, 28), "authors:mnist"), ("CIFAR-10", (10000, 3, 32, 32), "authors:cifar10"))
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_fn(f"information loss rate (kernel exp, lambda 2, float32 matmul), {torch.get_num_threads()} threads, "
             f"{os.cpu_count()} CPUs, load average {load:.1f} at start (other processes slow these figures)")
    print_fn(f"{'data':28} {'transform':26} {'images':>7} {'seconds':>9} {'images/s':>10}")

    def emit(data, transform, n, seconds):
        print_fn(f"{data:28} {transform:26} {n:7d} {seconds:9.3f} {n / seconds:10,.0f}")
        rows.append({"data": data, "transform": transform, "images": n, "seconds": seconds,
                     "images_per_s": n / seconds})

    for name, shape, key in cases:
        x, label = _bench_images(name, shape)
        rvt = RVT(key)
        clear_cache()
        start = time.perf_counter()
        information_loss(x, rvt)
        emit(label, f"RVT {key} (cold, + build)", shape[0], time.perf_counter() - start)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            information_loss(x, rvt)
            times.append(time.perf_counter() - start)
        emit(label, f"RVT {key} (cached)", shape[0], sorted(times)[len(times) // 2])
        xr = x[:n_random]
        start = time.perf_counter()
        information_loss(xr, RandomPermutation(0))
        emit(label, "random permutation/image", xr.shape[0], time.perf_counter() - start)
    return rows
