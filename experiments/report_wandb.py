"""The report's wandb summary run: the dashboard table, scatter and bar charts, the correlations.
"""

from __future__ import annotations

from pathlib import Path


from experiments.report_runs import plain_cell, sort_key
from rvt.training.record import strength_of
from experiments.report_stats import WANDB_PREFIX



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


def prediction_payload(path: Path) -> dict:
    """predict.py's validation (experiments/predictor.py report -> prediction.csv), when present: predicted vs
    measured accuracy loss beside information loss vs accuracy loss, one point per cell, as scatters."""
    import csv

    import wandb

    if not path.is_file():
        return {}
    rows = list(csv.DictReader(path.open()))
    columns = ["cell", "model", "measured_loss", "predicted_loss", "info_loss"]
    data = [[f"{r['dataset']} | {r['transform']} ({r['order']}){' ' + r['variant'] if r['variant'] else ''}",
             r["model"], float(r["measured"]), float(r["predicted"]), float(r["info_loss"])] for r in rows]
    table = wandb.Table(columns=columns, data=data)
    return {"prediction/cells": table,
            "prediction/predicted_vs_measured": wandb.plot.scatter(
                table, "predicted_loss", "measured_loss", title="predicted vs measured accuracy loss (points)"),
            "prediction/info_loss_vs_measured": wandb.plot.scatter(
                table, "info_loss", "measured_loss", title="information loss vs measured accuracy loss (points)")}


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
    payload.update(prediction_payload(out / "prediction.csv"))
    for name in ("info_vs_acc.png", "strength.png", "prediction.png"):
        if (out / name).exists():
            payload[f"figures/{name[:-4]}"] = wandb.Image(str(out / name))
    for scope, table in scopes.items():
        run.summary.update({f"{WANDB_PREFIX[scope]}/{order}/{model}/{k}": v for (order, model), c in table.items()
                            if c for k, v in c.items()})
    run.log(payload)
    run.finish()
