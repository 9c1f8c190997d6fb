"""experiments/report.py on synthetic results.json files shaped as rvt/training/results.py writes them: the table's
mean +- std and losses, the authors' numbers, the correlation against scipy, the figures, runs.csv and an
offline wandb summary run."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from experiments import report

DATASETS = ["mnist", "fashion_mnist", "cifar10"]
MODELS = ["resnet", "vit"]
SEEDS = [0, 1, 2]
VORTICES = [1, 2, 5, 10, 20]
# the authors' README, written out here independently of report.AUTHORS
AUTHORS = {("mnist", "resnet"): (99.20, 98.89, 28.99), ("fashion_mnist", "resnet"): (94.12, 92.85, 40.10),
           ("cifar10", "resnet"): (92.80, 87.56, 42.80), ("mnist", "vit"): (99.47, 99.15, 31.84),
           ("fashion_mnist", "vit"): (94.95, 92.61, 56.19), ("cifar10", "vit"): (98.50, 92.04, 50.03)}


def record(dataset, model, transform, seed, acc, info, mode=None, vortices=None, status="finished", best=None):
    params = {}
    if transform == "rvt":
        params = {"key": f"authors:{dataset}", "mode": mode or "authors", "vortices": vortices}
    elif transform == "random":
        params = {"seed": seed}
    return {
        "status": status, "experiment": "quick", "dataset": dataset, "model": model, "model_size": {"width": 0.25},
        "img_size": 32 if dataset == "cifar10" else 28, "transform": transform,
        "transform_mode": params.get("mode"), "transform_key": params.get("key"), "transform_params": params,
        "augment": "after", "ricap_beta": None, "seed": seed, "epochs": 3, "max_epochs": 3, "steps": 189,
        "batch_size": 64, "test_acc": acc, "test_acc_last": acc - 0.01,
        "test_acc_best_epoch": best if best is not None else min(1.0, acc + 0.005), "test_best_epoch": 2,
        "val_acc_best": acc + 0.002, "val_best_epoch": 2, "info_loss": info, "info_loss_images": 200,
        "n_train": 4000, "n_val": 1000, "n_test": 2000, "parameters": 700000, "train_seconds": 30.0,
        "fit_seconds": 40.0, "images_per_s": 300.0, "accelerator": "CPUAccelerator", "devices": 1,
        "world_size": 1, "git": {"commit": "0" * 40, "dirty": False}, "versions": {"torch": "2"},
        "history": [{"epoch": 0, "step": 63, "val_acc": acc, "test_acc": acc}],
    }


def synthetic_runs(root: Path) -> list[dict]:
    """The grid (3 datasets x 2 models x none/rvt/random x 3 seeds), an MNIST vortex sweep, one bijective
    cell, a failed run and an unreadable file; accuracies fall with information loss plus seeded noise."""
    rng = np.random.default_rng(0)
    runs = []
    base = {"mnist": 0.97, "fashion_mnist": 0.85, "cifar10": 0.55}
    info = {"none": 0.0, "rvt": 0.35, "random": 0.9}
    for ds in DATASETS:
        for model in MODELS:
            for t in ("none", "rvt", "random"):
                for seed in SEEDS:
                    il = info[t] + (0.02 * (DATASETS.index(ds) + MODELS.index(model)) if t != "none" else 0.0)
                    acc = base[ds] * (1 - 0.6 * il) - 0.01 * MODELS.index(model) + rng.normal(0, 0.005)
                    runs.append(record(ds, model, t, seed, round(float(acc), 4), il))
    for v in VORTICES:
        for seed in SEEDS:
            il = 0.05 * np.log1p(v)
            acc = base["mnist"] * (1 - 0.5 * il) + rng.normal(0, 0.003)
            runs.append(record("mnist", "resnet", "rvt", seed, round(float(acc), 4), float(il), vortices=v))
    for seed in SEEDS:
        runs.append(record("mnist", "resnet", "rvt", seed, 0.95 + 0.001 * seed, 0.30, mode="bijective"))
    for i, r in enumerate(runs):
        d = root / "multirun" / "t" / f"{i}-{r['dataset']}-{r['model']}-{r['transform']}-s{r['seed']}"
        d.mkdir(parents=True)
        r["run_dir"] = str(d)
        (d / "results.json").write_text(json.dumps(r))
    bad = root / "runs" / "failed" / "x"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text(json.dumps(record("mnist", "resnet", "none", 9, 0.01, 0.0, status="interrupted")))
    (root / "runs" / "broken").mkdir(parents=True)
    (root / "runs" / "broken" / "results.json").write_text("{not json")
    return runs


def cell(runs, ds, model, t, mode=None, vortices=None, field="test_acc"):
    return [r[field] for r in runs if (r["dataset"], r["model"], r["transform"]) == (ds, model, t)
            and (r["transform_params"].get("mode") == (mode or ("authors" if t == "rvt" else None)))
            and r["transform_params"].get("vortices") == vortices]


def table_rows(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) == 10 and parts[0] in DATASETS:
            rows[(parts[0], parts[1], parts[2], parts[3])] = parts
    return rows


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = synthetic_runs(root)
    out = root / "results"
    report.main(["--runs", str(root), "--out", str(out), "--no-examples"])
    return runs, out


def test_table_mean_std_loss_and_authors(produced):
    runs, out = produced
    text = (out / "table.md").read_text()
    rows = table_rows(text)
    assert len(rows) == 3 * 2 * 3 + len(VORTICES) + 1  # every cell once; failed/broken runs left out
    for ds in DATASETS:
        for model in MODELS:
            plain = np.mean(cell(runs, ds, model, "none"))
            for t, label in (("none", "none"), ("rvt", "rvt-authors"), ("random", "random")):
                accs = cell(runs, ds, model, t)
                row = rows[(ds, model, label, "")]
                assert row[4] == "3"
                assert row[5] == f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs, ddof=1):.2f}"
                best = cell(runs, ds, model, t, field="test_acc_best_epoch")
                assert row[6] == f"{100 * np.mean(best):.2f} ± {100 * np.std(best, ddof=1):.2f}"
                assert row[7] == ("-" if t == "none" else f"{100 * (plain - np.mean(accs)):.2f}")
                assert float(row[8]) == pytest.approx(np.mean(cell(runs, ds, model, t, field="info_loss")), abs=1e-3)
                assert float(row[9]) == AUTHORS[(ds, model)][("none", "rvt", "random").index(t)]
    bij = rows[("mnist", "resnet", "rvt-bijective", "")]
    assert bij[9] == "" and bij[5] == "95.10 ± 0.10"  # no authors' figure for our lossless mode
    for v in VORTICES:
        row = rows[("mnist", "resnet", "rvt-authors", str(v))]
        assert row[9] == "" and row[5].startswith(f"{100 * np.mean(cell(runs, 'mnist', 'resnet', 'rvt', vortices=v)):.2f}")
    assert "98.89" in text and "(n = number of runs)" in text


def expected_points(runs):
    xs, ys = [], []
    for ds in DATASETS:
        for model in MODELS:
            plain = np.mean(cell(runs, ds, model, "none"))
            for t, mode, vs in (("rvt", None, [None] + (VORTICES if (ds, model) == ("mnist", "resnet") else [])),
                                ("random", None, [None]), ("rvt", "bijective", [None])):
                for v in vs:
                    accs = cell(runs, ds, model, t, mode=mode, vortices=v)
                    if not accs:
                        continue
                    xs.append(np.mean(cell(runs, ds, model, t, mode=mode, vortices=v, field="info_loss")))
                    ys.append(1 - np.mean(accs) / plain)
    return np.array(xs), np.array(ys)


def test_correlation_against_scipy(produced):
    runs, out = produced
    x, y = expected_points(runs)
    assert len(x) == 12 + len(VORTICES) + 1 >= 12
    rows = report.load_runs(out.parent)
    corr = report.correlations(report.accuracy_points(report.summarise(rows)))
    assert corr["n"] == len(x)
    assert corr["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-9)
    assert corr["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
    slope, intercept = np.polyfit(x, y, 1)
    assert (corr["slope"], corr["intercept"]) == pytest.approx((slope, intercept), abs=1e-9)
    text = (out / "table.md").read_text()
    m = re.search(r"(\d+) points .*Pearson r = (-?[\d.]+).*Spearman rho = (-?[\d.]+)", text)
    assert m and int(m.group(1)) == len(x)
    assert float(m.group(2)) == pytest.approx(stats.pearsonr(x, y).statistic, abs=6e-4)
    assert float(m.group(3)) == pytest.approx(stats.spearmanr(x, y).statistic, abs=6e-4)
    assert corr["pearson"] > 0.9  # the synthetic accuracies fall with information loss


def test_figures_and_csv(produced):
    runs, out = produced
    for name in ("info_vs_acc.png", "vortex_sweep.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs)
    assert {r["transform"] for r in rows} == {"none", "rvt-authors", "rvt-bijective", "random"}
    assert sorted(int(r["vortices"]) for r in rows if r["vortices"]) == sorted(VORTICES * 3)
    by_dir = {r["run_dir"]: r for r in rows}
    for r in runs[:5]:
        assert float(by_dir[r["run_dir"]]["test_acc"]) == pytest.approx(r["test_acc"])


def test_rvt_effect_figure(tmp_path, data_dir):
    runs_root = tmp_path / "runs"
    runs_root.mkdir()
    d = runs_root / "a"
    d.mkdir()
    (d / "results.json").write_text(json.dumps(record("mnist", "resnet", "none", 0, 0.9, 0.0)))
    report.main(["--runs", str(runs_root), "--out", str(tmp_path / "out"), "--data-dir", str(data_dir)])
    assert (tmp_path / "out" / "rvt_effect.png").read_bytes()[:4] == b"\x89PNG"
    report.main(["--runs", str(runs_root), "--out", str(tmp_path / "none"), "--data-dir", str(tmp_path)])
    assert not (tmp_path / "none" / "rvt_effect.png").exists() and (tmp_path / "none" / "table.md").exists()


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no finished runs"):
        report.main(["--runs", str(tmp_path), "--out", str(tmp_path / "out"), "--no-examples"])


def test_wandb_offline_summary_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    synthetic_runs(tmp_path / "runs")
    report.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-examples", "--wandb"])
    offline = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    tables = list(offline[0].glob("files/media/table/results_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert "test_acc" in table["columns"] and len(table["data"]) == 3 * 2 * 3 + len(VORTICES) + 1
    assert list(offline[0].glob("files/media/images/info_vs_acc_*.png"))
    log = next(offline[0].glob("*.wandb")).read_bytes()
    assert b"corr/pearson" in log and b"corr/spearman" in log  # the summary holds the coefficients
