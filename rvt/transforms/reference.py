"""A per-pixel, pure-Python transcription of the authors' MATLAB loop (docs/algorithm.md).

This is the oracle the tests check the fast gather against, and the baseline ``rvt bench`` compares
with. It is deliberately naive and independent of :mod:`rvt.transforms.vortex`: 1-based indices, one pixel at a
time, MATLAB rounding written out again. Never use it for real data: it is ~10^4 times slower.
"""

from __future__ import annotations

import math


def _round_half_away(v: float) -> int:
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))


def rvt_reference(image, vortices, divisor, orientation="row_col"):
    """Apply vortices to one image, pixel by pixel.

    ``image``: nested lists (H x W, or H x W x C: channels move together); ``vortices``: iterable of
    (center, radius, degree) as in the key files. Returns a new nested list.
    """
    img = [list(row) for row in image]
    if orientation == "col_row":
        img = [list(col) for col in zip(*img)]
    for (c1, c2), r, degree in vortices:
        if r <= 0:
            continue
        w = h = 2 * r + 1
        # T = image(c1-r:c1+r, c2-r:c2+r), 1-based -> T[x][y] with x, y in 1..w
        T = {(x, y): img[c1 - r - 1 + x - 1][c2 - r - 1 + y - 1]
             for x in range(1, w + 1) for y in range(1, h + 1)}
        Mx = My = w / 2
        V = dict(T)
        for y in range(1, h + 1):
            for x in range(1, w + 1):
                xo, yo = x - Mx, y - My
                rho = math.sqrt(xo * xo + yo * yo)
                if rho > r:
                    continue
                phi = math.atan2(yo, xo)
                k = _round_half_away(rho)
                theta = phi + (r - k) * (degree[k - 1] / divisor)
                X = _round_half_away(rho * math.cos(theta) + Mx)
                Y = _round_half_away(rho * math.sin(theta) + My)
                V[(x, y)] = T[(X, Y)]
        for (x, y), value in V.items():
            img[c1 - r - 1 + x - 1][c2 - r - 1 + y - 1] = value
    if orientation == "col_row":
        img = [list(col) for col in zip(*img)]
    return img


def key_vortices(key):
    """(center, radius, degree) triples of a :class:`rvt.VortexKey`, for :func:`rvt_reference`."""
    return [(v.center, v.radius, v.degree) for v in key.vortices]
