"""The information measure itself: Info(x), Info_g(x) and the loss rate of a batch under a map.

The definitions are in docs/information.md (this project's reconstruction of the paper's measure).
Values are read as x in [0, 1] (uint8 divided by 255), channels as rows of an (N*C, P) matrix:

    lost(x) = alpha * x @ lost_mask + sum((x @ D_g) * x)      Info(x) = alpha * x @ 1 + sum((x @ K) * x)

computed from D_g directly (not as Info - Info_g), so the loss is exactly 0 for the identity and never
negative. Per-image maps (the random permutation) get one D per image, built in chunks whose
(chunk, P, P) block stays under a memory bound and applied with ``torch.bmm``; for sparse images (MNIST)
the per-image permutation path works on the non-zero pixels only, images taken in order of their
number of non-zero pixels. The compute dtype is float32 by default (loss rates agree with float64 to
about 1e-7); pass ``dtype=torch.float64`` for exact work.
"""

from __future__ import annotations

import torch

from rvt.errors import InformationError, InputError
from rvt.information.kernels import _check_kernel, kernel_matrix
from rvt.information.operators import _check_index, _fixed_operator, _loss_matrices

CHANNEL_MODES = ("sum", "mean", "gray")

#: peak bytes of the per-image loss matrices of one chunk (two (chunk, P, P) blocks live at once)
PER_IMAGE_BYTES = 256 * 2**20
#: images per matmul for a fixed map (bounds the (chunk*C, 2P) output)
FIXED_CHUNK = 4096
#: per-image permutations use the support-only path when an image has at most this fraction non-zero
SPARSE_FRACTION = 0.7


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




def _check_channels(channels: str) -> str:
    if channels not in CHANNEL_MODES:
        raise InformationError(f"unknown channel mode {channels!r}; use one of {', '.join(CHANNEL_MODES)}")
    return channels


def _resolve(source_index_or_transform, n: int, h: int, w: int) -> torch.Tensor:
    from rvt.transforms.base import PositionTransform

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
    :class:`rvt.PositionTransform` (fixed ones give their map; ``RandomPermutation`` draws one per
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
