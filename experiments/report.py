"""Rebuild the paper's table and figure from the runs' results.json files.

    python experiments/report.py [--runs outputs] [--out experiments/results] [--wandb]

Reads every ``results.json`` under ``--runs`` and writes, into ``--out``:

- ``runs.csv``: one row per run (what the other scripts read, e.g. the security study);
- ``table.md``: accuracy per dataset x model x transform, mean +- std over seeds, the accuracy loss
  against the plain images of the same cell, and the authors' published numbers beside ours;
- ``info_vs_acc.png``: information-loss rate vs accuracy-loss rate over every (cell, transform) point,
  with Pearson and Spearman coefficients and the least-squares line;
- ``vortex_sweep.png``: information loss and accuracy loss against the number of vortices;
- ``rvt_effect.png``: the RVT effect figure (plain | RVT | RVT bijective | random, MNIST, Fashion-MNIST,
  CIFAR-10, like the authors' figure; experiments/rvt_examples.py) when the datasets are in ``--data-dir``.

With ``--wandb`` one summary run logs the table and the scatter (works with WANDB_MODE=offline).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common import RESULTS, command_line, datasets_present, default_data_dir
from rvt.io import atomic_path, atomic_write_text
from rvt.registry import list_transforms, spec_for_run, transform_spec

# the authors' README: best test accuracy over epochs, one run each. origin / vor / random.
AUTHORS = {
    ("mnist", "resnet"): (99.20, 98.89, 28.99), ("fashion_mnist", "resnet"): (94.12, 92.85, 40.10),
    ("cifar10", "resnet"): (92.80, 87.56, 42.80), ("mnist", "vit"): (99.47, 99.15, 31.84),
    ("fashion_mnist", "vit"): (94.95, 92.61, 56.19), ("cifar10", "vit"): (98.50, 92.04, 50.03),
}
AUTHORS.update({(ds, "vit_b16"): v for (ds, m), v in list(AUTHORS.items()) if m == "vit"})  # their ViT is B/16
AUTHORS_COLUMN = {"none": 0, "rvt-authors": 1, "random": 2}
FIELDS = ["experiment", "dataset", "model", "transform", "vortices", "seed", "test_acc", "test_acc_best_epoch",
          "test_acc_last", "val_acc_best", "info_loss", "epochs", "train_seconds", "images_per_s",
          "accelerator", "run_dir"]


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
        params = r.get("transform_params") or {}
        rows.append({
            "experiment": r.get("experiment") or "none", "dataset": r["dataset"],
            "model": r["model"],
            "transform": transform_label(r), "vortices": params.get("vortices"),
            "seed": r.get("seed"), "test_acc": r.get("test_acc"),
            "test_acc_best_epoch": r.get("test_acc_best_epoch"), "test_acc_last": r.get("test_acc_last"),
            "val_acc_best": r.get("val_acc_best"), "info_loss": r.get("info_loss"), "epochs": r.get("epochs"),
            "train_seconds": r.get("train_seconds"), "images_per_s": r.get("images_per_s"),
            "accelerator": r.get("accelerator"), "run_dir": str(path.parent),
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
    """{(experiment, dataset, model, transform, vortices): aggregated dict}."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["experiment"], r["dataset"], r["model"], r["transform"], r["vortices"])].append(r)
    cells = {}
    for k, rs in groups.items():
        cells[k] = {m: mean_std([r[m] for r in rs]) for m in ("test_acc", "test_acc_best_epoch", "info_loss")}
        cells[k]["n"] = len(rs)
    return cells


def accuracy_points(cells, metric="test_acc"):
    """(label, info_loss, accuracy loss rate) for every non-plain cell whose plain cell exists."""
    points = []
    for (exp, ds, model, t, v), c in cells.items():
        if t == "none":
            continue
        base = cells.get((exp, ds, model, "none", None))
        if not base or base[metric][0] is None or c[metric][0] is None or c["info_loss"][0] is None:
            continue
        loss_rate = 1 - c[metric][0] / base[metric][0]
        label = f"{ds}/{model}/{t}" + (f"/v{v}" if v is not None else "")
        points.append((label, c["info_loss"][0], loss_rate, exp))
    return points


def correlations(points):
    from scipy import stats

    if len(points) < 3:
        return None
    x = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    return {"n": len(points), "pearson": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman": float(spearman.statistic), "spearman_p": float(spearman.pvalue),
            "slope": float(slope), "intercept": float(intercept)}


def table_markdown(cells, command: str) -> str:
    out = io.StringIO()
    out.write("# Accuracy on encrypted images\n\n")
    out.write(f"Produced by `{command}` from the results.json of every finished run.\n")
    out.write("Accuracies in %, mean ± std over seeds (n = number of runs). `test_acc`: checkpoint chosen on the "
              "held-out validation split; `best epoch`: the authors' protocol (best test accuracy over epochs). "
              "Loss: points lost against the plain images of the same cell (val-selected). "
              "Authors: their README (best test epoch, one run, full training at the paper's settings; "
              "not comparable to `quick` runs).\n")
    experiments = sorted({k[0] for k in cells})
    for exp in experiments:
        out.write(f"\n## experiment={exp}\n\n")
        out.write("| dataset | model | transform | vortices | n | test_acc | best epoch | loss (pts) | info loss | authors |\n")
        out.write("|---|---|---|---|---|---|---|---|---|---|\n")
        order = transform_order()
        keys = sorted((k for k in cells if k[0] == exp),
                      key=lambda k: (k[1], k[2], order.index(k[3]) if k[3] in order else len(order), k[4] or 0))
        for k in keys:
            _, ds, model, t, v = k
            c = cells[k]
            base = cells.get((exp, ds, model, "none", None))
            loss = "-"
            if base and base["test_acc"][0] is not None and c["test_acc"][0] is not None and t != "none":
                loss = f"{100 * (base['test_acc'][0] - c['test_acc'][0]):.2f}"
            authors = AUTHORS.get((ds, model))
            a = f"{authors[AUTHORS_COLUMN[t]]:.2f}" if authors and t in AUTHORS_COLUMN and v is None else ""
            info = "-" if c["info_loss"][0] is None else f"{c['info_loss'][0]:.3f}"
            out.write(f"| {ds} | {model} | {t} | {'' if v is None else v} | {c['n']} | "
                      f"{fmt(*c['test_acc'])} | {fmt(*c['test_acc_best_epoch'])} | {loss} | {info} | {a} |\n")
    return out.getvalue()


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)


def plot_scatter(points, corr, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for exp in sorted({p[3] for p in points}):
        ps = [p for p in points if p[3] == exp]
        ax.scatter([p[1] for p in ps], [p[2] for p in ps], label=f"experiment={exp}")
    for label, x, y, _ in points:
        ax.annotate(label, (x, y), fontsize=5, alpha=0.7)
    if corr:
        xs = np.linspace(0, 1, 50)
        ax.plot(xs, corr["slope"] * xs + corr["intercept"], "k--", lw=1,
                label=f"fit: Pearson {corr['pearson']:.2f}, Spearman {corr['spearman']:.2f} (n={corr['n']})")
    ax.set_xlabel("information-loss rate (docs/information.md, test images)")
    ax.set_ylabel("accuracy-loss rate (1 - acc / acc plain)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Information loss vs accuracy loss")
    save_figure(fig, path)


def plot_vortex_sweep(cells, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = defaultdict(list)
    for (exp, ds, model, t, v), c in cells.items():
        if t.startswith("rvt") and v is not None:
            base = cells.get((exp, ds, model, "none", None))
            if base and base["test_acc"][0] and c["test_acc"][0] is not None:
                series[(exp, ds, model, t)].append((v, c["info_loss"][0], 1 - c["test_acc"][0] / base["test_acc"][0]))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for (exp, ds, model, t), pts in sorted(series.items()):
        pts.sort()
        vs = [p[0] for p in pts]
        ax.plot(vs, [p[1] for p in pts], "o-", label=f"info loss {ds}/{model}/{t}")
        ax.plot(vs, [p[2] for p in pts], "s--", label=f"accuracy loss {ds}/{model}/{t}")
    ax.set_xscale("log")
    ticks = sorted({p[0] for pts in series.values() for p in pts})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("number of vortices")
    ax.set_ylabel("loss rate")
    ax.legend(fontsize=7)
    ax.set_title("RVT strength: vortex count")
    save_figure(fig, path)
    return True


def write_csv(rows, path: Path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in FIELDS})
    atomic_write_text(path, buf.getvalue())


def log_wandb(rows, cells, corr, scatter: Path):
    import wandb

    run = wandb.init(project="rvt", job_type="report", name="summary", config={"n_runs": len(rows)})
    table = wandb.Table(columns=["experiment", "dataset", "model", "transform", "vortices", "n", "test_acc",
                                 "test_acc_best_epoch", "info_loss"])
    for (exp, ds, model, t, v), c in sorted(cells.items(), key=str):
        table.add_data(exp, ds, model, t, v, c["n"], c["test_acc"][0], c["test_acc_best_epoch"][0], c["info_loss"][0])
    payload = {"results": table}
    if scatter.exists():
        payload["info_vs_acc"] = wandb.Image(str(scatter))
    if corr:
        run.summary.update({f"corr/{k}": v for k, v in corr.items()})
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
    p.add_argument("--wandb", action="store_true", help="log a summary run (Table + scatter) to wandb")
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
    points = accuracy_points(cells, args.metric)
    corr = correlations(points)
    text = table_markdown(cells, command_line("report", argv))
    if corr:
        text += (f"\n## Information loss vs accuracy loss\n\n{corr['n']} points (every non-plain cell): "
                 f"Pearson r = {corr['pearson']:.3f} (p = {corr['pearson_p']:.2g}), Spearman rho = "
                 f"{corr['spearman']:.3f} (p = {corr['spearman_p']:.2g}); least squares: accuracy-loss rate = "
                 f"{corr['slope']:.3f} x info loss + {corr['intercept']:.3f}. Figure: info_vs_acc.png.\n")
    write_csv(rows, out / "runs.csv")
    atomic_write_text(out / "table.md", text)
    if points:
        plot_scatter(points, corr, out / "info_vs_acc.png")
    swept = plot_vortex_sweep(cells, out / "vortex_sweep.png")
    examples = not args.no_examples and examples_figure(Path(args.data_dir), out / "rvt_effect.png")
    print(f"{len(rows)} runs, {len(cells)} cells, {len(points)} points -> {out}/table.md, runs.csv"
          + (", info_vs_acc.png" if points else "") + (", vortex_sweep.png" if swept else "")
          + (", rvt_effect.png" if examples else ""))
    if corr:
        print(f"Pearson {corr['pearson']:.3f}, Spearman {corr['spearman']:.3f} over {corr['n']} points")
    if args.wandb:
        log_wandb(rows, cells, corr, out / "info_vs_acc.png")


if __name__ == "__main__":
    main()
