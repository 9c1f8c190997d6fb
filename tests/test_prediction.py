"""predict.py: the probes never open the test split, a fixed learnable map and per-image maps are told
apart, prediction.json has its fields, and bad input is one line and exit 2 (as train.py)."""

from __future__ import annotations

import json

import pytest

import rvt.training.datamodule as datamodule
from rvt.training import prediction
from training_helpers import make_cfg, run_cli, tiny

# a small real budget: 3000 MNIST training images, 40 epochs of 46 steps (55 probe steps at STEP_FRACTION 3 %)
BUDGET = ["dataset.train_subset=3000", "dataset.val_size=1000", "trainer.max_epochs=40", "data.batch_size=64",
          "trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0", "model=mlp", "model.hidden=[128]",
          "data.augment=before", "optimizer.lr=3e-3", "logger=none"]


@pytest.fixture
def no_test_split(monkeypatch):
    """Any read of a test file fails the test."""
    real = datamodule.read_split

    def guarded(name, root, train=True, download=False):
        assert train, "the test split was read"
        return real(name, root, train=train, download=download)

    monkeypatch.setattr(datamodule, "read_split", guarded)


def test_probe_sees_the_budgets_images_in_batches_of_at_most_probe_batch(tmp_path):
    """A probe takes STEP_FRACTION of the run's training images whatever its batch: the quick MNIST ViT
    (batch 256, 4 epochs) in 4x the steps at PROBE_BATCH = 64; a run with smaller batches keeps its own."""
    from rvt.training.probe import PROBE_BATCH, STEP_FRACTION, probe_config, probe_steps

    vit = make_cfg(["dataset=mnist", "model=vit"], tmp_path)
    assert vit.data.batch_size == 256 and vit.trainer.max_epochs == 4 and PROBE_BATCH == 64
    assert probe_config(vit).data.batch_size == PROBE_BATCH and vit.data.batch_size == 256  # a copy
    assert probe_steps(vit) == round(STEP_FRACTION * 4 * (55000 // 256) * 256 / 64)  # 103 steps, not 26
    small = make_cfg(["dataset=mnist", "model=resnet", "data.batch_size=32"], tmp_path)
    assert probe_config(small).data.batch_size == 32
    assert probe_steps(small) == round(STEP_FRACTION * 3 * (55000 // 32))


def test_a_probe_is_scored_on_the_first_probe_val_validation_images(tmp_path, data_dir, monkeypatch):
    """Both probes of a cell are scored on the same first PROBE_VAL validation images (whole evaluation
    batches), not on the whole split: what the probe's record says it saw is what the network saw."""
    from rvt.training import probe as probe_module
    from rvt.training.lightning_module import ImageClassifier

    seen = []
    real = ImageClassifier.validation_step

    def spy(self, batch, batch_idx, dataloader_idx=0):
        seen.append((batch_idx, len(batch[1])))
        return real(self, batch, batch_idx, dataloader_idx)

    monkeypatch.setattr(ImageClassifier, "validation_step", spy)
    monkeypatch.setattr(probe_module, "PROBE_VAL", 20)
    cfg = make_cfg(tiny(data_dir) + ["model=mlp", "model.hidden=[16]", "data.eval_batch_size=8"], tmp_path)
    rec = probe_module.probe(probe_module.probe_config(cfg), 2)
    assert seen == [(0, 8), (1, 8), (2, 8)] and rec["n_val"] == 24  # 3 of the 4 batches of the 32 images
    assert rec["budget"]["probe_val"] == 20


def test_the_cached_plain_probe_is_reused_only_under_the_same_budget(tmp_path, monkeypatch):
    """The plain probe is cached per cell; a cache written under another budget rule (here: another number
    of validation images) must not be served as this rule's plain probe."""
    from rvt.training import probe as probe_module

    calls = []
    monkeypatch.setattr(prediction, "probe", lambda cfg, steps: calls.append(steps) or {"val_acc": 0.5})
    cfg = make_cfg(["dataset=mnist", "model=mlp", f"paths.output_dir={tmp_path}"], tmp_path / "run")
    prediction._cached_plain_probe(cfg, 10)
    prediction._cached_plain_probe(cfg, 10)
    assert calls == [10]  # cached
    monkeypatch.setattr(probe_module, "PROBE_VAL", 500)
    prediction._cached_plain_probe(cfg, 10)
    assert calls == [10, 10]  # another budget: probed again


def test_a_calibration_fitted_on_another_probe_budget_is_refused(tmp_path, monkeypatch):
    """The committed line is fitted on probes of this code's budget rule; a line of another rule would turn
    the probes' gap into a wrong loss, so predict.py refuses it with one line."""
    from rvt.errors import RVTError
    from rvt.training.probe import budget

    fit = json.loads(prediction.CALIBRATION.read_text())
    assert fit["budget"] == budget() and fit["slope"] > 0  # the committed calibration is this rule's
    stale = tmp_path / "predictor.json"
    stale.write_text(json.dumps({**fit, "budget": {**budget(), "probe_batch": None}}))
    monkeypatch.setattr(prediction, "CALIBRATION", stale)
    with pytest.raises(RVTError, match="another budget"):
        prediction.calibration()


def test_the_cost_reference_is_the_fastest_committed_plain_fit():
    """cost_fraction divides by the fastest seed of the committed plain cell, not their mean: seeds that ran
    beside other jobs are slower, and a mean would flatter the predictor's cost."""
    from rvt.training.record import Cell, load_records

    fits = [r.fit_seconds for _, r in load_records(prediction.COMMITTED)
            if r.cell() == Cell("quick", "mnist", "resnet", "none", "-", "")]
    assert len(fits) >= 2 and min(fits) < max(fits)
    assert prediction.plain_reference("mnist", "resnet", "quick")[1] == min(fits)


def test_leave_one_dataset_out_predicts_each_dataset_from_the_others_within_the_feasible_range():
    """A dataset's cells are predicted by the line fitted on the other datasets only (a fit that saw them
    would follow c's slope of 10), and a prediction is held to an accuracy within [0, 100] %."""
    from experiments.prediction_report import leave_one_dataset_out

    pts = [dict(dataset=ds, f=x, measured=(10 if ds == "c" else 1) * x, plain_acc=95.0)
           for ds in "abc" for x in (0.0, 1.0, 2.0)]
    pts += [dict(dataset="c", f=x, measured=0.0, plain_acc=95.0) for x in (-30.0, 300.0)]
    leave_one_dataset_out(pts, "f")
    c = {p["f"]: p["predicted f"] for p in pts if p["dataset"] == "c"}
    assert c[0.0] == pytest.approx(0.0, abs=1e-9) and c[2.0] == pytest.approx(2.0)  # a and b's line: y = x
    assert c[-30.0] == -5.0 and c[300.0] == 95.0  # 105 % and -205 % are not accuracies
    # the report's "without the bound": the line alone
    assert {p["f"]: p["unbounded f"] for p in pts if p["dataset"] == "c"}[300.0] == pytest.approx(300.0)


@pytest.mark.slow
def test_probes_tell_a_fixed_map_from_per_image_maps_without_the_test_split(tmp_path, data_dir, no_test_split):
    out = {}
    for t in ("permutation", "random"):
        cfg = make_cfg(tiny(data_dir) + BUDGET + [f"transform={t}", f"paths.output_dir={tmp_path}"], tmp_path / t)
        out[t] = prediction.predict(cfg)
    perm, rand = out["permutation"], out["random"]
    # the same cached plain probe serves both; an MLP absorbs a fixed permutation exactly (same init law)
    assert perm["plain_probe"] == rand["plain_probe"]
    assert abs(perm["probe_gap"]) < 5 and rand["probe_gap"] > 40, (perm["probe_gap"], rand["probe_gap"])
    assert rand["predicted_acc_loss"] > perm["predicted_acc_loss"] + 20
    # the paper's measure calls the two maps alike (both ~0.84): it is blind to what the learner can use
    assert abs(perm["info_loss"] - rand["info_loss"]) < 0.05
    for key in ("predicted_acc", "predicted_acc_loss", "interval", "info_loss", "seconds"):
        assert key in perm
    assert len(perm["git"]["commit"]) == 40  # traceable to the code that made it
    lo, hi = perm["interval"]
    assert lo <= perm["predicted_acc_loss"] <= hi
    assert 0 <= perm["predicted_acc"] <= 100 and 0 <= rand["predicted_acc"] <= 100


@pytest.mark.slow
def test_command_line_writes_prediction_json_and_refuses_bad_input(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    p = run_cli(tiny(data_dir) + BUDGET + ["trainer.max_epochs=2", "transform=rvt", f"hydra.run.dir={run_dir}",
                                           f"paths.output_dir={tmp_path}"], data_dir, tmp_path, script="predict.py")
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads((run_dir / "prediction.json").read_text())
    assert out["transform"] == "rvt" and 0 < out["info_loss"] < 1 and "predicted accuracy" in p.stdout
    p = run_cli(tiny(data_dir) + ["transform=rvt", "transform.key=authors:cifar10", f"hydra.run.dir={run_dir}"],
                data_dir, tmp_path, script="predict.py")
    assert p.returncode == 2 and p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1
