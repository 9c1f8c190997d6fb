"""The predictor's validation (experiments/predictor.py report): the numbers, the markdown, the figure.

Each committed cell is one point: its measured accuracy loss (points against its plain cell) beside the
probes' features and the paper's information loss. Two features, each with its own line loss = a * f + b
(least squares; validation leave one dataset out: fit on the cells of two datasets, predict the third):

- ``gap``: plain probe's minus encrypted probe's validation accuracy, in points (the design fixed before
  any probe was compared with a test accuracy);
- ``relative gap``: the same as a share of the plain probe's accuracy, in % (chosen after the first
  validation showed that the gap's scale differs between datasets whose probes are at different stages
  of learning: informed by the committed runs, so its leave-one-dataset-out figures are the honest ones).

predict.py uses :data:`PRIMARY`. Correlations carry bootstrap 95 % intervals over cells
(scipy.stats.bootstrap, paired, 2000 resamples, seed 0).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from scipy import stats

from rvt.io import atomic_write_text
from rvt.training.probe import bounded_loss, budget, features, usable_fraction

FEATURES = ("gap", "relative gap")
#: the probes' features (rvt.training.probe.features) and the one predict.py uses (rvt/training/predictor.json)
PRIMARY = "relative gap"


def budget_label() -> str:
    b = budget()
    return (f"{100 * b['step_fraction']:g} % of the quick run's training images each, in batches of at most "
            f"{b['probe_batch']}")


def points(cells: dict, probes: dict) -> list[dict]:
    from experiments.predictor import plain_overrides

    out = []
    for key, c in sorted(cells.items()):
        enc = probes.get(tuple(c["overrides"]))
        plain = probes.get(tuple(plain_overrides(c["overrides"])))
        if enc is None or plain is None:
            continue
        _, ds, model, t, order, variant = key
        out.append(dict(dataset=ds, model=model, transform=t, order=order, variant=variant, fixed=c["fixed"],
                        measured=c["loss"], plain_acc=c["plain_acc"], info_loss=c["info_loss"], n_seeds=c["n_seeds"],
                        **features(plain, enc),
                        usable=usable_fraction(plain, enc),
                        probe_seconds=enc["seconds"], plain_probe_seconds=plain["seconds"]))
    return out


def fit(xs, ys) -> tuple[float, float]:
    a, b = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


def leave_one_dataset_out(pts: list[dict], feature: str) -> None:
    """Adds ``predicted <feature>``: each point predicted by the fit on the other datasets' points, held to an
    accuracy within [0, 100] % as predict.py holds it (bounded_loss), and ``unbounded <feature>``: the same
    line alone (the report states what the bound does)."""
    for ds in {p["dataset"] for p in pts}:
        train = [p for p in pts if p["dataset"] != ds]
        a, b = fit([p[feature] for p in train], [p["measured"] for p in train])
        for p in pts:
            if p["dataset"] == ds:
                p[f"unbounded {feature}"] = a * p[feature] + b
                p[f"predicted {feature}"] = bounded_loss(p[f"unbounded {feature}"], p["plain_acc"])


#: the fewest cells a scope needs for its correlations (fewer: "-")
MIN_POINTS = 6


def correlation(x, y) -> dict:
    """Spearman and Pearson with paired bootstrap 95 % intervals; n, p-values. Under MIN_POINTS cells none
    (a bootstrap over 4 points is mostly ties: no interval)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = {"n": len(x)}
    if len(x) < MIN_POINTS:
        return out
    for name, fn in (("spearman", lambda a, b: stats.spearmanr(a, b)[0]), ("pearson", lambda a, b: stats.pearsonr(a, b)[0])):
        r = fn(x, y)
        p = (stats.spearmanr(x, y) if name == "spearman" else stats.pearsonr(x, y))[1]
        ci = stats.bootstrap((x, y), fn, paired=True, vectorized=False, n_resamples=2000, method="percentile",
                             random_state=np.random.default_rng(0)).confidence_interval
        out[name] = (float(r), float(p), float(ci.low), float(ci.high))
    return out


def scopes(pts: list[dict]) -> dict:
    out = {"pooled": pts}
    for m in sorted({p["model"] for p in pts}):
        out[f"model {m}"] = [p for p in pts if p["model"] == m]
    out["keyed maps (pooled)"] = [p for p in pts if p["fixed"]]
    out["RVT family, after"] = [p for p in pts if p["transform"].startswith("rvt") and p["order"] == "after"]
    return out


def _fmt(c, name):
    if name not in c:
        return "-"
    r, p, lo, hi = c[name]
    return f"{r:.2f} [{lo:.2f}, {hi:.2f}] (p {p:.2g})"


def _scope_table(pts: list[dict], key: str) -> list[str]:
    """Markdown rows: per scope, the prediction ``key``'s and the paper's measure's correlations with the
    measured loss, and the prediction's mean absolute error."""
    lines = ["| scope | n | predictor: Spearman | predictor: Pearson | paper's information loss: Spearman | "
             "paper's information loss: Pearson | MAE (points) |", "|---|---|---|---|---|---|---|"]
    for name, sub in scopes(pts).items():
        if len(sub) < 4:
            lines.append(f"| {name} | {len(sub)} | - | - | - | - | - |")
            continue
        pred = correlation([p[key] for p in sub], [p["measured"] for p in sub])
        info = correlation([p["info_loss"] for p in sub], [p["measured"] for p in sub])
        mae = float(np.mean([abs(p[key] - p["measured"]) for p in sub]))
        lines.append(f"| {name} | {len(sub)} | {_fmt(pred, 'spearman')} | {_fmt(pred, 'pearson')} | "
                     f"{_fmt(info, 'spearman')} | {_fmt(info, 'pearson')} | {mae:.2f} |")
    return lines


def write_report(cells: dict, probes: dict, results: Path, calibration: Path) -> list[dict]:
    pts = points(cells, probes)
    if len({p["dataset"] for p in pts}) < 2:
        raise SystemExit(f"{len(pts)} probed cells over fewer than two datasets: run `experiments/predictor.py probe`")
    for f in FEATURES:
        leave_one_dataset_out(pts, f)
    for p in pts:
        p["predicted"] = p[f"predicted {PRIMARY}"]
    a, b = fit([p[PRIMARY] for p in pts], [p["measured"] for p in pts])
    residuals = np.array([p["predicted"] - p["measured"] for p in pts])
    half_width = float(np.quantile(np.abs(residuals), 0.9))
    atomic_write_text(calibration, json.dumps({
        "feature": PRIMARY, "slope": a, "intercept": b, "interval_half_width": half_width, "n_cells": len(pts),
        "budget": budget(),
        "what": f"accuracy loss (points) = slope * {PRIMARY} + intercept, fitted on every committed cell "
                "(experiments/predictor.py report); interval: 90 % quantile of the leave-one-dataset-out errors"},
        indent=2) + "\n")
    fields = ["dataset", "model", "transform", "order", "variant", "fixed", "n_seeds", "measured", "predicted",
              *FEATURES, "usable", "info_loss", "probe_seconds", "plain_probe_seconds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(pts)
    atomic_write_text(results / "prediction.csv", buf.getvalue())

    lines = ["# Predicting the accuracy a transform costs", "",
             "Produced by `python experiments/predictor.py report` from experiments/results/runs (measured) and "
             "experiments/results/predictor_probes.jsonl (the probes). One point per committed cell (dataset, model, "
             "transform and its key, augmentation order); *measured*: val-selected test accuracy lost against the "
             "plain cell (mean over seeds); *predicted*: `a * feature + b` fitted on the other two datasets (leave "
             "one dataset out), held to an accuracy within [0, 100] % (as predict.py). Features (docs/prediction.md): "
             "*gap* = plain probe's minus encrypted probe's validation accuracy (points), fixed before any "
             "validation; *relative gap* = the gap as a share of the plain probe's accuracy, chosen after the first "
             "validation of the gap (informed by these runs). Intervals: bootstrap 95 % over cells. predict.py uses "
             "the relative gap.", "",
             f"Probes: {budget_label()}. Probed: {len(pts)} of the {len(cells)} committed cells"
             + ("." if len(pts) == len(cells) else
                " (the others wait for `python experiments/predictor.py probe`; every figure below is over the "
                "probed cells only)."), ""]
    for f in FEATURES:
        lines += [f"## Feature: {f}", "", *_scope_table(pts, f"predicted {f}"), ""]
    lines += [f"## Feature: {PRIMARY}, without the bound", "",
              "The same leave-one-dataset-out line, not held to [0, 100] %: what the bound adds to the figures above.",
              "", *_scope_table(pts, f"unbounded {PRIMARY}"), ""]
    lines += [f"Fit on every cell (what predict.py uses): loss = {a:.3f} x {PRIMARY} + {b:.2f}; 90 % of the "
              f"leave-one-dataset-out errors are within {half_width:.2f} points (predict.py's interval).", "",
              "| dataset | model | transform | order | variant | measured | predicted | gap | relative gap | info loss |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for p in pts:
        lines.append(f"| {p['dataset']} | {p['model']} | {p['transform']} | {p['order']} | {p['variant']} | "
                     f"{p['measured']:.2f} | {p['predicted']:.2f} | {p['gap']:.2f} | {p['relative gap']:.3f} | "
                     f"{p['info_loss']:.3f} |")
    atomic_write_text(results / "prediction.md", "\n".join(lines) + "\n")
    _figure(pts, results / "prediction.png")
    return pts


def _figure(pts, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    colours = {"mnist": "tab:blue", "fashion_mnist": "tab:orange", "cifar10": "tab:green"}
    for p in pts:
        marker = "o" if p["model"] == "resnet" else "^"
        axes[0].scatter(p["info_loss"], p["measured"], c=colours.get(p["dataset"], "k"), marker=marker, s=25)
        axes[1].scatter(p["predicted"], p["measured"], c=colours.get(p["dataset"], "k"), marker=marker, s=25)
    top = max(max(p["measured"] for p in pts), max(p["predicted"] for p in pts)) + 2
    axes[1].plot([0, top], [0, top], "k:", lw=1)
    axes[0].set(xlabel="paper's information loss", ylabel="measured accuracy loss (points)",
                title="information loss vs accuracy loss")
    axes[1].set(xlabel="predicted accuracy loss (points, leave one dataset out)",
                ylabel="measured accuracy loss (points)", title="predicted vs measured")
    for ds, c in colours.items():
        axes[1].scatter([], [], c=c, label=ds)
    axes[1].scatter([], [], c="grey", marker="o", label="ResNet")
    axes[1].scatter([], [], c="grey", marker="^", label="ViT")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path.write_bytes(buf.getvalue())
