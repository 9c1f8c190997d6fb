"""The report's reading of runs: results.json -> rows (transform label, variant, recipe overrides), cells
(mean and std over seeds), and the points of the information-vs-accuracy comparison.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common import ROOT
from rvt.registry import list_transforms, spec_for_run, transform_spec
from rvt.transforms.blockwise import PATCH_FOR


#: a cell whose plain accuracy is below this did not learn the plain task: its losses mean nothing and it
#: is left out of the correlation (10 classes: chance is 0.10)
NEAR_CHANCE = 0.5

def transform_order() -> list[str]:
    """The transforms' labels in table order: the registry's order (rvt.registry)."""
    return [transform_spec(name).label for name in list_transforms()]


def transform_label(r: dict) -> str:
    """The registry label of a run's transform, from the name and parameters its results.json recorded
    (``rvt`` with mode bijective -> ``rvt-bijective``); the recorded name when no entry matches."""
    name = r.get("transform") or "none"
    params = r.get("transform_params") or {"mode": r.get("transform_mode")}
    spec = spec_for_run(name, {k: v for k, v in params.items() if v is not None})
    return spec.label if spec else name


#: transform parameters variant_of reports its own way (the key, its vortex count) or through the label
#: (the mode); a keyed transform's literal seed is compared like any other parameter (seed=1: another key)
KEY_PARAMS = ("key", "mode", "vortices")


@functools.cache
def conf_defaults(name: str) -> dict:
    """The literal defaults of conf/transform/<name>.yaml (interpolations left out); {} without a file."""
    from omegaconf import OmegaConf

    path = ROOT / "conf" / "transform" / f"{name}.yaml"
    if not path.exists():
        return {}
    conf = OmegaConf.load(path)
    return {k: conf[k] for k in conf if k not in KEY_PARAMS and not OmegaConf.is_interpolation(conf, k)}


#: command-line overrides that do not change what a cell's run learns: the cell's own axes (experiment,
#: dataset, model, transform, seed, augmentation order; the transform's parameters and a ResNet's patchify
#: stem are named by variant_of and model_label) and where or how a run is done, logged and evaluated
RECIPE_FREE = {"experiment", "dataset", "model", "transform", "seed", "data.augment", "model.stem_patch",
               "trainer.accelerator", "trainer.devices", "trainer.num_nodes", "trainer.strategy", "logger",
               "paths", "progress", "progress_every_s", "sweep", "tags", "ckpt_path", "test", "grid",
               "test_every_epoch", "data.num_workers", "data.resident", "data.eval_batch_size", "data.data_dir",
               "dataset.download", "module.compile", "module.channels_last"}
RECIPE_FREE_PREFIXES = ("transform.", "hydra.", "logger.", "paths.", "info_loss.")
#: group choices that only pick the device (trainer=debug, which cuts the run short, is a recipe change)
RECIPE_FREE_CHOICES = {"trainer=cpu", "trainer=gpu", "trainer=ddp", "trainer=default"}


def recipe_overrides(r: dict) -> list[str]:
    """The overrides a run's results.json recorded that change its recipe (e.g. ``optimizer.lr=1e-3``,
    ``dataset.augmentation.padding=0``), sorted; [] for a run of the experiment's recipe or one recorded
    before results.json kept its overrides."""
    out = []
    for o in r.get("overrides") or []:
        key = o.lstrip("+~").split("=", 1)[0]
        if key not in RECIPE_FREE and o not in RECIPE_FREE_CHOICES and not key.startswith(RECIPE_FREE_PREFIXES):
            out.append(o)
    return sorted(out)


def variant_of(r: dict) -> str:
    """What distinguishes a run from its transform's default for the dataset, '' for the default: a
    generated or other key (its label, e.g. generated:28x28:10:2) or a vortex count of the default key
    (v5), then every parameter that differs from the transform's config (e.g. scramble=false); for
    blockwise, a block other than the ViT patch the studies use on the dataset (PATCH_FOR); last, the
    command-line overrides that change the recipe (recipe_overrides: a probe with another learning rate
    is its own cell, never averaged into the recipe's)."""
    params = r.get("transform_params") or {}
    key, vortices = params.get("key"), params.get("vortices")
    parts = []
    if key and key != f"authors:{r['dataset']}":
        parts.append(r.get("key_label") or str(key))
    elif vortices is not None:
        parts.append(f"v{vortices}")
    defaults = conf_defaults(r.get("transform") or "none")
    if r.get("transform") == "blockwise" and r["dataset"] in PATCH_FOR:
        defaults = {"block": PATCH_FOR[r["dataset"]], **defaults}
    for k, default in defaults.items():
        v = params.get(k)
        if v is not None and v != default:
            parts.append(f"{k}={str(v).lower() if isinstance(v, bool) else v}")
    return ",".join(parts + recipe_overrides(r))


def strength_of(variant: str) -> int | None:
    """The number of vortices a variant names (generated:HxW:<n>:seed, v<n>, first of its parts), else None."""
    variant = variant.split(",")[0]
    if variant.startswith("generated:"):
        return int(variant.split(":")[2])
    return int(variant[1:]) if variant.startswith("v") and variant[1:].isdigit() else None


def model_label(r: dict) -> str:
    """The model's name, with ``-patch<B>`` for a ResNet with a B x B patchify stem (its own cell: the
    block-wise CNN counterpart of docs/blockwise.md, not the quick recipe's ResNet)."""
    patch = (r.get("model_size") or {}).get("stem_patch")
    return f"{r['model']}-patch{patch}" if patch else r["model"]


def load_runs(root: Path) -> list[dict]:
    rows = []
    for path in sorted(root.rglob("results.json")):
        try:
            r = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            print(f"skipping unreadable {path}")
            continue
        if r.get("status", "finished") != "finished" or r.get("test_acc") is None:
            continue
        label = transform_label(r)
        rows.append({
            "experiment": r.get("experiment") or "none", "dataset": r["dataset"], "model": model_label(r),
            "transform": label,
            # plain images are the same in either order: one plain cell per dataset x model
            "augment": "-" if label == "none" else (r.get("augment") or "after"),
            "variant": variant_of(r), "vortices": r.get("active_vortices"),
            "map": r.get("transform_map_sha1"), "seed": r.get("seed"), "test_acc": r.get("test_acc"),
            "test_acc_best_epoch": r.get("test_acc_best_epoch"), "test_acc_last": r.get("test_acc_last"),
            "val_acc_best": r.get("val_acc_best"), "info_loss": r.get("info_loss"), "epochs": r.get("epochs"),
            "train_seconds": r.get("train_seconds"), "images_per_s": r.get("images_per_s"),
            "accelerator": r.get("accelerator"), "run_dir": str(path.parent), "sweep": r.get("sweep"),
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


#: a cell: (experiment, dataset, model, transform label, augmentation order, variant)
CELL = ("experiment", "dataset", "model", "transform", "augment", "variant")


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
