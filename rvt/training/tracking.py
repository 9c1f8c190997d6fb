"""What the experiment trackers (wandb, csv) see of a training run.

- every run carries the flattened config (``dataset.name``, ``optimizer.lr``, ... as columns a wandb user
  filters and groups by), a group per dataset x model and tags (dataset, model, transform, experiment,
  augmentation order and, in a sweep, ``sweep:<name>``), set by conf/logger/wandb.yaml and ``tags``;
- ``info_loss`` is logged when the run starts, so that a running sweep's accuracy-vs-information
  scatter fills in as runs finish; the results (test_acc, ...) when it ends;
- a failed or interrupted run is closed too, marked failed.

The summary run that compares the cells of a sweep is experiments/report.py --wandb.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf


def run_id(run_dir: str) -> str:
    """A wandb run id fixed by the run directory: a requeued or resumed job logs into the run it started
    (``resume: allow``), so each job is one wandb run however often SLURM restarts it."""
    return hashlib.sha1(str(Path(str(run_dir)).resolve()).encode()).hexdigest()[:16]


# conf/logger/wandb.yaml: ``${rvt.run_id:${paths.run_dir}}`` and ``${rvt.first:${sweep},...}`` (a sweep's
# runs share its group; a single run is grouped by dataset x model)
OmegaConf.register_new_resolver("rvt.run_id", run_id, replace=True)
OmegaConf.register_new_resolver("rvt.first", lambda *values: next((v for v in values if v is not None), None),
                                replace=True)


def sweep_name() -> str | None:
    """The name of the multirun this process belongs to (its ``hydra.sweep.dir`` folder), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    return Path(str(hc.sweep.dir)).name if hc.mode == RunMode.MULTIRUN else None


def task_overrides() -> list[str] | None:
    """The command line's config overrides of this run (Hydra's task overrides, e.g. ``optimizer.lr=1e-3``),
    None outside a Hydra app: results.json records them so that a run with a changed recipe is told apart
    from the default recipe's cell (experiments/report.py variant_of)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return [str(o) for o in HydraConfig.get().overrides.task]


def tag_sweep(cfg) -> None:
    """Name the sweep of this run (the ``sweep`` setting, else the multirun's folder) in ``cfg.sweep`` and
    add the tag ``sweep:<name>`` that its training runs and its summary run (report.py --wandb) share."""
    from omegaconf import open_dict

    sweep = cfg.get("sweep") or sweep_name()
    if sweep:
        with open_dict(cfg):
            cfg.sweep = str(sweep)
            cfg.tags = [*cfg.tags, f"sweep:{sweep}"]


def flat_config(config: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: one column per setting in wandb's runs table."""
    out = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flat_config(v, key + "."))
        else:
            out[key] = v
    return out


def _is_wandb(logger) -> bool:
    return type(logger).__name__ == "WandbLogger"


def log_start(loggers, config: dict, info_loss: float | None) -> None:
    """The run's settings (flattened for wandb) and its information loss, before the first step."""
    for lg in loggers:
        lg.log_hyperparams(flat_config(config) if _is_wandb(lg) else config)
        if info_loss is not None:
            if _is_wandb(lg):
                lg.experiment.summary["info_loss"] = info_loss
            lg.log_metrics({"info_loss": info_loss}, step=0)


def log_results(loggers, results: dict) -> None:
    """results.json's numbers: in wandb's run summary (the runs table's columns) and as metrics."""
    scalars = {f"results/{k}": v for k, v in results.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for lg in loggers:
        if _is_wandb(lg):
            lg.experiment.summary.update({k: v for k, v in results.items()
                                          if isinstance(v, (int, float, str)) or v is None})
        lg.log_metrics(scalars)
        lg.save()


def finish(loggers, exit_code: int) -> None:
    """Close the wandb run (exit code 1 marks it failed); other loggers need nothing."""
    if any(_is_wandb(lg) for lg in loggers):
        import wandb

        wandb.finish(exit_code=exit_code)


__all__ = ["finish", "flat_config", "log_results", "log_start", "sweep_name", "tag_sweep"]
