"""Baselines the paper's RVT is compared with (docs/algorithm.md, baselines).

- :class:`RandomPermutation`, the paper's: a fresh uniform permutation of the H*W positions for every
  image, shared by its channels. No key, nothing to decrypt; only the value histogram survives.
- :class:`Permutation` (ours): one secret permutation fixed by a seed, for every image. A fully connected
  layer can undo it, a CNN cannot; it separates "keyed" from "per-image" scrambling.
- :class:`BlockScramble` (ours): EtC-style learnable encryption: the image is cut into blocks whose
  positions are shuffled by a key, each block optionally rotated and flipped by the key too.
"""

from __future__ import annotations

import torch

from rvt.errors import InputError
from rvt.registry import register_transform
from rvt.transforms.base import PositionTransform, as_batch, gather_positions


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


@register_transform("permutation", label="permutation", description="one secret pixel permutation for every image (seeded)",
                    display="fixed permutation (one key)")
class Permutation(PositionTransform):
    """One fixed permutation of the H*W positions, determined by ``seed`` (and the image size)."""

    def __init__(self, seed: int = 0, size: tuple[int, int] | None = None):
        super().__init__()
        self.seed = int(seed)
        self._size = tuple(size) if size is not None else None

    @property
    def image_size(self):
        return self._size

    def _build_index(self, h, w):
        return torch.randperm(h * w, generator=_generator(self.seed))

    def extra_repr(self):
        return f"seed={self.seed}" + (f", size={self._size}" if self._size else "")


@register_transform("block", label="block", description="EtC-style keyed block scrambling (seeded)",
                    display="block scrambling 4x4 (fixed key)")
class BlockScramble(PositionTransform):
    """Keyed block scrambling: shuffle the positions of ``block`` x ``block`` tiles; with
    ``rotate_flip`` each tile is also rotated by a keyed multiple of 90 degrees and maybe flipped.

    Image sides must be multiples of ``block``.
    """

    def __init__(self, block: int = 4, seed: int = 0, rotate_flip: bool = True,
                 size: tuple[int, int] | None = None):
        super().__init__()
        if not isinstance(block, int) or block < 1:
            raise InputError(f"block size must be a positive integer, got {block!r}")
        self.block = block
        self.seed = int(seed)
        self.rotate_flip = bool(rotate_flip)
        self._size = tuple(size) if size is not None else None

    @property
    def image_size(self):
        return self._size

    def _build_index(self, h, w):
        b = self.block
        if h % b or w % b:
            raise InputError(f"BlockScramble(block={b}) needs image sides divisible by {b}, got {h}x{w}")
        g = _generator(self.seed)
        bh, bw = h // b, w // b
        nblocks = bh * bw
        positions = torch.arange(h * w).view(bh, b, bw, b).permute(0, 2, 1, 3).reshape(nblocks, b, b)
        order = torch.randperm(nblocks, generator=g)
        tiles = positions[order]  # output tile i holds source tile order[i]
        if self.rotate_flip:
            turns = torch.randint(0, 4, (nblocks,), generator=g)
            flips = torch.randint(0, 2, (nblocks,), generator=g).bool()
            # 8 dihedral variants of every tile, then pick one per tile: no loop over tiles
            variants = torch.stack([torch.rot90(tiles, t, dims=(1, 2)) for t in range(4)])
            variants = torch.cat([variants, variants.flip(-1)])
            tiles = variants[turns + 4 * flips.long(), torch.arange(nblocks)]
        return tiles.view(bh, bw, b, b).permute(0, 2, 1, 3).reshape(h * w)

    def extra_repr(self):
        return f"block={self.block}, seed={self.seed}, rotate_flip={self.rotate_flip}"


_M32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix (the 'lowbias' xorshift-multiply hash) of int64 values in [0, 2^32);
    products stay below 2^59, so nothing overflows int64 on any device."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    return (x >> 16) ^ x


@register_transform("random", label="random", description="a fresh uniform pixel permutation per image (the paper's baseline)",
                    display="random permutation per image (paper's baseline)", order_free=True, family="rvt",
                    authors_column=2)
class RandomPermutation(PositionTransform):
    """A fresh permutation per image, per call, drawn from a seedable generator (training); at evaluation
    (:meth:`encrypt_images`) one permutation per image fixed by the seed and the image's id, so the same
    weights get the same score at every evaluation, on any device, batch size or number of processes.

    Maps are drawn on the CPU from one generator, so a seed gives the same maps on every device.
    ``last_index`` holds the (N, H*W) maps of the latest call.
    """

    exact_inverse = False
    fixed = False

    def __init__(self, seed: int | None = None):
        super().__init__()
        self.seed = seed
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self.last_index: torch.Tensor | None = None

    def sample_index(self, n: int, h: int, w: int) -> torch.Tensor:
        """(n, H*W) independent uniform permutations."""
        return torch.rand(n, h * w, generator=self.generator).argsort(dim=1)

    def forward(self, x):
        batch, _ = as_batch(x)
        n, _, h, w = batch.shape
        index = self.sample_index(n, h, w).to(x.device, non_blocking=True)
        self.last_index = index
        return gather_positions(x, index[0] if x.dim() == 3 else index)

    def image_index(self, ids: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(N, H*W) permutations, one per image id, fixed by (seed, id): the argsort of a counter-based
        hash of (seed, id, position), computed on ids' device with integer ops (no generator state)."""
        ids = torch.as_tensor(ids, dtype=torch.int64)
        seed = int(self.generator.initial_seed()) if self.seed is None else int(self.seed)
        image = _hash32((ids & _M32) ^ _hash32(torch.tensor(seed & _M32, device=ids.device)))
        pos = torch.arange(h * w, device=ids.device, dtype=torch.int64)
        # two 32-bit hashes of (image, position) make a 63-bit sort key: ties (which argsort would break
        # by position) have probability ~ (H W)^2 / 2^64
        high = _hash32((image[:, None] + pos * 0x9E3779B9) & _M32)
        low = _hash32(((_hash32(image ^ 0x27D4EB2F))[:, None] + pos * 0x85EBCA6B) & _M32)
        return ((high << 31) | (low >> 1)).argsort(dim=1)

    def encrypt_images(self, x, ids):
        batch, _ = as_batch(x)
        _, _, h, w = batch.shape
        index = self.image_index(ids.to(x.device), h, w)
        return gather_positions(x, index[0] if x.dim() == 3 else index)

    @property
    def source_index(self):
        raise AttributeError("RandomPermutation draws one map per image: use sample_index(n, h, w)")

    def inverse(self, y):
        raise InputError("the per-image random permutation has no key: it cannot be decrypted")

    def extra_repr(self):
        return f"seed={self.seed}"
