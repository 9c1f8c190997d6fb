"""Attack metrics of the security study: how close a decryption is to the plain images (SSIM, PSNR, exact
images: torchmetrics), which pixels a key moves, and what a map leaves of the value histograms."""

from __future__ import annotations

import numpy as np
import torch

from rvt.transforms.vortex import window_polar


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 if not x.dtype.is_floating_point else x.float()


def quality(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """SSIM (mean per image), PSNR (pooled MSE) and the fraction of images that are exact."""
    from torchmetrics.functional.image import (peak_signal_noise_ratio,
                                               structural_similarity_index_measure)

    p, t = to_unit(pred), to_unit(target)
    ssim = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
    psnr = peak_signal_noise_ratio(p, t, data_range=1.0)
    exact = (pred == target).flatten(1).all(dim=1).double().mean()
    return {"ssim": float(ssim.mean()), "psnr": float(psnr), "exact": float(exact)}


def disk_mask(key) -> torch.Tensor:
    """(H*W,) bool: positions inside at least one active vortex disk (rho <= r)."""
    h, w = key.image_size
    n1, n2 = (h, w) if key.orientation == "row_col" else (w, h)
    mask = np.zeros((n1, n2), dtype=bool)
    for v in key.vortices:
        if not v.active:
            continue
        (c1, c2), r = v.center, v.radius
        _, _, rho, _, _ = window_polar(r)
        a, b = c1 - r - 1, c2 - r - 1
        mask[a:a + 2 * r + 1, b:b + 2 * r + 1] |= rho <= r
    if key.orientation == "col_row":
        mask = mask.T
    return torch.from_numpy(np.ascontiguousarray(mask).reshape(-1))


def histogram_change(plain: torch.Tensor, cipher: torch.Tensor) -> tuple[float, float]:
    """(fraction of images whose per-channel value histogram is unchanged, mean total-variation distance)."""
    n, c = plain.shape[:2]
    p = plain.reshape(n * c, -1).long()
    q = cipher.reshape(n * c, -1).long()
    offs = torch.arange(n * c)[:, None] * 256
    hp = torch.bincount((p + offs).reshape(-1), minlength=n * c * 256).reshape(n, c, 256)
    hq = torch.bincount((q + offs).reshape(-1), minlength=n * c * 256).reshape(n, c, 256)
    same = (hp == hq).flatten(1).all(dim=1).double().mean()
    tv = 0.5 * (hp - hq).abs().sum(dim=2).double() / p.shape[1]
    return float(same), float(tv.mean())


def fraction(mask: torch.Tensor) -> float:
    return float(mask.double().mean())
