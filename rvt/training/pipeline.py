"""The batch pipeline: uint8 batch -> encrypted, augmented, resized, normalised network input.

All of it runs with batched tensor ops on whatever device the batch is on: encrypt (one gather) ->
resize -> random crop with padding and horizontal flip (one gather) -> colour jitter (per-sample factors,
batched) -> normalise. ``augment`` says where augmentation sits relative to encryption: ``after`` (the
authors' order, and the only one open to someone who receives already-encrypted files), ``before``
(augment the plain image, then encrypt: a loader that holds the key) or ``none``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rvt.errors import RVTError
from rvt.training.augment import color_jitter, crop_flip

AUGMENT = ("after", "before", "none")


class BatchPipeline(nn.Module):
    """uint8 (N, C, H, W) -> encrypted, augmented, resized, normalised float batch, on x's device."""

    def __init__(self, transform: nn.Module | None = None, img_size: int | None = None,
                 mean=(0.5,), std=(0.5,), augment: str = "after", padding: int = 4, flip: bool = True,
                 color_jitter: tuple | list | None = (0.4, 0.4, 0.4, 0.2)):
        super().__init__()
        if augment not in AUGMENT:
            raise RVTError(f"data.augment must be one of {', '.join(AUGMENT)}, got {augment!r}")
        self.transform = transform
        self.img_size = int(img_size) if img_size else None
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        self.padding = int(padding)
        self.flip = bool(flip)
        self.jitter = tuple(float(v) for v in color_jitter) if color_jitter else None
        if self.jitter is not None and len(self.jitter) != 4:
            raise RVTError(f"data.color_jitter takes 4 values (brightness, contrast, saturation, hue), "
                           f"got {list(color_jitter)}")

    def encrypt(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Encrypt; with ``ids`` (evaluation) a per-image transform uses each image's fixed map."""
        if self.transform is None:
            return x
        return self.transform(x) if ids is None else self.transform.encrypt_images(x, ids)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        if self.img_size is None or tuple(x.shape[-2:]) == (self.img_size, self.img_size):
            return x
        down = self.img_size < x.shape[-1]
        return F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False,
                             antialias=down)

    def _needs_resize(self, x: torch.Tensor) -> bool:
        return self.img_size is not None and tuple(x.shape[-2:]) != (self.img_size, self.img_size)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        if self.jitter is not None and any(self.jitter):
            x = color_jitter(x, *self.jitter)
        return x

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Crop + flip, then colour jitter, on a float batch in [0, 1]."""
        return self._jitter(crop_flip(x, self.padding, self.flip))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        mean, std = self.mean, self.std
        if len(mean) == 1 and c > 1:
            mean, std = mean * c, std * c
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return x.sub_(m).div_(s) if not x.requires_grad else (x - m) / s

    @torch.no_grad()
    def forward(self, x: torch.Tensor, train: bool = False, ids: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` name the images of an evaluation batch (ignored in training, where per-image maps are
        fresh at every call)."""
        if x.dtype != torch.uint8:
            raise RVTError(f"the batch pipeline takes uint8 images, got {x.dtype}")
        if train and self.augment == "before":
            # augment the plain image at its native size, then encrypt and resize
            x = crop_flip(x, self.padding, self.flip).float().div_(255)
            x = self.resize(self.encrypt(self._jitter(x)))
        else:
            x = self.encrypt(x, None if train else ids)
            augment = train and self.augment == "after"
            resize = self._needs_resize(x)
            if augment and not resize:
                x = crop_flip(x, self.padding, self.flip)  # gathers move uint8: 4x fewer bytes than float
            x = self.resize(x.float().div_(255))
            if augment:
                x = self._jitter(crop_flip(x, self.padding, self.flip) if resize else x)
        return self.normalise(x)

