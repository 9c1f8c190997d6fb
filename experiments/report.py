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
import io
from pathlib import Path

from experiments.common import ORDER_FREE, RESULTS, command_line, default_data_dir
from rvt.io import atomic_write_text
from rvt.registry import specs
from rvt.training.datasets import DATASETS
from experiments.report_figures import examples_figure, plot_scatter, plot_strength
from experiments.report_runs import (NEAR_CHANCE, accuracy_points, fmt, load_runs, plain_cell, sort_key, summarise,
                                     transform_order)
from experiments.report_stats import correlation_scopes, predicts
from experiments.report_wandb import log_wandb

# the authors' README: best test accuracy over epochs, one run each. origin / vor / random (conf/dataset/*.yaml)
AUTHORS = {(ds, m): v for ds, info in DATASETS.items() for m, v in info.authors_accuracy.items()}
AUTHORS.update({(ds, "vit_b16"): v for (ds, m), v in list(AUTHORS.items()) if m == "vit"})  # their ViT is B/16
AUTHORS_COLUMN = {s.label: s.authors_column for s in specs() if s.authors_column is not None}
FIELDS = ["experiment", "dataset", "model", "transform", "augment", "variant", "vortices", "map", "seed",
          "test_acc", "test_acc_best_epoch", "test_acc_last", "val_acc_best", "info_loss", "epochs",
          "train_seconds", "images_per_s", "accelerator", "sweep", "run_dir"]


def correlation_markdown(scopes: dict, notes: list[str]) -> str:
    out = ["\n## Information loss vs accuracy loss\n",
           "One point per distinct map, model and augmentation order (loss rate = 1 - acc / acc of the plain "
           f"cell); cells whose plain accuracy is below {100 * NEAR_CHANCE:.0f} % are left out. Figure: "
           "info_vs_acc.png. *All maps*: every transform, the datasets pooled; *RVT family*: RVT keys of every "
           "strength and the per-image random permutation, the maps the paper's claim is about; *within a "
           "dataset*: every transform, one dataset at a time (only the map varies).\n",
           "*Spearman 95 % CI*: percentile bootstrap over the points (2000 resamples, seed 0; none under 5 "
           "points); *predicts*: `yes` only where that interval lies above zero (`inverse`: below it).\n",
           "The measure is per image: it knows neither whether a map is shared by every image nor the learner. "
           "The predictor of docs/prediction.md (short probes of the same learner) is validated on the same runs, "
           "beside this measure, in prediction.md (figure: prediction.png).\n",
           "| maps | order | model | n | Pearson r (p) | Spearman rho (p) | Spearman 95 % CI | predicts | "
           "fit: acc-loss rate = a x info loss + b |",
           "|---|---|---|---|---|---|---|---|---|"]
    for scope, table in scopes.items():
        for (order, model), c in sorted(table.items()):
            if c is None:
                out.append(f"| {scope} | {order} | {model} | < 3 | - | - | - | - | - |")
                continue
            ci = ("-" if c.get("spearman_ci_low") is None
                  else f"[{c['spearman_ci_low']:.2f}, {c['spearman_ci_high']:.2f}]")
            out.append(f"| {scope} | {order} | {model} | {c['n']} | {c['pearson']:.3f} ({c['pearson_p']:.2g}) | "
                       f"{c['spearman']:.3f} ({c['spearman_p']:.2g}) | {ci} | {predicts(c)} | "
                       f"a = {c['slope']:.3f}, b = {c['intercept']:.3f} |")
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


def keyed_markdown(cells, exp: str = "quick") -> str:
    """The keyed maps of ``exp`` in both augmentation orders, one row per dataset and map (the dataset's own
    key; strength-axis variants are in the table above): what experiments/README.md and the README quote."""
    models = ("resnet", "vit")
    head = "| transform | info loss | " + " | ".join(f"{m} {o}" for m in models for o in ("before", "after")) + " |"
    out = ["\n## Keyed maps, both orders\n",
           f"experiment={exp}; test_acc (%) of the val-selected checkpoint, mean ± std over seeds (n), in brackets "
           "the difference in points from the plain cell's mean (negative: a loss); '-': not run (the "
           "Fashion-MNIST ViT's recipe has no augmentation, so its `after` would repeat its `before`).\n", head, "|---" * (2 + 2 * len(models)) + "|"]
    keyed = sorted({k for k in cells if k[0] == exp and k[3] not in ORDER_FREE and not k[5]}, key=sort_key)
    for ds in sorted({k[1] for k in keyed}, key=list(DATASETS).index):
        plains = [plain_cell(cells, exp, ds, m) for m in models]
        out.append(f"| **{ds}** (plain " + " / ".join(fmt(*c["test_acc"]) if c else "-" for c in plains) + ")"
                   + " |" * (2 + 2 * len(models)))
        for t in sorted({k[3] for k in keyed if k[1] == ds}, key=transform_order().index):
            row, info = [], "-"
            for m, base in zip(models, plains):
                for order in ("before", "after"):
                    c = cells.get((exp, ds, m, t, order, ""))
                    if c is None or c["test_acc"][0] is None:
                        row.append("-")
                        continue
                    info = f"{c['info_loss'][0]:.3f}" if c["info_loss"][0] is not None else info
                    loss = "" if base is None else f" ({100 * (c['test_acc'][0] - base['test_acc'][0]):+.2f})"
                    row.append(f"{fmt(*c['test_acc'])}, n={c['n']}{loss}")
            out.append(f"| {t} | {info} | " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def write_csv(rows, path: Path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in FIELDS})
    atomic_write_text(path, buf.getvalue())


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
    text = table_markdown(cells, command_line("report", argv)) + keyed_markdown(cells)
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
