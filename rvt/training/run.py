"""One training run as a library function: ``train(cfg)`` builds everything a composed config describes
(transform, DataModule, network, LightningModule, Trainer, callbacks, loggers), fits, tests the last and the
validation-selected weights and writes results.json; ``task(cfg)`` wraps it for the command line (one line
and exit 2 for a user's mistake, the wandb run closed either way). train.py composes the config and calls
``task``; eval.py and the tests import this module, never the script.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rvt.errors import RVTError
from rvt.training.callbacks import InformationLoss, RunRecorder
from rvt.training.config import check_paper_weights, validate
from rvt.training.progress import progress_setup
from rvt.training.record import FILE, RunRecord
from rvt.training.results import git_state, versions
from rvt.training.tracking import finish, tag_sweep, task_overrides

log = logging.getLogger("train")

for _pattern in (".*does not have many workers.*", ".*smaller than the logging interval.*",
                 ".*is not a multiple of.*", ".*Checkpoint directory .* exists and is not empty.*",
                 ".*sync_dist=True.*", ".*LeafSpec.*"):
    warnings.filterwarnings("ignore", message=_pattern)


def build_transform(cfg: DictConfig):
    """The encryption of ``cfg.transform``: ``rvt.create_transform(name, **params)`` (rvt/registry.py)."""
    try:
        return hydra.utils.instantiate(cfg)
    except InstantiationException as e:  # a bad key or parameter is the user's: its own one-line error
        if isinstance(e.__cause__, RVTError):
            raise e.__cause__ from None
        raise


def check_config(cfg: DictConfig) -> None:
    """Every setting a user can mistype, checked before anything is built (rvt/training/config.py); the
    paper's cell first, as its settings are looked up from it."""
    if "paper" in cfg:
        cells = cfg.paper.get("cells") or {}  # conf/recipe/paper_<dataset>_<model>.yaml
        d, m, t = cfg.dataset.name, cfg.model.name, cfg.transform.name
        if t not in cells:
            hint = " (the paper's ViT is model=vit_b16)" if m == "vit" else ""
            where = (f"its table for them, conf/recipe/paper_{d}_{m}.yaml, covers {', '.join(cells)}" if cells
                     else f"it has no table conf/recipe/paper_{d}_{m}.yaml")
            raise RVTError(f"experiment=paper has no setting for dataset={d} model={m} transform={t}{hint}; {where}")
        check_paper_weights(cfg)
    validate(cfg)


def check_transform_fits(transform, cfg: DictConfig) -> None:
    """A key is made for one image size: refuse another dataset's key before any model is built."""
    size = getattr(transform, "image_size", None)
    expected = (int(cfg.dataset.size), int(cfg.dataset.size))
    if size is not None and tuple(size) != expected:
        what = f"key {transform.key_label}" if transform.key_label else f"transform {cfg.transform.name}"
        raise RVTError(f"the {what} is for {size[0]}x{size[1]} images, but {cfg.dataset.name} images are "
                       f"{expected[0]}x{expected[1]}; give a key made for them (transform.key=...)")
    if getattr(transform, "fixed", False) and not getattr(transform, "moves_channels", False):
        transform.index_for(*expected)  # builds (and caches) the map: e.g. a block that does not divide the image


def transform_identity(transform, size: int) -> dict:
    """What makes runs comparable: the key's label and active vortex count (RVT) and a digest of the
    gather map itself (fixed maps), so that a report can tell distinct maps from the same map reached
    by different settings (e.g. 1 and 2 vortices of a key whose second vortex moves nothing)."""
    from rvt.transforms.base import map_digest

    out = {"transform_map_sha1": None, "key_label": None, "active_vortices": None}
    key = getattr(transform, "key", None)
    out["key_label"] = transform.key_label
    if hasattr(key, "vortices"):
        out["active_vortices"] = sum(v.active for v in key.vortices)
    if getattr(transform, "fixed", False) and not getattr(transform, "moves_channels", False):
        out["transform_map_sha1"] = map_digest(transform.index_for(size, size))
    return out


def resolve_ckpt(spec, run_dir: Path) -> str | None:
    """``ckpt_path``: null (fresh run), ``auto`` (this run directory's last.ckpt when the directory holds an
    unfinished run: a requeued or re-run job continues where it stopped), ``last`` (that checkpoint,
    required) or a file."""
    if spec in (None, "", "null"):
        return None
    if spec == "auto":
        path = run_dir / "checkpoints" / "last.ckpt"
        try:
            unfinished = not RunRecord.load(run_dir).is_finished
        except (OSError, ValueError, TypeError):
            unfinished = True  # killed before its first record, or the record is unreadable
        return str(path) if path.is_file() and unfinished else None
    if spec == "last":
        path = run_dir / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise RVTError(f"ckpt_path=last: no {path}; to continue a killed run, repeat its command with "
                           f"hydra.run.dir=<its run directory> ckpt_path=last, or give ckpt_path=/path/to/last.ckpt")
        return str(path)
    path = Path(str(spec))
    if not path.is_file():
        raise RVTError(f"ckpt_path: no checkpoint file {path}")
    return str(path)


def _instantiate_all(group: DictConfig | None) -> list:
    if not group:
        return []
    return [hydra.utils.instantiate(node) for node in group.values() if node and "_target_" in node]


def train(cfg: DictConfig) -> dict:
    """Fit, test and record one run; returns the results dict (also written to results.json)."""
    code = git_state()  # the code this run executes: the tree at its start (commits made during it are not)
    check_config(cfg)
    tag_sweep(cfg)
    run_dir = Path(cfg.paths.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)

    config = OmegaConf.to_container(cfg, resolve=True)
    transform = build_transform(cfg.transform)
    check_transform_fits(transform, cfg)
    datamodule = hydra.utils.instantiate(cfg.data, transform=transform)
    net = hydra.utils.instantiate(cfg.model)
    if cfg.get("adapt_init"):  # the plain run's initial network, made into its encrypted twin by the key
        from rvt.training.model_keys import adapt

        net = adapt(net, transform, cfg.dataset.mean, cfg.dataset.std, int(cfg.dataset.channels), int(cfg.model.img_size))
    scheduler = cfg.get("scheduler")
    model = hydra.utils.instantiate(
        cfg.module, net=net, optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(scheduler) if scheduler and scheduler.get("_target_") else None)
    model.hparams["run_config"] = config  # the resolved config travels in every checkpoint (eval.py)
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    try:
        results = _fit_test_record(cfg, run_dir, config, transform, datamodule, model, callbacks, loggers, code)
    except BaseException:
        finish(loggers, exit_code=1)  # a failed or interrupted run is closed too, marked failed
        raise
    finish(loggers, exit_code=0)
    return results


def start_record(cfg: DictConfig, config: dict, transform, datamodule, code: dict, ckpt_path) -> RunRecord:
    """What runs, known before the first step: the cell's axes, the transform's identity, the recipe, the
    code and package versions (the record written with ``status: running``)."""
    tparams = {k: v for k, v in config["transform"].items() if k not in ("_target_", "name")}
    return RunRecord(
        status="running", experiment=cfg.experiment_name, dataset=cfg.dataset.name, model=cfg.model.name,
        model_size={k: config["model"].get(k) for k in ("width", "patch_size", "stem_stride", "stem_patch", "kwargs")
                    if k in config["model"]},
        img_size=int(datamodule.img_size), transform=cfg.transform.name,
        transform_mode=tparams.get("mode"), transform_key=tparams.get("key"), transform_params=tparams,
        **transform_identity(transform, int(cfg.dataset.size)),
        # a per-image transform is evaluated on one map per image, fixed by (seed, image id)
        eval_maps=None if getattr(transform, "fixed", True) else "fixed per image (seed, image id)",
        augment=cfg.data.augment, sweep=cfg.get("sweep"), tags=list(cfg.tags), ricap_beta=cfg.module.ricap_beta,
        seed=int(cfg.seed), augmentation={k: config["data"][k] for k in ("padding", "flip", "color_jitter")},
        overrides=task_overrides(),  # the command line's settings: a changed recipe is its own cell in the report
        max_epochs=int(cfg.trainer.max_epochs), batch_size=int(cfg.data.batch_size), resumed_from=ckpt_path,
        run_dir=str(cfg.paths.run_dir), git=dict(code, at="start"), versions=versions(), config=config)


def _fit_test_record(cfg, run_dir, config, transform, datamodule, model, callbacks, loggers, code) -> dict | None:
    bar, progress = progress_setup(cfg.progress, bool(cfg.trainer.enable_progress_bar), cfg.progress_every_s)
    measure = InformationLoss(config, **config["info_loss"])
    ckpt_path = resolve_ckpt(cfg.get("ckpt_path"), run_dir)
    recorder = RunRecorder(run_dir, start_record(cfg, config, transform, datamodule, code, ckpt_path))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=[measure, recorder, *callbacks, *progress],
                                                  logger=loggers or False, enable_progress_bar=bar)
    if trainer.is_global_zero:
        log.info("run dir %s | %s %s %s | experiment=%s%s", run_dir, cfg.dataset.name, cfg.model.name,
                 cfg.transform.name, cfg.experiment_name, f" | resuming {ckpt_path}" if ckpt_path else "")

    t0 = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - t0
    info = measure.value
    progress = copy.deepcopy(model.progress)  # testing the best checkpoint reloads older progress

    test_last = test_best = None
    best_path = None
    if cfg.get("test", True):
        trainer.test(model, datamodule=datamodule, verbose=False)  # the weights of the last epoch
        test_last = model.last_test.get("acc")
        ckpt_cb = trainer.checkpoint_callback
        best_path = getattr(ckpt_cb, "best_model_path", None) if ckpt_cb is not None else None
        if best_path and Path(best_path).is_file():
            trainer.test(model, datamodule=datamodule, ckpt_path=best_path, verbose=False)
            test_best = model.last_test.get("acc")
        else:
            best_path, test_best = None, test_last

    train_s = progress["train_seconds"]
    record = recorder.finish(
        trainer,
        status="finished" if not trainer.interrupted else "interrupted",
        epochs=int(trainer.current_epoch), steps=int(trainer.global_step),
        test_acc=test_best,  # checkpoint selected on the validation split
        test_acc_last=test_last,  # weights after the last epoch
        test_acc_best_epoch=progress["test_acc_best"],  # the authors' protocol: best test epoch
        test_best_epoch=progress["test_best_epoch"],
        val_acc_best=progress["val_acc_best"], val_best_epoch=progress["val_best_epoch"],
        info_loss=info, info_loss_images=min(int(cfg.info_loss.n_images), len(datamodule.splits["test"]))
        if info is not None else None,
        train_seconds=round(train_s, 3), fit_seconds=round(fit_seconds, 3),
        images_per_s=round(progress["train_images"] / train_s, 1) if train_s > 0 else None,
        best_checkpoint=best_path, git_end=_moved_on(code), history=progress["history"])
    if record is None:
        return None
    log.info("test_acc %s (val-selected), %s (last), %s (best epoch) | info_loss %s | %s",
             _pct(test_best), _pct(test_last), _pct(progress["test_acc_best"]),
             "n/a" if info is None else f"{info:.3f}", run_dir / FILE)
    return record.to_dict()


def _moved_on(code: dict) -> dict | None:
    """``git_end``: the tree at the end of the run, recorded only when it differs from the start's."""
    end = git_state()
    return None if end == code else end


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.2f}%"


def user_error(e: BaseException) -> str | None:
    """The one-line message for a user mistake anywhere in ``e``'s chain, else None (a bug: traceback)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, RVTError):
            return str(e)
        if isinstance(e, (ConfigCompositionException, MissingConfigException, OverrideParseException)):
            return _command_line_message(e)
        if isinstance(e, OmegaConfBaseException):
            return "config error: " + str(e).strip().splitlines()[0]
        e = e.__cause__ or e.__context__
    return None


def user_errors_exit(fn, cfg: DictConfig):
    """``fn(cfg)`` for the command line: a user's mistake anywhere in it is one line on stderr and exit 2,
    anything else a traceback (train.py, predict.py)."""
    try:
        return fn(cfg)
    except Exception as e:
        message = user_error(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _command_line_message(e) -> str:
    """One line for Hydra's report of a bad command line: its first line, the cause, the options it lists."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    cause = str(e.__cause__).strip().splitlines()[0] if e.__cause__ is not None and str(e.__cause__).strip() else ""
    first = lines[0] if lines else type(e).__name__
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Available options")), len(lines))
    stop = next((i for i, ln in enumerate(lines) if ln.startswith("Config search path")), len(lines))
    listed = " ".join(lines[start:stop])
    return first + (f" ({cause})" if cause and cause not in first else "") + (f"; {listed}" if listed else "")


def cli(hydra_main) -> None:
    """Run a ``@hydra.main`` entry point (train.py, predict.py) so that a mistake in the command line itself
    (an unknown group option or key, a malformed override) is one line and exit 2 like the others, not
    Hydra's multi-line report; HYDRA_FULL_ERROR=1 keeps Hydra's full traces."""
    import os

    if os.environ.get("HYDRA_FULL_ERROR"):
        return hydra_main()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing: the message is ours to shape
    user_errors_exit(lambda _: hydra_main(), None)


def task(cfg: DictConfig) -> float | None:
    """The command line's run: :func:`train` (user errors: one line, exit 2). Returns the val-selected test
    accuracy (Hydra sweepers optimise it)."""
    results = user_errors_exit(train, cfg)
    return None if not results else results.get("test_acc")
