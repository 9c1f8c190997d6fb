"""Distance kernels m(d) of the information measure and the (P, P) kernel matrix K, cached.

All kernels equal 1 at d = 1 and decrease strictly with the distance; ``scale`` is lambda > 0
(docs/information.md):

- ``exp``:      m(d) = exp(-(d - 1) / lambda)            (default, lambda = 2)
- ``gaussian``: m(d) = exp(-(d - 1)^2 / (2 lambda^2))
- ``power``:    m(d) = d^(-lambda)
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch

from rvt.errors import InformationError

KERNELS = ("exp", "gaussian", "power")
_CACHE_SIZE = 16



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
