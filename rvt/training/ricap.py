"""RICAP (Takahashi et al. 2018, "Data augmentation using random image cropping and patching"), batched.

Each output image is a 2 x 2 mosaic of crops from four images of the batch (four shuffles of it): the
boundary (w, h) is drawn from Beta(beta, beta) once per batch, each of the four crops sits at a random
position of its source image (one position per quadrant and batch, as in the reference code), and the
label of the mosaic is the four source labels weighted by their areas. No library offers it, so it is
written here: four slices and two concatenations per batch, no per-image Python. Randomness comes from
torch's global generator (seeded by ``seed_everything``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ricap(x: torch.Tensor, y: torch.Tensor, beta: float):
    """Mix the batch ``x`` (N, C, H, W). Returns (mosaics, labels (4, N), weights (4,) summing to 1)."""
    n, _, h, w = x.shape
    dist = torch.distributions.Beta(torch.tensor(float(beta)), torch.tensor(float(beta)))
    bw = min(max(int(round(w * float(dist.sample()))), 1), w - 1)
    bh = min(max(int(round(h * float(dist.sample()))), 1), h - 1)
    widths = (bw, w - bw, bw, w - bw)
    heights = (bh, bh, h - bh, h - bh)
    crops, labels, weights = [], [], []
    for k in range(4):  # four quadrants: a loop over 4, never over images
        perm = torch.randperm(n, device=x.device)
        cw, ch = widths[k], heights[k]
        ox = int(torch.randint(0, w - cw + 1, (1,)))
        oy = int(torch.randint(0, h - ch + 1, (1,)))
        crops.append(x[perm, :, oy:oy + ch, ox:ox + cw])
        labels.append(y[perm])
        weights.append(cw * ch / (w * h))
    mosaic = torch.cat([torch.cat(crops[:2], dim=3), torch.cat(crops[2:], dim=3)], dim=2)
    return mosaic, torch.stack(labels), torch.tensor(weights, device=x.device, dtype=x.dtype)


def ricap_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, **kw) -> torch.Tensor:
    """Area-weighted cross-entropy of the mosaic logits against the four source labels."""
    return sum(weights[k] * F.cross_entropy(logits, labels[k], **kw) for k in range(labels.shape[0]))


def ricap_accuracy(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Area-weighted accuracy (the reference code's training accuracy under RICAP)."""
    pred = logits.argmax(1)
    return sum(weights[k] * (pred == labels[k]).float().mean() for k in range(labels.shape[0]))
