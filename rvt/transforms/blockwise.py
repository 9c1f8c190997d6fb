"""Block-wise keyed encryption aligned with the ViT patch (the learnable-image-encryption family of the
Kiya lab; docs/blockwise.md): the image is cut into B x B blocks and, with one key for the whole dataset,

1. block scrambling: output block j is input block ``scramble[j]`` (row-major block order, as timm's
   patch embedding flattens them);
2. in-block shuffle: value k of every output block is value ``shuffle[k]`` of its input block, k over
   the B*B*C values of a block in (channel, row, column) order, the order of a patch-embedding weight;
   without channel shuffling the permutation moves positions and keeps channels;
3. negative-positive (optional): the values of a block where ``negpos[k]`` is set become 255 - x
   (1 - x for float images).

Steps 1-2 are one gather over the C*H*W values of an image (the same map for every image), step 3 one
fused elementwise op; the inverse is exact. With B equal to a ViT's patch size a model adapted with the key
(rvt.training.model_keys) classifies encrypted images exactly as the plain model classifies plain ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rvt.errors import InputError, KeyFormatError
from rvt.io import atomic_write_text
from rvt.registry import register_transform
from rvt.training.datasets import DATASETS
from rvt.transforms.base import PositionTransform, as_batch, invert_permutation

KEY_FORMAT = "rvt-blockwise-key"
#: the block studies use per dataset: the patch of this project's small ViTs (7 on 28x28, 8 on 32x32)
PATCH_FOR = {name: info.vit_patch for name, info in DATASETS.items()}  # conf/dataset/*.yaml vit_patch


@dataclass(frozen=True)
class BlockwiseKey:
    """A block-wise key for C x H x W images: block side, block order, in-block value order, mask."""

    block: int
    height: int
    width: int
    channels: int
    scramble: tuple[int, ...]          # (M,) output block j <- input block scramble[j]
    shuffle: tuple[int, ...]           # (B*B*C,) output value k <- input value shuffle[k]
    negpos: tuple[int, ...] | None     # (B*B*C,) 1 where the value is inverted, or None

    def __post_init__(self):
        b, h, w, c = self.block, self.height, self.width, self.channels
        if min(b, h, w, c) < 1:
            raise KeyFormatError(f"blockwise key: block, height, width and channels must be >= 1, got {b}, {h}, {w}, {c}")
        if h % b or w % b:
            raise KeyFormatError(f"blockwise key: block {b} does not divide the image size {h}x{w}")
        m, v = (h // b) * (w // b), b * b * c
        for name, values, n in (("scramble", self.scramble, m), ("shuffle", self.shuffle, v)):
            if len(values) != n or sorted(values) != list(range(n)):
                raise KeyFormatError(f"blockwise key: {name} must be a permutation of 0..{n - 1} "
                                     f"({len(values)} entries given)")
        if self.negpos is not None and (len(self.negpos) != v or not set(self.negpos) <= {0, 1}):
            raise KeyFormatError(f"blockwise key: negpos must be {v} zeros and ones")

    @property
    def label(self) -> str:
        return f"blockwise:{self.height}x{self.width}x{self.channels}:b{self.block}"

    @property
    def moves_channels(self) -> bool:
        """Whether the in-block shuffle moves values between channels (channel shuffling)."""
        bb = self.block * self.block
        p = np.asarray(self.shuffle)
        return bool(np.any(p // bb != np.arange(p.size) // bb))

    def to_dict(self) -> dict:
        return {"format": KEY_FORMAT, "version": 1, "block": self.block, "height": self.height,
                "width": self.width, "channels": self.channels, "scramble": list(self.scramble),
                "shuffle": list(self.shuffle), "negpos": None if self.negpos is None else list(self.negpos)}

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_dict()) + "\n")

    @classmethod
    def from_dict(cls, d: dict, source: str = "key") -> "BlockwiseKey":
        if not isinstance(d, dict) or d.get("format") != KEY_FORMAT:
            raise KeyFormatError(f"{source}: not a blockwise key (expected \"format\": \"{KEY_FORMAT}\")")
        try:
            return cls(int(d["block"]), int(d["height"]), int(d["width"]), int(d["channels"]),
                       tuple(int(i) for i in d["scramble"]), tuple(int(i) for i in d["shuffle"]),
                       None if d.get("negpos") is None else tuple(int(i) for i in d["negpos"]))
        except (KeyError, TypeError, ValueError) as e:
            raise KeyFormatError(f"{source}: blockwise key field missing or malformed ({e})") from None

    @classmethod
    def load(cls, path: str | Path) -> "BlockwiseKey":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except OSError as e:
            raise KeyFormatError(f"cannot read key {path}: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise KeyFormatError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
        return cls.from_dict(d, str(path))


def generate_blockwise(height: int, width: int, channels: int = 1, block: int = 4, seed: int = 0,
                       scramble: bool = True, shuffle: bool = True, negpos: bool = False,
                       channel_shuffle: bool = False) -> BlockwiseKey:
    """A key drawn from ``seed`` (numpy PCG64; the key file, not the seed, is what encrypts)."""
    if not isinstance(block, int) or block < 1:
        raise InputError(f"block size must be a positive integer, got {block!r}")
    if height % block or width % block:
        raise InputError(f"blockwise: block {block} must divide the image size, got {height}x{width}")
    rng = np.random.default_rng(int(seed))
    m, bb = (height // block) * (width // block), block * block
    order = rng.permutation(m) if scramble else np.arange(m)
    if shuffle and channel_shuffle:
        values = rng.permutation(bb * channels)
    else:
        positions = rng.permutation(bb) if shuffle else np.arange(bb)
        channel_order = rng.permutation(channels) if channel_shuffle else np.arange(channels)
        values = (channel_order[:, None] * bb + positions[None, :]).reshape(-1)
    mask = rng.integers(0, 2, bb * channels) if negpos else None
    return BlockwiseKey(block, height, width, channels, tuple(int(i) for i in order),
                        tuple(int(i) for i in values), None if mask is None else tuple(int(i) for i in mask))


def to_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, M, C*B*B): blocks row by row (timm's patch order), a block's values in
    (channel, row, column) order (a patch-embedding weight's order). The one block layout of the project:
    the key's maps and the block attacks use it, the model keys share it (a patch-embedding weight's order)."""
    n, c, h, w = x.shape
    if h % block or w % block:
        raise InputError(f"block {block} does not divide the image size {h}x{w}")
    gh, gw = h // block, w // block
    return x.reshape(n, c, gh, block, gw, block).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c * block * block)


def from_blocks(blocks: torch.Tensor, c: int, h: int, w: int, block: int) -> torch.Tensor:
    """The inverse of :func:`to_blocks`: (N, M, C*B*B) -> (N, C, H, W)."""
    n = blocks.shape[0]
    gh, gw = h // block, w // block
    return blocks.reshape(n, gh, gw, c, block, block).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def value_map(key: BlockwiseKey) -> torch.Tensor:
    """The (C*H*W,) gather map of steps 1-2 over an image's values in (channel, row, column) order."""
    b, h, w, c = key.block, key.height, key.width, key.channels
    blocks = to_blocks(torch.arange(c * h * w).view(1, c, h, w), b)[0]  # flat index of each block's values
    out = blocks[torch.tensor(key.scramble)][:, torch.tensor(key.shuffle)]
    return from_blocks(out.unsqueeze(0), c, h, w, b).reshape(c * h * w)


def value_mask(key: BlockwiseKey) -> torch.Tensor | None:
    """(C*H*W,) bool: where step 3 inverts the value of the encrypted image, or None."""
    if key.negpos is None:
        return None
    b, h, w, c = key.block, key.height, key.width, key.channels
    per_block = torch.tensor(key.negpos, dtype=torch.bool).view(c, 1, b, 1, b)
    return per_block.expand(c, h // b, b, w // b, b).reshape(c * h * w)


@register_transform("blockwise", label="blockwise", before="random",
                    description="block scrambling + in-block shuffle (+ negative-positive), block = ViT patch (keyed)")
class Blockwise(PositionTransform):
    """Block-wise encryption (module docstring). ``key``: a key file or a :class:`BlockwiseKey`; without
    one, a key is drawn from ``seed`` for each image size (and channel count) it meets, with the
    steps chosen by ``scramble``, ``shuffle``, ``negpos`` and ``channel_shuffle``."""

    def __init__(self, block: int = 4, seed: int = 0, key=None, scramble: bool = True, shuffle: bool = True,
                 negpos: bool = False, channel_shuffle: bool = False, size: tuple[int, int] | None = None):
        super().__init__()
        if isinstance(key, (str, Path)):
            key = BlockwiseKey.load(key)
        if key is not None and not isinstance(key, BlockwiseKey):
            raise InputError(f"blockwise: key must be a key file or a BlockwiseKey, got {type(key).__name__}")
        if not isinstance(block, int) or block < 1:
            raise InputError(f"block size must be a positive integer, got {block!r}")
        self.key = key
        self.block = key.block if key is not None else block
        self.seed = int(seed)
        self.options = dict(scramble=bool(scramble), shuffle=bool(shuffle), negpos=bool(negpos),
                            channel_shuffle=bool(channel_shuffle))
        self._size = (key.height, key.width) if key is not None else (tuple(size) if size is not None else None)
        self._keys: dict = {}

    @classmethod
    def for_dataset(cls, dataset: str, seed: int = 0, **fixed) -> "Blockwise":
        """The block-wise transform the studies use on ``dataset``: block = the small ViT's patch."""
        return cls(**{"block": PATCH_FOR.get(dataset, 4), **fixed, "seed": seed})

    @property
    def image_size(self):
        return self._size

    def key_for(self, channels: int, h: int, w: int) -> BlockwiseKey:
        if self.key is not None:
            if (channels, h, w) != (self.key.channels, self.key.height, self.key.width):
                raise InputError(f"the key {self.key.label} is for {self.key.channels}x{self.key.height}x"
                                 f"{self.key.width} images, got {channels}x{h}x{w}")
            return self.key
        if (channels, h, w) not in self._keys:
            if h % self.block or w % self.block:
                raise InputError(f"blockwise: block {self.block} must divide the image size, got {h}x{w}")
            self._keys[(channels, h, w)] = generate_blockwise(h, w, channels, self.block, self.seed, **self.options)
        return self._keys[(channels, h, w)]

    def _maps(self, channels: int, h: int, w: int, device, inverse: bool = False):
        cache_key = ("values-inverse" if inverse else "values", channels, h, w, torch.device(device))
        if cache_key not in self._cache:
            key = self.key_for(channels, h, w)
            index = value_map(key)
            mask = value_mask(key)
            if inverse:  # the mask stays: it marks the encrypted image's inverted values
                index = invert_permutation(index)
            self._cache[cache_key] = (index.to(device), None if mask is None else mask.to(device))
        return self._cache[cache_key]

    # the (H*W,) position map of the base class: defined when values keep their channel
    def _build_index(self, h, w):
        key = self.key_for(self.key.channels if self.key is not None else 1, h, w)
        if key.moves_channels:
            raise InputError("blockwise with channel shuffling moves values between channels: it has no "
                             "(H*W,) position map (information loss and position-map attacks do not apply)")
        return value_map(key)[: h * w]

    @property
    def moves_channels(self) -> bool:
        return self.options["channel_shuffle"] if self.key is None else self.key.moves_channels

    def _run(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        batch, single = as_batch(x)
        n, c, h, w = batch.shape
        self._check_size(batch)
        index, mask = self._maps(c, h, w, batch.device, inverse)
        flat = batch.reshape(n, c * h * w)
        if inverse and mask is not None:  # undo the inversion first, then move the values back
            flat = _invert(flat, mask)
        out = torch.gather(flat, 1, index.expand(n, -1))
        if not inverse and mask is not None:
            out = _invert(out, mask)
        out = out.view(n, c, h, w)
        return out[0] if single else out

    def forward(self, x):
        return self._run(x, inverse=False)

    def inverse(self, y):
        return self._run(y, inverse=True)

    def extra_repr(self):
        if self.key is not None:
            return f"key={self.key.label}" + (", negpos" if self.key.negpos else "")
        on = [k for k, v in self.options.items() if v]
        return f"block={self.block}, seed={self.seed}, " + "+".join(on)


def _invert(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Negative-positive where ``mask`` is set, one elementwise op: 255 - v == v ^ 255 on uint8 pixels,
    1 - v == v * -1 + 1 on float pixels in [0, 1]."""
    if x.dtype == torch.uint8:
        return torch.bitwise_xor(x, mask.to(torch.uint8) * 255)
    if x.is_floating_point():
        m = mask.to(x.dtype)
        return torch.addcmul(m, x, 1 - 2 * m)
    return torch.where(mask, 255 - x, x)


__all__ = ["Blockwise", "BlockwiseKey", "KEY_FORMAT", "PATCH_FOR", "generate_blockwise", "value_map", "value_mask",
           "to_blocks", "from_blocks"]
