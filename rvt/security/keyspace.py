"""Key-space analysis of RVT: keys a small step away from a key, and how many distinct maps (and identity
maps) generated keys give."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace

import numpy as np

from rvt.transforms.keys import Vortex, generate
from rvt.transforms.vortex import vortex_source_index


def perturbed_keys(key):
    """(label, key) variants of ``key`` a small step away."""
    active = [i for i, v in enumerate(key.vortices) if v.active]
    big = max(active, key=lambda i: key.vortices[i].radius)
    v = key.vortices[big]
    r = v.radius
    out = []

    def with_vortex(i, nv):
        vs = list(key.vortices)
        vs[i] = nv
        return replace(key, vortices=tuple(vs))

    ring = max(1, r // 2)
    deg = list(v.degree)
    deg[ring - 1] *= 1 + 1e-3
    out.append((f"one degree value x (1 + 1e-3) (vortex {big}, ring {ring})",
                with_vortex(big, Vortex(v.center, r, tuple(deg)))))
    for eps in (1e-3, 1e-2, 1e-1):
        out.append((f"all degrees of vortex {big} x (1 + {eps:g})",
                    with_vortex(big, Vortex(v.center, r, tuple(d * (1 + eps) for d in v.degree)))))
    h, w = key.image_size
    n1, n2 = (h, w) if key.orientation == "row_col" else (w, h)
    (c1, c2) = v.center
    for d1, d2 in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        a, b = c1 + d1, c2 + d2
        if a - r >= 1 and a + r <= n1 and b - r >= 1 and b + r <= n2:
            out.append((f"centre of vortex {big} moved by ({d1}, {d2})",
                        with_vortex(big, Vortex((a, b), r, v.degree))))
            break
    return out


def key_space_counts(key_seeds: int, h: int = 28, w: int = 28, n: int = 10) -> dict:
    """Distinct maps (per mode) and identity maps among ``key_seeds`` generated h x w keys of n vortices,
    active vortices per key, distinct (centre, radius) pairs; and the analytic count of centres that make a
    vortex active on 28 x 28 images."""
    t0 = time.time()
    hashes = {"authors": set(), "bijective": set()}
    centres, active_counts, identity_keys = set(), [], 0
    for s in range(key_seeds):
        key = generate(h, w, n, s)
        act = [v for v in key.vortices if v.active]
        active_counts.append(len(act))
        centres.update((v.center, v.radius) for v in act)
        for mode in hashes:
            m = vortex_source_index(key, mode)
            hashes[mode].add(hashlib.blake2b(m.astype(np.int64).tobytes(), digest_size=16).digest())
            if mode == "bijective" and np.array_equal(m, np.arange(h * w)):
                identity_keys += 1
    dt = time.time() - t0
    # analytic: centre = round(U * 28) in 0..28 per axis; the vortex is active when
    # r = min(|c1-28|, |c2-28|, c1, c2) - 1 >= 1, i.e. c in 2..26 on both axes; r follows from the centre
    radius = {(a, b): min(abs(a - 28), abs(b - 28), a, b) - 1 for a in range(29) for b in range(29)}
    radii = sorted({r for r in radius.values() if r >= 1})
    return dict(distinct_maps={mode: len(found) for mode, found in hashes.items()}, identity_maps=identity_keys,
                active_vortices_mean=float(np.mean(active_counts)), active_min=min(active_counts),
                active_max=max(active_counts), seconds=dt, active_centres=sum(1 for r in radius.values() if r >= 1),
                radius_max=radii[-1], radii=len(radii), distinct_centre_radius=len(centres))
