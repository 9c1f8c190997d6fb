"""Vortex keys: what an RVT key is, how it is stored, generated and looked up.

A key is an ordered list of vortices for one image size. Vortex k has an integer centre (c1, c2) in
MATLAB 1-based (first index, second index) coordinates, an integer radius r (r <= 0: no-op) and a
strength vector degree[0..r]; ring k of the disk turns by (r - k) * degree[k-1] / divisor radians.
``orientation`` says which image axis c1 indexes: ``row_col`` (c1 = row, the authors' MNIST and
Fashion-MNIST keys) or ``col_row`` (c1 = column: the authors' CIFAR-10 script works on the transposed
image).

Key specs accepted by :func:`load_key`: a path to a JSON key file, ``authors:<name>[:<n>]`` for the
keys released with the paper (shipped as package data, transcribed bit for bit from the authors' .mat
files; ``<n>`` keeps the first n vortices, default the number the authors' scripts used), or
``generated:<H>x<W>:<n>[:<seed>]`` for the key :func:`generate` makes (seed 0 by default): the strength
axis of the experiments, with distinct maps for 1, 2, 5, 10, 20, 40 vortices.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rvt.errors import KeyFormatError
from rvt.io import atomic_write_text

KEY_FORMAT = "rvt-key"
KEY_VERSION = 1
ORIENTATIONS = ("row_col", "col_row")


@dataclass(frozen=True)
class Vortex:
    center: tuple[int, int]
    radius: int
    degree: tuple[float, ...]

    @property
    def active(self) -> bool:
        return self.radius > 0

    def strengths(self, divisor: float) -> np.ndarray:
        """s[k] for rings k = 1..r, as an array indexed by k (s[0] unused)."""
        s = np.zeros(self.radius + 1, dtype=np.float64)
        s[1:] = np.asarray(self.degree[: self.radius], dtype=np.float64) / divisor
        return s


@dataclass(frozen=True)
class VortexKey:
    image_size: tuple[int, int]  # (H, W) of the images the key is for, as torchvision returns them
    vortices: tuple[Vortex, ...]
    divisor: float = 1000.0
    orientation: str = "row_col"
    name: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        _validate(self)

    @property
    def height(self) -> int:
        return self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size[1]

    def truncated(self, n: int) -> "VortexKey":
        """The key made of the first ``n`` vortices."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise KeyFormatError(f"number of vortices must be a non-negative integer, got {n!r}")
        if n > len(self.vortices):
            raise KeyFormatError(
                f"key {self.label} has {len(self.vortices)} vortices; {n} were asked for")
        name = f"{self.name}:{n}" if self.name else None
        return VortexKey(self.image_size, self.vortices[:n], self.divisor, self.orientation, name,
                         dict(self.meta))

    @property
    def label(self) -> str:
        return self.name or f"<{len(self.vortices)}-vortex key>"

    def to_dict(self) -> dict:
        d = {
            "format": KEY_FORMAT,
            "version": KEY_VERSION,
            "image_size": list(self.image_size),
            "divisor": self.divisor,
            "orientation": self.orientation,
            "vortices": [
                {"center": list(v.center), "radius": v.radius, "degree": list(v.degree)}
                for v in self.vortices
            ],
        }
        if self.meta:
            d["meta"] = self.meta
        return d

    def save(self, path: str | Path) -> None:
        """Write the key as JSON, atomically (a crash never leaves a half-written key)."""
        # repr of a Python float round-trips exactly, so a saved key reloads bit for bit.
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, d, name: str | None = None) -> "VortexKey":
        if not isinstance(d, dict):
            raise KeyFormatError("a key must be a JSON object")
        fmt = d.get("format", KEY_FORMAT)
        if fmt != KEY_FORMAT:
            raise KeyFormatError(f"not an RVT key (format {fmt!r}, expected {KEY_FORMAT!r})")
        if d.get("version", KEY_VERSION) != KEY_VERSION:
            raise KeyFormatError(f"unsupported key version {d.get('version')!r} (this rvt reads {KEY_VERSION})")
        missing = [k for k in ("image_size", "vortices") if k not in d]
        if missing:
            raise KeyFormatError(f"key is missing field(s): {', '.join(missing)}")
        size = d["image_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            raise KeyFormatError(f"image_size must be [height, width] integers, got {size!r}")
        vortices_raw = d["vortices"]
        if not isinstance(vortices_raw, list):
            raise KeyFormatError("vortices must be a list")
        vortices = []
        for i, v in enumerate(vortices_raw):
            if not isinstance(v, dict) or not {"center", "radius", "degree"} <= set(v):
                raise KeyFormatError(f"vortex {i}: needs center, radius and degree")
            c, r, deg = v["center"], v["radius"], v["degree"]
            if not (isinstance(c, list) and len(c) == 2 and all(_is_int(x) for x in c)):
                raise KeyFormatError(f"vortex {i}: center must be two integers, got {c!r}")
            if not _is_int(r):
                raise KeyFormatError(f"vortex {i}: radius must be an integer, got {r!r}")
            if not (isinstance(deg, list) and all(_is_number(x) for x in deg)):
                raise KeyFormatError(f"vortex {i}: degree must be a list of numbers")
            vortices.append(Vortex((int(c[0]), int(c[1])), int(r), tuple(float(x) for x in deg)))
        divisor = d.get("divisor", d.get("divisor_D", 1000.0))
        if not _is_number(divisor):
            raise KeyFormatError(f"divisor must be a number, got {divisor!r}")
        meta = d.get("meta", {})
        return cls((int(size[0]), int(size[1])), tuple(vortices), float(divisor),
                   d.get("orientation", "row_col"), name, meta)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _validate(key: VortexKey) -> None:
    h, w = key.image_size
    if h < 1 or w < 1:
        raise KeyFormatError(f"image_size must be positive, got {key.image_size}")
    if key.orientation not in ORIENTATIONS:
        raise KeyFormatError(f"orientation must be one of {ORIENTATIONS}, got {key.orientation!r}")
    if not (math.isfinite(key.divisor) and key.divisor != 0):
        raise KeyFormatError(f"divisor must be a non-zero number, got {key.divisor!r}")
    # c1 indexes the first axis of the image the key is applied to (transposed for col_row).
    n1, n2 = (h, w) if key.orientation == "row_col" else (w, h)
    for i, v in enumerate(key.vortices):
        if not v.active:
            continue
        (c1, c2), r = v.center, v.radius
        if c1 - r < 1 or c1 + r > n1 or c2 - r < 1 or c2 + r > n2:
            raise KeyFormatError(
                f"vortex {i}: disk (centre {v.center}, radius {r}) does not fit a {h}x{w} image")
        if len(v.degree) < r:
            raise KeyFormatError(f"vortex {i}: radius {r} needs at least {r} degree values, got {len(v.degree)}")
        if not all(math.isfinite(x) for x in v.degree[:r]):
            raise KeyFormatError(f"vortex {i}: degree values must be finite")


# --------------------------------------------------------------------------- authors' keys

def _authors_table() -> dict:
    text = resources.files("rvt.transforms").joinpath("authors_keys.json").read_text()
    return json.loads(text)["keys"]


def authors_key_names() -> list[str]:
    return sorted(_authors_table())


def authors_key(name: str, n_vortices: int | None = None) -> VortexKey:
    table = _authors_table()
    if name not in table:
        raise KeyFormatError(f"unknown authors' key {name!r}; known: {', '.join(sorted(table))}")
    entry = table[name]
    key = VortexKey.from_dict(
        {"image_size": entry["image_size"], "vortices": entry["vortices"],
         "divisor": entry["divisor_D"], "orientation": entry["orientation"],
         "meta": {"source_file": entry["source_file"], "note": entry["note"]}},
        name=f"authors:{name}",
    )
    n = entry["default_vortices"] if n_vortices is None else n_vortices
    key = key.truncated(n)
    return VortexKey(key.image_size, key.vortices, key.divisor, key.orientation,
                     f"authors:{name}:{n}", key.meta)


def load_key(spec: "str | Path | VortexKey", n_vortices: int | None = None) -> VortexKey:
    """Load a key from ``authors:<name>[:<n>]`` or a JSON file; optionally keep the first n vortices."""
    if isinstance(spec, VortexKey):
        return spec if n_vortices is None else spec.truncated(n_vortices)
    spec = str(spec)
    if spec.startswith("generated:"):
        return _generated_key(spec, n_vortices)
    if spec.startswith("authors:"):
        parts = spec.split(":")
        if len(parts) > 3 or not parts[1]:
            raise KeyFormatError(f"bad key spec {spec!r}; use authors:<name> or authors:<name>:<n>")
        n = n_vortices
        if len(parts) == 3:
            if not parts[2].isdigit():
                raise KeyFormatError(f"bad vortex count in key spec {spec!r}")
            if n is not None and n != int(parts[2]):
                raise KeyFormatError(f"key spec {spec!r} and --vortices {n} disagree")
            n = int(parts[2])
        return authors_key(parts[1], n)
    path = Path(spec)
    if not path.exists():
        raise KeyFormatError(f"key file not found: {spec} (or use authors:<name>, one of "
                        f"{', '.join(authors_key_names())})")
    try:
        d = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KeyFormatError(f"key file {spec} is not valid JSON ({e})") from None
    except OSError as e:
        raise KeyFormatError(f"cannot read key file {spec}: {e.strerror}") from None
    key = VortexKey.from_dict(d, name=path.stem)
    return key if n_vortices is None else key.truncated(n_vortices)


def _generated_key(spec: str, n_vortices: int | None) -> VortexKey:
    """``generated:<H>x<W>:<n>[:<seed>]``: the key :func:`generate` makes, named by its spec."""
    parts = spec.split(":")
    size = parts[1].split("x") if len(parts) in (3, 4) else []
    numbers = size + parts[2:]
    if len(size) != 2 or not all(p.isdigit() for p in numbers):
        raise KeyFormatError(f"bad key spec {spec!r}; use generated:<H>x<W>:<n vortices>[:<seed>], "
                             "e.g. generated:28x28:10:0")
    h, w, n = int(size[0]), int(size[1]), int(parts[2])
    seed = int(parts[3]) if len(parts) == 4 else 0
    if n_vortices is not None and n_vortices != n:
        raise KeyFormatError(f"key spec {spec!r} and --vortices {n_vortices} disagree")
    key = generate(h, w, n, seed=seed)
    return VortexKey(key.image_size, key.vortices, key.divisor, key.orientation,
                     f"generated:{h}x{w}:{n}:{seed}", key.meta)


# --------------------------------------------------------------------------- key generation

def _strength_family(j: int, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The authors' five strength profiles f1..f5 (Random_Function), x in [0, 1]."""
    w1, w2, w3, w4, w5, w6 = w
    if j == 1:
        return w1 * np.sin(w2 * x + w3) + w4 * np.cos(w5 * x + w6)
    if j == 2:
        return w1 * x + w2 * x**3 + w3 * np.exp(2 * x) + w4 * np.cos(w5 * x + w6)
    if j == 3:
        return w1 * np.sqrt(x) + w2 * x**2 + w3 * np.exp(x) + w4 * np.sin(w5 * x + w6)
    if j == 4:
        return w1 * x**5 + w2 * np.log(x + 1) + w3 * np.exp(x) + w4 * np.cos(w5 * x + w6)
    return w1 * 2.0**x + w2 * (2 * x) + w3 * np.log10(x + 1) + w4 * np.sin(w5 * x + w6)


def default_strength(height: int, width: int) -> tuple[float, float]:
    """(S, D) the authors used: 800 / 1000 for 28x28 (MNIST, Fashion), 1000 / 10000 for CIFAR-10."""
    return (800.0, 1000.0) if max(height, width) <= 28 else (1000.0, 10000.0)


def _matlab_round(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def generate(height: int, width: int, n_vortices: int, seed: int = 0,
             strength: float | None = None, divisor: float | None = None) -> VortexKey:
    """A fresh key by the authors' ``Random_Function`` procedure (docs/algorithm.md), from a numpy seed.

    Centre = round((U1 * H, U2 * W)) for a uniform point of the unit square; radius = the largest
    disk that fits, minus one (r in {-1, 0}: a no-op vortex, kept so that vortex k always uses
    family (k mod 5) + 1 as the authors do); six weights ~ U[-2, 0); degree[i] = S * f_j(i / r).
    The authors drew from MATLAB's generator, so the same seed does not give their keys.
    """
    for n, what in ((height, "height"), (width, "width"), (n_vortices, "number of vortices")):
        if not _is_int(n) or n < (0 if what == "number of vortices" else 1):
            raise KeyFormatError(f"{what} must be a positive integer, got {n!r}")
    s_default, d_default = default_strength(height, width)
    strength = s_default if strength is None else float(strength)
    divisor = d_default if divisor is None else float(divisor)
    if not math.isfinite(strength):
        raise KeyFormatError(f"strength must be finite, got {strength}")
    rng = np.random.default_rng(seed)
    vortices = []
    for k in range(1, n_vortices + 1):
        c1, c2 = (int(v) for v in _matlab_round(rng.random(2) * np.array([height, width])))
        r = min(abs(c1 - height), abs(c2 - width), c1, c2) - 1
        if r <= 0:
            vortices.append(Vortex((c1, c2), r, (1.0,)))
            continue
        weights = rng.uniform(-2.0, 0.0, size=6)
        x = np.arange(r + 1, dtype=np.float64) / r
        degree = strength * _strength_family(k % 5 + 1, weights, x)
        vortices.append(Vortex((c1, c2), r, tuple(float(v) for v in degree)))
    return VortexKey((height, width), tuple(vortices), divisor, "row_col", None,
                     {"generator": "rvt.generate", "seed": seed, "strength": strength})
