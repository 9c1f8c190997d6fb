"""The report's reading of runs: results.json -> rows (transform label, variant, recipe overrides), cells
(mean and std over seeds), and the points of the information-vs-accuracy comparison.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np

from rvt.registry import list_transforms, transform_spec
from rvt.training.record import CELL, load_records, strength_of


#: a cell whose plain accuracy is below this did not learn the plain task: its losses mean nothing and it
#: is left out of the correlation (10 classes: chance is 0.10)
NEAR_CHANCE = 0.5

def transform_order() -> list[str]:
    """The transforms' labels in table order: the registry's order (rvt.registry)."""
    return [transform_spec(name).label for name in list_transforms()]


def load_runs(root: Path) -> list[dict]:
    """One row per finished run under ``root``: its cell's parts (rvt.training.record.Cell) and numbers."""
    rows = []
    for path, r in load_records(root):
        rows.append({
            **dataclasses.asdict(r.cell()), "vortices": r.active_vortices,
            "map": r.transform_map_sha1, "seed": r.seed, "test_acc": r.test_acc,
            "test_acc_best_epoch": r.test_acc_best_epoch, "test_acc_last": r.test_acc_last,
            "val_acc_best": r.val_acc_best, "info_loss": r.info_loss, "epochs": r.epochs,
            "train_seconds": r.train_seconds, "images_per_s": r.images_per_s,
            "accelerator": r.accelerator, "run_dir": str(path.parent), "sweep": r.sweep,
        })
    return rows


def mean_std(values):
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def fmt(m, s, scale=100.0):
    if m is None:
        return "-"
    return f"{scale * m:.2f} ± {scale * s:.2f}" if s else f"{scale * m:.2f}"


def summarise(rows):
    """{cell key: aggregated dict} (see CELL); ``map`` is the map digest its runs share (None if they
    differ or are drawn per image)."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in CELL)].append(r)
    cells = {}
    for k, rs in groups.items():
        cells[k] = {m: mean_std([r[m] for r in rs]) for m in ("test_acc", "test_acc_best_epoch", "info_loss")}
        cells[k]["n"] = len(rs)
        maps = {r["map"] for r in rs}
        cells[k]["map"] = maps.pop() if len(maps) == 1 else None
        vortices = {r["vortices"] for r in rs}
        cells[k]["vortices"] = vortices.pop() if len(vortices) == 1 else None
    return cells


def plain_cell(cells, exp, ds, model):
    return cells.get((exp, ds, model, "none", "-", ""))


def sort_key(k):
    order = transform_order()
    t = k[3]
    return (k[0], k[1], k[2], order.index(t) if t in order else len(order), k[4], strength_of(k[5]) or 0, k[5])


def accuracy_points(cells, metric="test_acc"):
    """One point per distinct map, model and augmentation order: (label, info loss, accuracy-loss rate,
    model, order, transform label, dataset). Cells that repeat a map already counted (e.g. 1 and 2 vortices of a key whose second
    vortex moves nothing) are dropped, and so are cells whose plain accuracy is near chance (NEAR_CHANCE).
    Returns (points, notes) where notes says what was left out."""
    points, seen, notes = [], set(), []
    for k in sorted(cells, key=sort_key):
        exp, ds, model, t, order, variant = k
        c = cells[k]
        if t == "none":
            continue
        base = plain_cell(cells, exp, ds, model)
        if not base or base[metric][0] is None or c[metric][0] is None or c["info_loss"][0] is None:
            continue
        label = f"{ds}/{model}/{t}" + (f"/{order}" if order != "-" else "") + (f"/{variant}" if variant else "")
        if base[metric][0] < NEAR_CHANCE:
            notes.append(f"{label}: left out, plain accuracy {100 * base[metric][0]:.1f} % is near chance")
            continue
        identity = (exp, ds, model, order, c["map"] or k)
        if identity in seen:
            notes.append(f"{label}: left out, the same map as a point already counted")
            continue
        seen.add(identity)
        points.append((label, c["info_loss"][0], 1 - c[metric][0] / base[metric][0], model, order, t, ds))
    return points, notes
