"""predict.py's work: the accuracy a run would lose to its transform, from two short probes of its own
learner (rvt.training.probe) and a line fitted on every committed cell (rvt/training/predictor.json,
written by experiments/predictor.py report). Reads the training and validation splits only.

prediction.json: ``predicted_acc_loss`` (points below the plain cell of the same dataset and model),
``interval`` (a range for it: the 90 % quantile of the leave-one-dataset-out errors on either side), both
held to an accuracy within [0, 100] % when the plain cell is committed (rvt.training.probe.bounded_loss),
``predicted_acc`` (the committed plain cell's mean test accuracy minus the predicted loss; null when no
plain cell of this dataset x model is committed), ``info_loss`` (the paper's measure, on 1000 validation
images), the probes' numbers, ``seconds`` (all of it) and ``cost_fraction`` (seconds over the fastest committed
plain run's fit seconds of this dataset x model, when there is one).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from rvt.errors import RVTError
from rvt.training.probe import (bounded_loss, budget, features, probe, probe_config, probe_steps,
                                usable_fraction)
from rvt.training.record import Cell, load_records
from rvt.training.results import git_state, information_loss_of, write_results

log = logging.getLogger("predict")
CALIBRATION = Path(__file__).with_name("predictor.json")
ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "experiments" / "results" / "runs"


def calibration() -> dict:
    """The fitted line; refused when it was fitted on probes of another budget rule than this code's."""
    if not CALIBRATION.is_file():
        raise RVTError(f"no predictor calibration at {CALIBRATION}: run `python experiments/predictor.py report`")
    fit = json.loads(CALIBRATION.read_text())
    if fit.get("budget") != budget():
        raise RVTError(f"the predictor calibration {CALIBRATION} was fitted on probes of another budget "
                       f"({fit.get('budget')}, this code's: {budget()}); run `python experiments/predictor.py probe`, "
                       "then `report`")
    return fit


def _cached_plain_probe(cfg: DictConfig, steps: int) -> dict:
    """The plain probe of this dataset x model x recipe x seed, run once and kept under outputs/."""
    plain = probe_config(cfg, plain=True)
    settings = OmegaConf.to_container(plain, resolve=False)
    settings.pop("paths", None)
    # the budget rule too: a probe scored on another number of validation images is another probe
    key = [settings, steps, budget()]
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(str(cfg.paths.output_dir)) / "probe-cache" / f"plain-{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())
    rec = probe(plain, steps)
    write_results(path.parent, rec, path.name)
    return rec


def plain_reference(dataset: str, model: str, experiment: str) -> tuple[float | None, float | None]:
    """(mean test accuracy, fastest fit seconds) of the committed plain runs of this cell, else (None, None).
    The fastest seed: other jobs on the machine only ever slow a run, so its fit is the closest to a quiet
    one, and the cost fraction is not flattered by a loaded run."""
    accs, secs = [], []
    for _, r in load_records(COMMITTED):
        if r.cell() == Cell(experiment, dataset, model, "none", "-", ""):
            accs.append(r.test_acc)
            secs.append(r.fit_seconds)
    if not accs:
        return None, None
    secs = [s for s in secs if s]
    return sum(accs) / len(accs), (min(secs) if secs else None)


def predict(cfg: DictConfig) -> dict:
    from rvt.training.run import build_transform, check_config, check_transform_fits

    t0 = time.perf_counter()
    code = git_state()  # the code this prediction runs, as train.py records it
    check_config(cfg)
    transform = build_transform(cfg.transform)
    check_transform_fits(transform, cfg)
    fit = calibration()
    steps = probe_steps(cfg)
    plain = _cached_plain_probe(cfg, steps)
    encrypted = probe(probe_config(cfg), steps)
    feature = features(plain, encrypted)
    loss = fit["slope"] * feature[fit.get("feature", "gap")] + fit["intercept"]
    half = fit["interval_half_width"]
    reference, reference_seconds = plain_reference(cfg.dataset.name, cfg.model.name, cfg.experiment_name)
    interval = [loss - half, loss + half]
    if reference is not None:  # an accuracy within [0, 100] %
        loss, interval = bounded_loss(loss, 100 * reference), [bounded_loss(v, 100 * reference) for v in interval]

    dm = hydra.utils.instantiate(probe_config(cfg).data, transform=None)
    dm.setup()
    info = None
    if not getattr(transform, "moves_channels", False):
        info = information_loss_of(dm.splits["val"].x, transform, 1000, kernel=cfg.info_loss.kernel,
                                   scale=cfg.info_loss.scale, alpha=cfg.info_loss.alpha, channels=cfg.info_loss.channels)
    seconds = time.perf_counter() - t0
    return dict(
        dataset=cfg.dataset.name, model=cfg.model.name, transform=cfg.transform.name, augment=cfg.data.augment,
        experiment=cfg.experiment_name, seed=int(cfg.seed),
        predicted_acc=None if reference is None else round(100 * reference - loss, 2),
        predicted_acc_loss=round(loss, 2), interval=[round(v, 2) for v in interval],
        info_loss=info, probe_gap=round(feature["gap"], 3), probe_relative_gap=round(feature["relative gap"], 4),
        usable_fraction=usable_fraction(plain, encrypted),
        plain_probe=plain, encrypted_probe=encrypted, probe_steps=steps, plain_reference_acc=reference,
        seconds=round(seconds, 1),
        cost_fraction=None if not reference_seconds else round(seconds / reference_seconds, 3),
        calibration=fit, git=code)


def predict_task(cfg: DictConfig) -> float | None:
    """The command line's prediction: one line printed, prediction.json in the run directory; a user's
    mistake is one line and exit 2 (as train.py)."""
    from rvt.training.run import user_errors_exit

    out = user_errors_exit(predict, cfg)
    path = write_results(Path(str(cfg.paths.run_dir)), out, "prediction.json")
    acc = "n/a" if out["predicted_acc"] is None else f"{out['predicted_acc']:.2f} %"
    info = "n/a" if out["info_loss"] is None else f"{out['info_loss']:.3f}"
    print(f"{out['dataset']} {out['model']} {out['transform']} ({out['augment']}): predicted accuracy {acc}, "
          f"loss {out['predicted_acc_loss']:.2f} points [{out['interval'][0]:.2f}, {out['interval'][1]:.2f}] | "
          f"information loss {info} | {out['seconds']:.0f} s -> {path}")
    return out["predicted_acc_loss"]
