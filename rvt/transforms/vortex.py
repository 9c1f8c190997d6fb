"""The Random Vortex Transformation as one gather map.

Two modes share the key and the geometry (docs/algorithm.md):

``authors``
    The authors' MATLAB loop, exactly: per vortex, on the (2r+1)^2 window around the centre, with the
    centre half a pixel off (Mx = My = r + 0.5), every pixel at distance rho <= r from it takes the
    pixel at angle phi + (r - k) * s[k], k = round(rho), positions rounded half away from zero as
    MATLAB does. Vortices apply in order. The rounded gather is not a bijection (some pixels are
    copied twice, others lost), so the inverse is best effort.
``bijective``
    Ours: the pixels of ring k (round(rho) = k) are listed by angle and rotated cyclically by
    round(delta_k * n_k / 2 pi) places, delta_k = (r - k) * s[k], in the direction of ``authors``.
    A permutation: decryption is exact and the pixel histogram is kept.

Both are computed once, in float64, by pushing a "label image" (each pixel holding its own flat index)
through the vortices; the labels that end up at each position are the composed gather map.
"""

from __future__ import annotations

import numpy as np
import torch

from rvt.errors import InputError, KeyFormatError
from rvt.registry import register_transform
from rvt.transforms.keys import Vortex, VortexKey, load_key
from rvt.transforms.base import PositionTransform, is_permutation

MODES = ("authors", "bijective")


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's round: halves go away from zero (numpy's round goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def window_polar(r: int):
    """Window coordinates x (first index), y (second index), 1-based, with rho and phi about (r+.5, r+.5)."""
    side = 2 * r + 1
    m = side / 2.0
    x, y = np.meshgrid(np.arange(1, side + 1, dtype=np.float64),
                       np.arange(1, side + 1, dtype=np.float64), indexing="ij")
    xo, yo = x - m, y - m
    return x, y, np.sqrt(xo * xo + yo * yo), np.arctan2(yo, xo), m


def vortex_window_map_authors(v: Vortex, divisor: float) -> np.ndarray:
    """(2r+1, 2r+1, 2) int array: window position (x, y) takes window position map[x, y] (0-based)."""
    r = v.radius
    x, y, rho, phi, m = window_polar(r)
    s = v.strengths(divisor)
    inside = rho <= r
    k = matlab_round(rho).astype(np.int64)
    k = np.where(inside, k, 0)
    theta = phi + (r - k) * s[k]
    sx = matlab_round(rho * np.cos(theta) + m)
    sy = matlab_round(rho * np.sin(theta) + m)
    src = np.stack([np.where(inside, sx, x), np.where(inside, sy, y)], axis=-1).astype(np.int64) - 1
    return src


def vortex_window_map_bijective(v: Vortex, divisor: float) -> np.ndarray:
    """Same layout as :func:`vortex_window_map_authors`, but each ring is rotated as a whole."""
    r = v.radius
    x, y, rho, phi, _ = window_polar(r)
    s = v.strengths(divisor)
    src = np.stack([x, y], axis=-1).astype(np.int64) - 1
    k = matlab_round(rho).astype(np.int64)
    inside = rho <= r
    flat_src = src.reshape(-1, 2)
    out = flat_src.copy()
    for ring in range(1, r + 1):  # at most r rings per vortex: a loop over rings, never over pixels
        members = np.flatnonzero((inside & (k == ring)).ravel())
        if members.size == 0:
            continue
        # order by angle (ties broken by distance, then position: deterministic)
        order = members[np.lexsort((members, rho.ravel()[members], phi.ravel()[members]))]
        n = order.size
        delta = (r - ring) * s[ring]
        shift = int(matlab_round(delta * n / (2 * np.pi))) % n
        # output at angle phi takes the source near phi + delta: element i takes element i + shift
        out[order] = flat_src[np.roll(order, -shift)]
    return out.reshape(src.shape)


def vortex_source_index(key: VortexKey, mode: str = "authors") -> np.ndarray:
    """The composed (H*W,) gather map of all the key's vortices, row-major on the H x W image."""
    if mode not in MODES:
        raise InputError(f"unknown RVT mode {mode!r}; use one of {', '.join(MODES)}")
    h, w = key.image_size
    labels = np.arange(h * w, dtype=np.int64).reshape(h, w)
    if key.orientation == "col_row":  # the authors' CIFAR script swirls the transposed image
        labels = labels.T.copy()
    window_map = vortex_window_map_authors if mode == "authors" else vortex_window_map_bijective
    for v in key.vortices:
        if not v.active:
            continue
        (c1, c2), r = v.center, v.radius
        a, b = c1 - r - 1, c2 - r - 1  # 0-based top-left corner of the window
        window = labels[a:a + 2 * r + 1, b:b + 2 * r + 1]
        src = window_map(v, key.divisor)
        labels[a:a + 2 * r + 1, b:b + 2 * r + 1] = window[src[..., 0], src[..., 1]]
    if key.orientation == "col_row":
        labels = labels.T
    return np.ascontiguousarray(labels).reshape(-1)


# decorators apply bottom-up: `rvt` registers first (registration order = table order)
@register_transform("rvt_bijective", defaults={"mode": "bijective"}, label="rvt-bijective", run_name="rvt",
                    description="Random Vortex Transformation, our lossless mode (exact decryption)",
                    display="RVT, authors' key, bijective mode", family="rvt")
@register_transform("rvt", defaults={"mode": "authors"}, label="rvt-authors",
                    description="Random Vortex Transformation, the authors' mode (bit-exact, lossy)",
                    display="RVT, authors' key, authors mode (lossy)", family="rvt", authors_column=1)
class RVT(PositionTransform):
    """Random Vortex Transformation with a key, as one gather per batch.

    ``RVT(key, mode="authors")`` reproduces the authors' code bit for bit; ``mode="bijective"`` is our
    lossless variant with an exact ``inverse``. ``key`` is a :class:`VortexKey` or a spec accepted by
    :func:`rvt.load_key` (``authors:mnist``, ``key.json``); ``vortices`` keeps the first n.
    ``allow_identity=False`` refuses a key with no active vortex (it would leave every image as it is);
    the ``rvt`` command and training set it.
    """

    def __init__(self, key: "VortexKey | str", mode: str = "authors", vortices: int | None = None,
                 allow_identity: bool = True):
        super().__init__()
        if mode not in MODES:
            raise InputError(f"unknown RVT mode {mode!r}; use one of {', '.join(MODES)}")
        self.key = load_key(key, vortices)
        if not allow_identity and not any(v.active for v in self.key.vortices):
            raise KeyFormatError(
                f"key {self.key.label} has no active vortex: it would leave every image unchanged "
                "(use more vortices, or allow it explicitly: --allow-identity / transform.allow_identity=true)")
        self.mode = mode
        index = torch.from_numpy(vortex_source_index(self.key, mode))
        # a buffer, so the map follows .to(device) and is saved in checkpoints
        self.register_buffer("_source_index", index, persistent=False)
        self.exact_inverse = is_permutation(index)

    @classmethod
    def for_dataset(cls, dataset: str, seed: int = 0, **kwargs) -> "RVT":
        """The authors' key of ``dataset`` (studies and benchmarks); ``seed`` is not used."""
        return cls(f"authors:{dataset}", **kwargs)

    @property
    def image_size(self):
        return self.key.image_size

    def _build_index(self, h, w):
        return self._source_index.cpu()

    def index_for(self, h, w, device="cpu"):
        if torch.device(device) == self._source_index.device:
            return self._source_index
        return super().index_for(h, w, device)

    def _build_inverse_index(self, h, w):
        """Exact for a permutation; else each source takes the lowest output that holds it, and a lost
        source provisionally takes the cipher pixel at its own position (see :meth:`inverse`)."""
        index = self._source_index.cpu()
        p = index.numel()
        inverse = torch.full((p,), p, dtype=torch.long)
        inverse.scatter_reduce_(0, index, torch.arange(p), reduce="amin")  # deterministic with duplicates
        lost = inverse == p
        inverse[lost] = torch.arange(p)[lost]
        return inverse

    def _lost_neighbours(self, device):
        """(lost positions (L,), their 8-neighbours (L, 8), weights (L, 8)): the neighbours that are
        inside the image and not lost themselves; cached per device."""
        cache_key = ("lost_neighbours", device)
        if cache_key not in self._cache:
            h, w = self.image_size
            lost = self.lost_positions()
            rows, cols = lost // w, lost % w
            dr = torch.tensor([-1, -1, -1, 0, 0, 1, 1, 1])
            dc = torch.tensor([-1, 0, 1, -1, 1, -1, 0, 1])
            nr, nc = rows[:, None] + dr, cols[:, None] + dc
            inside = (nr >= 0) & (nr < h) & (nc >= 0) & (nc < w)
            neighbours = (nr.clamp(0, h - 1) * w + nc.clamp(0, w - 1))
            is_lost = torch.zeros(h * w, dtype=torch.bool)
            is_lost[lost] = True
            weights = (inside & ~is_lost[neighbours]).float()
            self._cache[cache_key] = tuple(t.to(device) for t in (lost, neighbours, weights))
        return self._cache[cache_key]

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Decrypt. Exact in bijective mode. In authors mode every pixel that survived encryption is put
        back exactly, and each lost pixel (no output holds it; 68 of 784 with the MNIST key) is
        estimated as the mean of its surviving 8-neighbours: the best a key holder can do."""
        out = super().inverse(y)
        if self.exact_inverse:
            return out
        lost, neighbours, weights = self._lost_neighbours(out.device)
        found = weights.sum(1)
        lost, neighbours, weights, found = lost[found > 0], neighbours[found > 0], weights[found > 0], found[found > 0]
        flat = out.reshape(-1, out.shape[-2] * out.shape[-1])  # a view: out is freshly gathered
        values = flat[:, neighbours].to(torch.float32 if not out.dtype.is_floating_point else out.dtype)
        estimate = (values * weights).sum(-1) / found
        if not out.dtype.is_floating_point:
            estimate = estimate.round()
        flat[:, lost] = estimate.to(out.dtype)
        return out

    def lost_positions(self) -> torch.Tensor:
        """Source positions no output holds (empty in bijective mode)."""
        counts = torch.bincount(self._source_index.cpu(), minlength=self._source_index.numel())
        return torch.nonzero(counts == 0).flatten()

    def duplicated_positions(self) -> torch.Tensor:
        """Source positions held by more than one output."""
        counts = torch.bincount(self._source_index.cpu(), minlength=self._source_index.numel())
        return torch.nonzero(counts > 1).flatten()

    def extra_repr(self):
        return f"key={self.key.label}, mode={self.mode}, size={self.key.image_size}"
