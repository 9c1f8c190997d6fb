"""Batched augmentation on the training device: random crop with padding and horizontal flip as one
gather, and torchvision's ColorJitter with per-sample factors (an exact, fused HSV hue rotation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRAY = (0.299, 0.587, 0.114)  # the luma weights torchvision's rgb_to_grayscale uses


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (r * GRAY[0] + g * GRAY[1] + b * GRAY[2]).unsqueeze(1)


def _hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each RGB image of the batch by ``shift`` (N,) turns, exactly as torchvision's
    adjust_hue (RGB -> HSV -> RGB), fused: value and saturation are kept, so each output channel is
    v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h') mod 6, n = 5, 3, 1, and v s = max - min."""
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    delta = maxc - torch.minimum(torch.minimum(r, g), b)
    safe = delta + (delta == 0)  # grey pixels: any divisor (their delta is 0, so is their change)
    h6 = torch.where(maxc == r, (g - b) / safe, torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h6 = torch.remainder(h6 + 6 * shift.to(x.dtype).view(-1, 1, 1), 6.0)  # 6 x the new hue, in [0, 6)
    out = torch.empty_like(x)
    for c, n in enumerate((5.0, 3.0, 1.0)):
        k = h6 + n
        k = k - 6 * (k >= 6)
        out[:, c] = maxc - delta * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return out


def crop_flip(x: torch.Tensor, padding: int, flip: bool) -> torch.Tensor:
    """Per-sample random crop of the zero-padded batch (torchvision RandomCrop(padding=p), fill 0) and
    per-sample horizontal flip with probability 1/2, as ONE gather over the padded batch."""
    n, c, h, w = x.shape
    p = int(padding)
    if p == 0 and not flip:
        return x
    xp = F.pad(x, (p, p, p, p)) if p else x
    wp = w + 2 * p
    dev = x.device
    oy = torch.randint(0, 2 * p + 1, (n, 1), device=dev)
    ox = torch.randint(0, 2 * p + 1, (n, 1), device=dev)
    rows = oy + torch.arange(h, device=dev)
    cols = ox + torch.arange(w, device=dev)
    if flip:
        flipped = torch.rand(n, 1, device=dev) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return xp.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


def jitter_factors(n: int, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2, device=None) -> dict:
    """Per-sample factors as torchvision's ColorJitter draws them: U[1-a, 1+a] (clipped at 0), hue U[-h, h]."""
    def factor(amount):
        if not amount:
            return None
        return (1 - amount + 2 * amount * torch.rand(n, device=device)).clamp_min(0)

    return dict(brightness=factor(brightness), contrast=factor(contrast), saturation=factor(saturation),
                hue=(2 * torch.rand(n, device=device) - 1) * hue if hue else None)


def apply_jitter(x: torch.Tensor, brightness=None, contrast=None, saturation=None, hue=None) -> torch.Tensor:
    """Brightness, contrast, saturation, hue with per-sample factors (N,), in this fixed order, on a float
    batch in [0, 1]; the formulas of torchvision's adjust_* functions. Saturation and hue act on
    3-channel images only (torchvision leaves grayscale images unchanged by them too)."""
    n, c = x.shape[:2]

    def per_sample(f):
        return f.to(x.dtype).view(n, 1, 1, 1)

    if brightness is not None:
        x = (x * per_sample(brightness)).clamp(0, 1)
    if contrast is not None:
        f = per_sample(contrast)
        mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (f * x + (1 - f) * mean).clamp(0, 1)
    if c == 3 and saturation is not None:
        f = per_sample(saturation)
        x = (f * x + (1 - f) * _gray(x)).clamp(0, 1)
    if c == 3 and hue is not None:
        x = _hue_shift(x, hue)
    return x


def color_jitter(x: torch.Tensor, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2) -> torch.Tensor:
    """ColorJitter on a float batch in [0, 1], factors drawn per sample, applied in the fixed order
    brightness, contrast, saturation, hue (torchvision draws a random order per image); hue is an exact
    HSV hue rotation, batched."""
    f = jitter_factors(x.shape[0], brightness, contrast, saturation, hue, device=x.device)
    return apply_jitter(x, **f)

