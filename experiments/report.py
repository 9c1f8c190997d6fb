"""Rebuild the paper's table and figure from the runs' results.json files.

    python experiments/report.py [--runs outputs] [--out experiments/results] [--wandb]

Reads every ``results.json`` under ``--runs`` and writes, into ``--out``:

- ``runs.csv``: one row per run (what the other scripts read, e.g. the security study);
- ``table.md``: accuracy per dataset x model x transform, mean +- std over seeds, the accuracy loss
  against the plain images of the same cell, and the authors' published numbers beside ours;
- ``info_vs_acc.png``: information-loss rate vs accuracy-loss rate, one point per distinct map, model and
  augmentation order (cells whose plain accuracy is near chance left out), with Pearson and Spearman
  coefficients per model and pooled and the least-squares lines;
- ``strength.png``: information loss and accuracy loss against the number of vortices (generated keys);
- ``rvt_effect.png``: the RVT effect figure (plain | RVT | RVT bijective | random, MNIST, Fashion-MNIST,
  CIFAR-10, like the authors' figure; experiments/rvt_examples.py) when the datasets are in ``--data-dir``.

With ``--wandb`` one summary run is the dashboard: a Table with one row per cell (accuracy mean/std over
seeds, accuracy loss against the plain cell, information loss), an interactive scatter of accuracy loss
against information loss (all models and per model), bar charts of accuracy per dataset and transform,
the correlation coefficients in its summary; tagged with the sweep(s) of its runs (``sweep:<name>``) so it
sits beside them. Works with WANDB_MODE=offline (then ``wandb sync``).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common import ORDER_FREE, ROOT, RESULTS, command_line, datasets_present, default_data_dir
from rvt.io import atomic_path, atomic_write_text
from rvt.registry import list_transforms, spec_for_run, specs, transform_spec
from rvt.training.datasets import DATASETS
from rvt.transforms.blockwise import PATCH_FOR

# the authors' README: best test accuracy over epochs, one run each. origin / vor / random (conf/dataset/*.yaml)
AUTHORS = {(ds, m): v for ds, info in DATASETS.items() for m, v in info.authors_accuracy.items()}
AUTHORS.update({(ds, "vit_b16"): v for (ds, m), v in list(AUTHORS.items()) if m == "vit"})  # their ViT is B/16
AUTHORS_COLUMN = {s.label: s.authors_column for s in specs() if s.authors_column is not None}
FIELDS = ["experiment", "dataset", "model", "transform", "augment", "variant", "vortices", "map", "seed",
          "test_acc", "test_acc_best_epoch", "test_acc_last", "val_acc_best", "info_loss", "epochs",
          "train_seconds", "images_per_s", "accelerator", "sweep", "run_dir"]
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


#: the paper's family of maps (RVT keys of any strength, and the per-image random permutation): the claim
#: that information loss predicts accuracy loss is the paper's for these; the other keyed maps (a fixed
#: permutation, block scrambling, block-wise) test how far the measure carries beyond them
RVT_FAMILY = tuple(s.label for s in specs() if s.family == "rvt")


def rvt_family(points):
    """The points of RVT_FAMILY transforms."""
    return [p for p in points if p[5] in RVT_FAMILY]


def _fit(points):
    from scipy import stats

    x = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    if len(points) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    return {"n": len(points), "pearson": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman": float(spearman.statistic), "spearman_p": spearman_p(x, y),
            "slope": float(slope), "intercept": float(intercept)}


#: permutations for Spearman's p: all of them up to 8 points (8! = 40320), else this many random ones
SPEARMAN_RESAMPLES = 50_000


def spearman_p(x, y) -> float:
    """Two-sided p-value of Spearman's rho by permuting the pairings (scipy.stats.permutation_test):
    exact up to 8 points, else SPEARMAN_RESAMPLES seeded random pairings. spearmanr's t approximation
    says p = 0 for 4 points in perfect rank order; the exact p is 2/4! = 0.083."""
    from scipy import stats

    ry = stats.rankdata(y)
    ry = ry - ry.mean()

    def rho(rx, axis=-1):  # Pearson's r of the ranks, vectorised over permutations
        rx = rx - rx.mean(axis=axis, keepdims=True)
        return (rx * ry).sum(axis=axis) / np.sqrt((rx ** 2).sum(axis=axis) * (ry ** 2).sum())

    res = stats.permutation_test((stats.rankdata(x),), rho, permutation_type="pairings", vectorized=True,
                                 n_resamples=SPEARMAN_RESAMPLES, random_state=np.random.default_rng(0))
    return float(res.pvalue)


def correlations(points) -> dict:
    """Pearson and Spearman (with p-values) and the least-squares line, per augmentation order: over
    all models ('pooled') and per model. {(order, 'pooled' | model): fit or None}."""
    out = {}
    for order in sorted({p[4] for p in points}):
        ps = [p for p in points if p[4] == order]
        out[(order, "pooled")] = _fit(ps)
        for model in sorted({p[3] for p in ps}):
            out[(order, model)] = _fit([p for p in ps if p[3] == model])
    return out


def correlations_by_dataset(points) -> dict:
    """:func:`correlations` within each dataset: {(order, '<dataset>: pooled' | '<dataset>: <model>'): fit}.
    How much a map costs depends on the data as well as on the map (CIFAR-10 loses more accuracy at a
    lower information loss than MNIST); within one dataset only the map varies."""
    out = {}
    for ds in sorted({p[6] for p in points}):
        for (order, model), fit in correlations([p for p in points if p[6] == ds]).items():
            out[(order, f"{ds}: {model}")] = fit
    return out


#: the wandb summary's key prefix of each correlation scope (:func:`correlation_scopes`)
WANDB_PREFIX = {"all maps": "corr", "RVT family": "corr_rvt_family", "within a dataset": "corr_dataset"}


def correlation_scopes(points) -> dict:
    """{scope: {(order, model): fit}}, in the order the table and the printout show them: every map and
    dataset pooled per model, the RVT family alone, and each dataset alone."""
    return {"all maps": correlations(points), "RVT family": correlations(rvt_family(points)),
            "within a dataset": correlations_by_dataset(points)}


def correlation_markdown(scopes: dict, notes: list[str]) -> str:
    out = ["\n## Information loss vs accuracy loss\n",
           "One point per distinct map, model and augmentation order (loss rate = 1 - acc / acc of the plain "
           f"cell); cells whose plain accuracy is below {100 * NEAR_CHANCE:.0f} % are left out. Figure: "
           "info_vs_acc.png. *All maps*: every transform, the datasets pooled; *RVT family*: RVT keys of every "
           "strength and the per-image random permutation, the maps the paper's claim is about; *within a "
           "dataset*: every transform, one dataset at a time (only the map varies).\n",
           "| maps | order | model | n | Pearson r (p) | Spearman rho (p) | fit: acc-loss rate = a x info loss + b |",
           "|---|---|---|---|---|---|---|"]
    for scope, table in scopes.items():
        for (order, model), c in sorted(table.items()):
            if c is None:
                out.append(f"| {scope} | {order} | {model} | < 3 | - | - | - |")
                continue
            out.append(f"| {scope} | {order} | {model} | {c['n']} | {c['pearson']:.3f} ({c['pearson_p']:.2g}) | "
                       f"{c['spearman']:.3f} ({c['spearman_p']:.2g}) | a = {c['slope']:.3f}, b = {c['intercept']:.3f} |")
    if notes:
        out += ["", "Left out:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def table_markdown(cells, command: str) -> str:
    out = io.StringIO()
    out.write("# Accuracy on encrypted images\n\n")
    out.write(f"Produced by `{command}` from the results.json of every finished run.\n")
    out.write("Accuracies in %, mean ± std over seeds (n = number of runs). `test_acc`: checkpoint chosen on the "
              "held-out validation split; `best epoch`: the authors' protocol (best test accuracy over epochs). "
              "Order: where augmentation sits, `after` encryption (the authors' order, all that a receiver of "
              "encrypted files can do) or `before` it (a loader that holds the key). Variant: the key when it "
              "is not the dataset's authors' key (the strength axis), a vortex count of it, a transform parameter "
              "that differs from its config (e.g. scramble=false), or a command-line override that changes the "
              "recipe (e.g. optimizer.lr=1e-3). "
              "Loss: points lost against the plain images of the same dataset and model (val-selected). "
              "Authors: their README (best test epoch, one run, full training at the paper's settings; "
              "not comparable to `quick` runs). Per-image random (`random`): runs made before commit 6095874 "
              "(every random cell committed by 2026-12-06) drew fresh test maps at every evaluation, so the same "
              "weights scored differently from one evaluation to the next (by 0.6 points: CIFAR-10 ResNet seed 2, "
              "36.57 vs 37.15 for the same epoch); runs since evaluate on one map per test image fixed by the run's "
              "seed and the image (results.json `eval_maps`), so the same weights get the same score.\n")
    for exp in sorted({k[0] for k in cells}):
        out.write(f"\n## experiment={exp}\n\n")
        out.write("| dataset | model | transform | order | variant | n | test_acc | best epoch | loss (pts) | "
                  "info loss | authors |\n")
        out.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
        for k in sorted((k for k in cells if k[0] == exp), key=sort_key):
            _, ds, model, t, order, variant = k
            c = cells[k]
            base = plain_cell(cells, exp, ds, model)
            loss = "-"
            if base and base["test_acc"][0] is not None and c["test_acc"][0] is not None and t != "none":
                loss = f"{100 * (base['test_acc'][0] - c['test_acc'][0]):.2f}"
            authors = AUTHORS.get((ds, model))
            # the authors augmented after encryption; for plain images and per-image maps the order is moot
            a = (f"{authors[AUTHORS_COLUMN[t]]:.2f}" if authors and t in AUTHORS_COLUMN and not variant
                 and (order == "after" or t in ORDER_FREE) else "")
            info = "-" if c["info_loss"][0] is None else f"{c['info_loss'][0]:.3f}"
            out.write(f"| {ds} | {model} | {t} | {order} | {variant} | {c['n']} | "
                      f"{fmt(*c['test_acc'])} | {fmt(*c['test_acc_best_epoch'])} | {loss} | {info} | {a} |\n")
    return out.getvalue()


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)


#: points of the scatter labelled with their cell: accuracy-loss rate at least this
ANNOTATE_ABOVE = 0.05


def plot_scatter(points, corr, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 5.4))
    markers = {"after": "o", "before": "s", "none": "^"}
    models = sorted({p[3] for p in points})
    colours = dict(zip(models, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for model in models:
        for order in sorted({p[4] for p in points}):
            ps = [p for p in points if p[3] == model and p[4] == order]
            if not ps:
                continue
            c = corr.get((order, model))
            stat = f": r {c['pearson']:.2f}, rho {c['spearman']:.2f}, n {c['n']}" if c else ""
            ax.scatter([p[1] for p in ps], [p[2] for p in ps], color=colours[model],
                       marker=markers.get(order, "D"), label=f"{model}, augment {order}{stat}")
    for label, x, y, *_ in points:  # the far points only: the cluster near zero is table.md's to read
        if y >= ANNOTATE_ABOVE:
            ax.annotate(label, (x, y), xytext=(4, 0), textcoords="offset points", fontsize=5, alpha=0.7)
    xs = np.linspace(0, 1, 50)
    for (order, model), c in sorted(corr.items()):
        if model == "pooled" and c:
            ax.plot(xs, c["slope"] * xs + c["intercept"], "k--" if order == "after" else "k:", lw=1,
                    label=f"fit, all models, augment {order}: r {c['pearson']:.2f}, rho {c['spearman']:.2f}")
    ax.set_xlabel("information-loss rate (docs/information.md, test images)")
    ax.set_ylabel("accuracy-loss rate (1 - acc / acc plain)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=6)
    ax.set_title("Information loss vs accuracy loss (one point per distinct map and model)")
    save_figure(fig, path)


def plot_strength(cells, path: Path) -> bool:
    """Information loss and accuracy loss against the number of vortices (the strength axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = defaultdict(list)
    for k, c in cells.items():
        exp, ds, model, t, order, variant = k
        n = strength_of(variant)
        base = plain_cell(cells, exp, ds, model)
        if n is None or not base or not base["test_acc"][0] or c["test_acc"][0] is None:
            continue
        kind = variant.split(":")[0] if variant.startswith("generated:") else "authors' key"
        series[(exp, ds, model, t, order, kind)].append((n, c["info_loss"][0], 1 - c["test_acc"][0] / base["test_acc"][0]))
    if not series:
        return False
    # two panels, one scale each: the accuracy loss of a fixed map is tens of times smaller than its
    # information loss, and on one axis it would lie flat
    fig, (ax_info, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.6))
    for (exp, ds, model, t, order, kind), pts in sorted(series.items()):
        pts.sort()
        vs = [p[0] for p in pts]
        name = f"{ds}/{model}/{t}/{order} ({kind})"
        line = ax_info.plot(vs, [p[1] for p in pts], "o-", label=name)[0]
        ax_acc.plot(vs, [100 * p[2] for p in pts], "s--", color=line.get_color(), label=name)
    ticks = sorted({p[0] for pts in series.values() for p in pts})
    for ax in (ax_info, ax_acc):
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("number of vortices")
    ax_info.set_ylabel("information-loss rate (test images)")
    ax_acc.set_ylabel("accuracy loss, % of the plain accuracy")
    ax_info.legend(fontsize=6)
    fig.suptitle("RVT strength: information loss and accuracy loss")
    save_figure(fig, path)
    return True


def write_csv(rows, path: Path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in FIELDS})
    atomic_write_text(path, buf.getvalue())


#: the dashboard table's columns: one row per cell
DASHBOARD_COLUMNS = ["experiment", "dataset", "model", "transform", "order", "variant", "strength", "n_seeds",
                     "acc_mean", "acc_std", "acc_loss", "acc_loss_rate", "info_loss"]


def dashboard_rows(cells) -> list[list]:
    """One row per cell (DASHBOARD_COLUMNS): accuracies in %, ``acc_loss`` = points lost against the
    plain cell of the same experiment, dataset and model (plain images are the same in either order),
    ``acc_loss_rate`` = 1 - acc / acc plain, ``strength`` = number of vortices (RVT) where known."""
    out = []
    for k in sorted(cells, key=sort_key):
        exp, ds, model, t, order, variant = k
        c = cells[k]
        acc, std = c["test_acc"]
        base = plain_cell(cells, exp, ds, model)
        plain = base["test_acc"][0] if base else None
        loss = rate = None
        if plain and acc is not None and t != "none":
            loss, rate = 100 * (plain - acc), 1 - acc / plain
        strength = strength_of(variant) or c.get("vortices")
        out.append([exp, ds, model, t, order, variant, strength, c["n"],
                    None if acc is None else 100 * acc, None if std is None else 100 * std,
                    loss, rate, c["info_loss"][0]])
    return out


def wandb_identity(rows) -> tuple[str | None, list[str]]:
    """(group, tags) of the summary run: the sweep(s) its runs came from, as their tags ``sweep:<name>``,
    so that in wandb the summary sits beside the training runs it summarises."""
    sweeps = sorted({r["sweep"] for r in rows if r.get("sweep")})
    tags = ["summary"] + [f"sweep:{s}" for s in sweeps]
    return (sweeps[0] if len(sweeps) == 1 else None), tags


def log_wandb(rows, cells, points, scopes: dict, out: Path, project: str = "rvt"):
    """The summary run: a Table (one row per cell), an interactive scatter of accuracy loss against
    information loss (all models and one per model: the same points as the correlation), a bar chart of
    accuracy per dataset and transform per model, the coefficients in the run summary, the static figures."""
    import wandb

    group, tags = wandb_identity(rows)
    run = wandb.init(project=project, job_type="report", name=f"summary-{group}" if group else "summary",
                     group=group, tags=tags, config={"n_runs": len(rows), "n_cells": len(cells)})
    rows_per_cell = dashboard_rows(cells)
    table = wandb.Table(columns=DASHBOARD_COLUMNS, data=rows_per_cell)
    payload = {"cells": table}
    point_columns = ["point", "model", "order", "info_loss", "acc_loss_rate"]
    scatter = wandb.Table(columns=point_columns, data=[[p[0], p[3], p[4], p[1], p[2]] for p in points])
    payload["acc_loss_vs_info_loss"] = wandb.plot.scatter(
        scatter, "info_loss", "acc_loss_rate", title="accuracy-loss rate vs information-loss rate, all models")
    for model in sorted({p[3] for p in points}):
        per = wandb.Table(columns=point_columns, data=[[p[0], p[3], p[4], p[1], p[2]] for p in points if p[3] == model])
        payload[f"acc_loss_vs_info_loss/{model}"] = wandb.plot.scatter(
            per, "info_loss", "acc_loss_rate", title=f"accuracy-loss rate vs information-loss rate, {model}")
    for model in sorted({k[2] for k in cells}):
        # bars ordered dataset by dataset, so that each dataset's transforms stand together
        bars = wandb.Table(columns=["cell", "acc_mean"], data=[
            [f"{r[1]} | {r[3]}" + (f" ({r[4]})" if r[4] != "-" else "") + (f" {r[5]}" if r[5] else ""), r[8]]
            for r in rows_per_cell if r[2] == model and r[8] is not None])
        payload[f"accuracy/{model}"] = wandb.plot.bar(bars, "cell", "acc_mean",
                                                      title=f"test accuracy (%) per dataset and transform, {model}")
    for name in ("info_vs_acc.png", "strength.png"):
        if (out / name).exists():
            payload[f"figures/{name[:-4]}"] = wandb.Image(str(out / name))
    for scope, table in scopes.items():
        run.summary.update({f"{WANDB_PREFIX[scope]}/{order}/{model}/{k}": v for (order, model), c in table.items()
                            if c for k, v in c.items()})
    run.log(payload)
    run.finish()


def examples_figure(data_dir: Path, path: Path) -> bool:
    """experiments/rvt_examples.py into ``path`` when the three datasets are in ``data_dir``."""
    if not datasets_present(data_dir):
        print(f"report: no datasets in {data_dir}: rvt_effect.png not made (make data, or --data-dir)")
        return False
    script = Path(__file__).resolve().parent / "rvt_examples.py"
    p = subprocess.run([sys.executable, str(script), "--data-dir", str(data_dir), "--out", str(path)],
                       capture_output=True, text=True)
    if p.returncode:
        print(f"report: rvt_examples.py failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
        return False
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="outputs", help="folder searched for results.json")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--metric", default="test_acc", choices=["test_acc", "test_acc_best_epoch"],
                   help="accuracy used for the loss rates of the figure")
    p.add_argument("--wandb", action="store_true",
                   help="log the summary run (table, interactive scatter and bar charts) to wandb")
    p.add_argument("--wandb-project", default="rvt", help="wandb project of the summary run (default: rvt)")
    p.add_argument("--data-dir", default=str(default_data_dir()),
                   help="datasets for the RVT effect figure (rvt_effect.png)")
    p.add_argument("--no-examples", action="store_true", help="skip the RVT effect figure")
    args = p.parse_args(argv)
    rows = load_runs(Path(args.runs))
    if not rows:
        raise SystemExit(f"report: no finished runs (results.json) under {args.runs}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = summarise(rows)
    points, notes = accuracy_points(cells, args.metric)
    scopes = correlation_scopes(points)
    text = table_markdown(cells, command_line("report", argv))
    if points:
        text += correlation_markdown(scopes, notes)
    write_csv(rows, out / "runs.csv")
    atomic_write_text(out / "table.md", text)
    if points:
        plot_scatter(points, scopes["all maps"], out / "info_vs_acc.png")
    swept = plot_strength(cells, out / "strength.png")
    examples = not args.no_examples and examples_figure(Path(args.data_dir), out / "rvt_effect.png")
    print(f"{len(rows)} runs, {len(cells)} cells, {len(points)} points -> {out}/table.md, runs.csv"
          + (", info_vs_acc.png" if points else "") + (", strength.png" if swept else "")
          + (", rvt_effect.png" if examples else ""))
    for scope, table in scopes.items():
        for (order, model), c in sorted(table.items()):
            if c:
                print(f"{scope}, augment {order}, {model}: Pearson {c['pearson']:.3f}, "
                      f"Spearman {c['spearman']:.3f} over {c['n']} points")
    if args.wandb:
        log_wandb(rows, cells, points, scopes, out, project=args.wandb_project)


if __name__ == "__main__":
    main()
