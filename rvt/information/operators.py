"""Pair operators of a position map: the loss matrix D_g = relu(K - M_g) and the lost-pixel mask.

M_g[s, t] is the best kernel value among the outputs that hold s and t (docs/information.md); for a
permutation it is K[g^-1 s, g^-1 t]. For a fixed map the P x 2P operator [D_g | K] is built once per
(map, kernel, scale, image size, dtype, device) and cached (LRU), so a batch costs one matmul.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from rvt.errors import InputError
from rvt.information.kernels import _CACHE_SIZE, _KERNEL_CACHE, kernel_matrix
from rvt.transforms.base import map_digest



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
    key = (map_digest(g), h, w, kernel, scale, dtype, str(torch.device(device)))
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
