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

from experiments import report, report_runs, report_stats, report_wandb
from rvt.training.record import RunRecord, recipe_overrides, variant_of

DATASETS = ["mnist", "fashion_mnist", "cifar10"]
MODELS = ["resnet", "vit"]
SEEDS = [0, 1, 2]
STRENGTH = [1, 2, 5, 10, 20, 40]
# the authors' README, written out here independently of report.AUTHORS
AUTHORS = {("mnist", "resnet"): (99.20, 98.89, 28.99), ("fashion_mnist", "resnet"): (94.12, 92.85, 40.10),
           ("cifar10", "resnet"): (92.80, 87.56, 42.80), ("mnist", "vit"): (99.47, 99.15, 31.84),
           ("fashion_mnist", "vit"): (94.95, 92.61, 56.19), ("cifar10", "vit"): (98.50, 92.04, 50.03)}


def exact_spearman_p(x, y) -> float:
    """Two-sided p of Spearman's rho over every pairing of x with y (itertools, independent of the report)."""
    import itertools

    rho = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(np.asarray(x)[list(p)], y).statistic for p in itertools.permutations(range(len(x)))]
    return float(np.mean(np.abs(perms) >= abs(rho) - 1e-12))


def record(dataset, model, transform, seed, acc, info, mode=None, key=None, vortices=None, augment="after",
           status="finished", best=None, map_id=None):
    params = {}
    if transform == "rvt":
        params = {"key": key or f"authors:{dataset}", "mode": mode or "authors", "vortices": vortices}
    elif transform == "random":
        params = {"seed": seed}
    if map_id is None and transform != "random":
        map_id = f"{dataset}-{transform}-{params.get('mode')}-{params.get('key')}-{vortices}"
    return {
        "status": status, "experiment": "quick", "dataset": dataset, "model": model, "model_size": {"width": 0.25},
        "img_size": 32 if dataset == "cifar10" else 28, "transform": transform,
        "transform_mode": params.get("mode"), "transform_key": params.get("key"), "transform_params": params,
        "transform_map_sha1": map_id, "key_label": key, "active_vortices": vortices,
        "augment": augment, "sweep": "grid-t", "ricap_beta": None, "seed": seed, "epochs": 3, "max_epochs": 3, "steps": 189,
        "batch_size": 64, "test_acc": acc, "test_acc_last": acc - 0.01,
        "test_acc_best_epoch": best if best is not None else min(1.0, acc + 0.005), "test_best_epoch": 2,
        "val_acc_best": acc + 0.002, "val_best_epoch": 2, "info_loss": info, "info_loss_images": 200,
        "n_train": 4000, "n_val": 1000, "n_test": 2000, "parameters": 700000, "train_seconds": 30.0,
        "fit_seconds": 40.0, "images_per_s": 300.0, "accelerator": "CPUAccelerator", "devices": 1,
        "world_size": 1, "git": {"commit": "0" * 40, "dirty": False}, "versions": {"torch": "2"},
        "history": [{"epoch": 0, "step": 63, "val_acc": acc, "test_acc": acc}],
    }


def synthetic_runs(root: Path) -> list[dict]:
    """The grid (3 datasets x 2 models x none/rvt/random x 3 seeds; the CIFAR-10 ViT near chance), RVT
    also with augment=before, an MNIST strength axis of generated keys whose 1- and 2-vortex keys are the
    same map, one bijective cell, a failed run and an unreadable file; accuracies fall with information
    loss plus seeded noise."""
    rng = np.random.default_rng(0)
    runs = []
    base = {"mnist": 0.97, "fashion_mnist": 0.85, "cifar10": 0.55}
    info = {"none": 0.0, "rvt": 0.35, "random": 0.9}
    for ds in DATASETS:
        for model in MODELS:
            top = 0.2 if (ds, model) == ("cifar10", "vit") else base[ds]  # a model that did not learn
            for t in ("none", "rvt", "random"):
                for seed in SEEDS:
                    il = info[t] + (0.02 * (DATASETS.index(ds) + MODELS.index(model)) if t != "none" else 0.0)
                    acc = top * (1 - 0.6 * il) - 0.01 * MODELS.index(model) + rng.normal(0, 0.005)
                    runs.append(record(ds, model, t, seed, round(float(acc), 4), il))
            acc = top * (1 - 0.3 * info["rvt"])
            runs.append(record(ds, model, "rvt", 0, round(float(acc), 4), info["rvt"], augment="before"))
    for n in STRENGTH:
        key = f"generated:28x28:{n}:2"
        map_id = "gen-1" if n == 2 else None  # the 2-vortex key moves what the 1-vortex key moves
        for seed in SEEDS:
            il = 0.05 * np.log1p(n if n != 2 else 1)
            acc = base["mnist"] * (1 - 0.5 * il) + rng.normal(0, 0.003)
            runs.append(record("mnist", "resnet", "rvt", seed, round(float(acc), 4), float(il), key=key, vortices=n,
                               map_id=map_id or ("gen-1" if n == 1 else None)))
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


def cell(runs, ds, model, t, mode=None, key=None, augment="after", field="test_acc"):
    mode = mode or ("authors" if t == "rvt" else None)
    return [r[field] for r in runs if (r["dataset"], r["model"], r["transform"]) == (ds, model, t)
            and r["transform_params"].get("mode") == mode and r["key_label"] == key
            and (t == "none" or r["augment"] == augment)]


N_CELLS = 3 * 2 * 3 + 3 * 2 + len(STRENGTH) + 1


def table_rows(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) == 11 and parts[0] in DATASETS:
            rows[(parts[0], parts[1], parts[2], parts[3], parts[4])] = parts
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
    assert len(rows) == N_CELLS  # every cell once; failed/broken runs left out
    for ds in DATASETS:
        for model in MODELS:
            plain = np.mean(cell(runs, ds, model, "none"))
            for t, label in (("none", "none"), ("rvt", "rvt-authors"), ("random", "random")):
                accs = cell(runs, ds, model, t)
                row = rows[(ds, model, label, "-" if t == "none" else "after", "")]
                assert row[5] == "3"
                assert row[6] == f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs, ddof=1):.2f}"
                best = cell(runs, ds, model, t, field="test_acc_best_epoch")
                assert row[7] == f"{100 * np.mean(best):.2f} ± {100 * np.std(best, ddof=1):.2f}"
                assert row[8] == ("-" if t == "none" else f"{100 * (plain - np.mean(accs)):.2f}")
                assert float(row[9]) == pytest.approx(np.mean(cell(runs, ds, model, t, field="info_loss")), abs=1e-3)
                assert float(row[10]) == AUTHORS[(ds, model)][("none", "rvt", "random").index(t)]
            before = rows[(ds, model, "rvt-authors", "before", "")]
            assert before[5] == "1" and before[10] == ""  # the authors augmented after encryption only
            assert before[6] == f"{100 * cell(runs, ds, model, 'rvt', augment='before')[0]:.2f}"
    bij = rows[("mnist", "resnet", "rvt-bijective", "after", "")]
    assert bij[10] == "" and bij[6] == "95.10 ± 0.10"  # no authors' figure for our lossless mode
    for n in STRENGTH:
        key = f"generated:28x28:{n}:2"
        row = rows[("mnist", "resnet", "rvt-authors", "after", key)]
        assert row[10] == "" and row[6].startswith(f"{100 * np.mean(cell(runs, 'mnist', 'resnet', 'rvt', key=key)):.2f}")
    assert "98.89" in text and "(n = number of runs)" in text


def expected_points(runs, model=None, augment="after"):
    """Written out from the runs: one point per distinct map, plain accuracy not near chance."""
    xs, ys = [], []
    for ds in DATASETS:
        for m in MODELS:
            if (model and m != model) or (ds, m) == ("cifar10", "vit"):  # near chance: left out
                continue
            plain = np.mean(cell(runs, ds, m, "none"))
            cases = [("rvt", None, None), ("rvt", "bijective", None), ("random", None, None)]
            if (ds, m) == ("mnist", "resnet"):
                cases += [("rvt", None, f"generated:28x28:{n}:2") for n in STRENGTH if n != 2]  # 2: same map as 1
            for t, mode, key in cases:
                accs = cell(runs, ds, m, t, mode=mode, key=key, augment=augment)
                if not accs:
                    continue
                xs.append(np.mean(cell(runs, ds, m, t, mode=mode, key=key, augment=augment, field="info_loss")))
                ys.append(1 - np.mean(accs) / plain)
    return np.array(xs), np.array(ys)


def test_correlation_against_scipy(produced):
    runs, out = produced
    rows = report_runs.load_runs(out.parent)
    points, notes = report_runs.accuracy_points(report_runs.summarise(rows))
    corr = report_stats.correlations(points)
    assert any("same map" in n for n in notes) and any("near chance" in n for n in notes)
    text = (out / "table.md").read_text()
    for model in (None, "resnet", "vit"):
        x, y = expected_points(runs, model)
        c = corr[("after", model or "pooled")]
        assert c["n"] == len(x) >= 4
        assert c["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-9)
        assert c["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)
        assert c["spearman_p"] == pytest.approx(exact_spearman_p(x, y) if len(x) <= 8 else stats.spearmanr(x, y).pvalue,
                                                abs=1e-12 if len(x) <= 8 else 0.01)
        slope, intercept = np.polyfit(x, y, 1)
        assert (c["slope"], c["intercept"]) == pytest.approx((slope, intercept), abs=1e-9)
        m = re.search(rf"\| all maps \| after \| {model or 'pooled'} \| (\d+) \| (-?[\d.]+) \(.*?\) \| (-?[\d.]+) \(", text)
        assert m and int(m.group(1)) == len(x)
        assert float(m.group(2)) == pytest.approx(stats.pearsonr(x, y).statistic, abs=6e-4)
        assert float(m.group(3)) == pytest.approx(stats.spearmanr(x, y).statistic, abs=6e-4)
    assert corr[("after", "pooled")]["pearson"] > 0.9  # the synthetic accuracies fall with information loss
    # one before-run per learning cell, all with the same information loss: no correlation to compute
    assert sum(p[4] == "before" for p in points) == 5 and corr[("before", "pooled")] is None


def test_figures_and_csv(produced):
    runs, out = produced
    for name in ("info_vs_acc.png", "strength.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs)
    assert {r["transform"] for r in rows} == {"none", "rvt-authors", "rvt-bijective", "random"}
    assert {r["augment"] for r in rows} == {"-", "after", "before"}
    assert sorted(int(r["vortices"]) for r in rows if r["vortices"]) == sorted(STRENGTH * 3)
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


def test_patchify_resnet_is_its_own_cell(tmp_path):
    """A ResNet with a patchify stem (model.stem_patch) is a different network: its runs form their own
    cell (resnet-patch7), never averaged into the quick recipe's ResNet."""
    for i, (patch, acc) in enumerate([(None, 0.99), (7, 0.90), (7, 0.92)]):
        r = record("mnist", "resnet", "none", i, acc, 0.0)
        r["model_size"] = {"width": 0.25, "stem_patch": patch}
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    cells = report_runs.summarise(report_runs.load_runs(tmp_path))
    by_model = {k[2]: c for k, c in cells.items()}
    assert set(by_model) == {"resnet", "resnet-patch7"}
    assert by_model["resnet"]["n"] == 1 and by_model["resnet-patch7"]["n"] == 2


def test_variant_names_what_differs_from_the_transform_config(tmp_path):
    """Block-wise runs at the studies' block with the config's steps are the default cell; a step turned
    off or another block is a variant of its own."""
    cases = [({"block": 7, "seed": 0, "scramble": True, "shuffle": True, "negpos": False}, ""),
             ({"block": 7, "seed": 0, "scramble": False, "shuffle": True, "negpos": False}, "scramble=false"),
             ({"block": 4, "seed": 0, "scramble": True, "shuffle": True, "negpos": True}, "block=4,negpos=true")]
    for params, expected in cases:
        run = {"dataset": "mnist", "transform": "blockwise", "transform_params": params}
        assert variant_of(RunRecord.from_dict(run)) == expected
    assert variant_of(RunRecord.from_dict({"dataset": "cifar10", "transform": "blockwise", "transform_params": {"block": 8}})) == ""
    rvt = {"dataset": "mnist", "transform": "rvt", "key_label": "generated:28x28:5:2",
           "transform_params": {"key": "generated:28x28:5:2", "mode": "authors", "allow_identity": False}}
    assert variant_of(RunRecord.from_dict(rvt)) == "generated:28x28:5:2"


def test_a_changed_recipe_is_its_own_cell(tmp_path):
    """A probe with another learning rate or padding is not averaged into the recipe's cell; overrides that
    name the cell's axes or only where a run is done (seed, transform key, trainer=gpu) leave it there."""
    axes = ["experiment=quick", "dataset=fashion_mnist", "model=vit", "transform=none", "seed=0", "trainer=gpu",
            "hydra.sweep.dir=outputs/multirun/x", "progress=lines", "data.augment=before"]
    runs = [record("fashion_mnist", "vit", "none", s, 0.85, 0.0) for s in (0, 1)]
    runs[1]["overrides"] = axes
    probe = record("fashion_mnist", "vit", "none", 0, 0.80, 0.0)
    probe["overrides"] = axes + ["optimizer.lr=1e-3", "dataset.augmentation.padding=0"]
    assert recipe_overrides(RunRecord.from_dict(probe)) == ["dataset.augmentation.padding=0", "optimizer.lr=1e-3"]
    assert recipe_overrides(RunRecord(overrides=["trainer=gpu", "trainer=debug"])) == ["trainer=debug"]
    for i, r in enumerate(runs + [probe]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    cells = report_runs.summarise(report_runs.load_runs(tmp_path))
    by_variant = {k[5]: c["n"] for k, c in cells.items()}
    assert by_variant == {"": 2, "dataset.augmentation.padding=0,optimizer.lr=1e-3": 1}


def test_rvt_family_correlation_leaves_out_other_keyed_maps(tmp_path):
    """A fixed permutation that keeps accuracy at a high information loss is a point of 'all maps' and
    not of the RVT family's correlation."""
    runs = [record("mnist", "resnet", "none", 0, 0.99, 0.0, augment="before")]
    runs += [record("mnist", "resnet", "rvt", 0, 0.99 - 0.1 * v, 0.1 * v, key=f"generated:28x28:{v}:2",
                    vortices=None, augment="before", map_id=f"m{v}") for v in (1, 2, 5)]
    runs += [record("mnist", "resnet", "random", 0, 0.3, 0.84, augment="before")]
    runs += [record("mnist", "resnet", "permutation", 0, 0.97, 0.84, augment="before", map_id="perm")]
    for i, r in enumerate(runs):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    points, _ = report_runs.accuracy_points(report_runs.summarise(report_runs.load_runs(tmp_path)))
    assert len(points) == 5 and {p[5] for p in report_stats.rvt_family(points)} == {"rvt-authors", "random"}
    family = report_stats.correlations(report_stats.rvt_family(points))[("before", "resnet")]
    assert family["n"] == 4 and family["spearman"] == pytest.approx(1.0)
    assert family["spearman_p"] == pytest.approx(2 / 24)  # exact: 2 of the 4! pairings reach |rho| = 1
    x, y = [0.1, 0.5, 0.2, 0.9, 0.4, 0.3], [0.0, 0.3, 0.4, 0.8, 0.1, 0.2]
    assert report_stats.spearman_p(x, y) == pytest.approx(exact_spearman_p(x, y), abs=1e-12)
    assert report_stats.correlations(points)[("before", "resnet")]["spearman"] < 1.0


def test_correlation_within_a_dataset_separates_the_datasets(tmp_path):
    """Two datasets, each in perfect rank order, one harder than the other (it loses more at a lower
    information loss): pooled over datasets the ranks disagree, within each dataset they agree."""
    runs = []
    for ds, shift in (("mnist", 0.0), ("cifar10", 0.3)):
        runs.append(record(ds, "resnet", "none", 0, 0.9, 0.0, augment="before"))
        runs += [record(ds, "resnet", t, 0, 0.9 * (1 - shift - 0.1 * i), 0.1 * i + 0.6 - 1.5 * shift,
                        augment="before", map_id=f"{ds}{t}") for i, t in enumerate(("rvt", "block", "permutation"), 1)]
    for i, r in enumerate(runs):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    points, _ = report_runs.accuracy_points(report_runs.summarise(report_runs.load_runs(tmp_path)))
    scopes = report_stats.correlation_scopes(points)
    assert {p[6] for p in points} == {"mnist", "cifar10"} and len(points) == 6
    assert scopes["all maps"][("before", "resnet")]["spearman"] < 0
    for ds in ("mnist", "cifar10"):
        within = scopes["within a dataset"][("before", f"{ds}: resnet")]
        assert within["n"] == 3 and within["spearman"] == pytest.approx(1.0)
    md = report.correlation_markdown(scopes, [])
    assert "| within a dataset | before | cifar10: resnet | 3 |" in md


def test_no_runs_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no finished runs"):
        report.main(["--runs", str(tmp_path), "--out", str(tmp_path / "out"), "--no-examples"])


def test_wandb_offline_summary_run_is_a_dashboard(tmp_path, monkeypatch):
    """The offline run files hold the cells Table (with the accuracy-loss column), the scatter and bar
    chart specs bound to their tables, the coefficients, and the sweep's tag and group."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    runs = synthetic_runs(tmp_path / "runs")
    report.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-examples", "--wandb"])
    offline = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    media = offline[0] / "files" / "media" / "table"

    def table(prefix):
        found = [p for p in media.rglob("*.table.json") if p.name.startswith(prefix)]
        assert found, f"no {prefix} table in {sorted(p.name for p in media.rglob('*.json'))}"
        return json.loads(found[0].read_text())

    cells = table("cells_")
    assert cells["columns"] == report_wandb.DASHBOARD_COLUMNS and len(cells["data"]) == N_CELLS
    rows = {tuple(r[:6]): dict(zip(cells["columns"], r)) for r in cells["data"]}
    plain = cell(runs, "mnist", "resnet", "none")
    rvt = cell(runs, "mnist", "resnet", "rvt")
    got = rows[("quick", "mnist", "resnet", "rvt-authors", "after", "")]
    assert got["n_seeds"] == len(SEEDS)
    assert got["acc_mean"] == pytest.approx(100 * np.mean(rvt))
    assert got["acc_std"] == pytest.approx(100 * np.std(rvt, ddof=1))
    assert got["acc_loss"] == pytest.approx(100 * (np.mean(plain) - np.mean(rvt)))
    assert got["acc_loss_rate"] == pytest.approx(1 - np.mean(rvt) / np.mean(plain))
    assert rows[("quick", "mnist", "resnet", "rvt-authors", "after", "generated:28x28:5:2")]["strength"] == 5
    assert rows[("quick", "mnist", "resnet", "none", "-", "")]["acc_loss"] is None
    # the scatter's points are the correlation's (duplicates and near-chance cells left out)
    scatter = table("acc_loss_vs_info_loss_table_")
    assert len(scatter["data"]) == len(expected_points(runs)[0]) + len(expected_points(runs, augment="before")[0])
    log = next(offline[0].glob("*.wandb")).read_bytes()
    assert b"wandb/scatter/v0" in log and b"wandb/bar/v0" in log  # interactive charts, not images
    assert b"acc_loss_vs_info_loss/resnet" in log and b"accuracy/vit" in log
    assert b"corr/after/pooled/pearson" in log and b"corr/after/pooled/spearman" in log
    assert b"sweep:grid-t" in log and b"summary" in log


def test_wandb_summary_shows_predicted_beside_information_loss(tmp_path, monkeypatch):
    """With predict.py's validation (prediction.csv) in --out, the summary run has its table and the two
    scatters: predicted vs measured accuracy loss, information loss vs measured accuracy loss."""
    wandb = pytest.importorskip("wandb")
    wandb.teardown()  # wandb keeps the first run's settings (its WANDB_DIR) for the process: start afresh
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    synthetic_runs(tmp_path / "runs")
    out = tmp_path / "out"
    out.mkdir()
    (out / "prediction.csv").write_text(
        "dataset,model,transform,order,variant,measured,predicted,info_loss\n"
        "mnist,resnet,permutation,before,,2.14,9.6,0.842\nmnist,resnet,random,before,,69.1,37.5,0.838\n")
    report.main(["--runs", str(tmp_path / "runs"), "--out", str(out), "--no-examples", "--wandb"])
    offline = next((tmp_path / "wandb").glob("offline-run-*"))
    tables = {p.name for p in (offline / "files" / "media" / "table").rglob("*.table.json")}
    assert any(n.startswith("prediction/cells") or "cells_" in n for n in tables)
    log = next(offline.glob("*.wandb")).read_bytes()
    assert b"prediction/predicted_vs_measured" in log and b"prediction/info_loss_vs_measured" in log


def test_keyed_maps_table_has_both_orders_with_their_seeds_and_leaves_out_other_maps(tmp_path):
    """The keyed-maps pivot (what the READMEs quote): each keyed map of a dataset's own key in both orders,
    mean over its seeds with n and the difference from the plain mean; per-image maps and strength-axis keys
    are not rows, and a cell that was not run is '-'."""
    runs = [record("mnist", m, "none", s, 0.99, 0.0, augment="before") for m in MODELS for s in (0, 1)]
    runs += [record("mnist", "resnet", "permutation", s, acc, 0.84, augment="before", map_id="perm")
             for s, acc in ((0, 0.96), (1, 0.98))]
    runs += [record("mnist", "resnet", "permutation", 0, 0.90, 0.84, augment="after", map_id="perm")]
    runs += [record("mnist", "resnet", "random", 0, 0.3, 0.84, augment="before")]
    runs += [record("mnist", "resnet", "rvt", 0, 0.95, 0.5, key="generated:28x28:5:2", augment="before", map_id="g")]
    for i, r in enumerate(runs):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    text = report.keyed_markdown(report_runs.summarise(report_runs.load_runs(tmp_path)))
    rows = [line for line in text.splitlines() if line.startswith("| ") and "**" not in line][1:]
    assert rows == ["| permutation | 0.840 | 97.00 ± 1.41, n=2 (-2.00) | 90.00, n=1 (-9.00) | - | - |"]
