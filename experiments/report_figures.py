"""The report's figures: the information-vs-accuracy scatter, the strength axis, the RVT effect examples.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common import datasets_present
from rvt.io import atomic_path
from experiments.report_runs import plain_cell
from rvt.training.record import strength_of



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
