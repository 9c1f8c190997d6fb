"""The side effects of a training run, as Lightning callbacks (lightning-hydra-template's habit): the run's
start is logged with its information loss (:class:`InformationLoss`) before the first step, so a running
sweep's accuracy-vs-information scatter fills in as runs end; the run record (results.json) is written
when fitting starts and again, with what came out, when the run ends (:class:`RunRecorder`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytorch_lightning as pl

from rvt.training.models import count_parameters
from rvt.training.record import RunRecord
from rvt.training.results import information_loss_of
from rvt.training.tracking import log_results, log_start


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class InformationLoss(pl.Callback):
    """Measures the information-loss rate (docs/information.md) of the first ``n_images`` plain test images
    under the run's transform on rank 0 when fitting is set up, and logs it with the run's config.

    ``value`` holds it (None when disabled, or for a block-wise key that moves values between channels:
    the measure is defined for position maps)."""

    def __init__(self, config: dict, enabled: bool = True, n_images: int = 1000, kernel: str = "exp",
                 scale: float = 2.0, alpha: float = 1.0, channels: str = "mean"):
        self.config, self.enabled = config, bool(enabled)
        self.n_images, self.settings = int(n_images), dict(kernel=kernel, scale=scale, alpha=alpha, channels=channels)
        self.value: float | None = None
        self._done = False

    def setup(self, trainer, pl_module, stage):
        # setup, not on_fit_start: it runs before a resumed run restores the generators from its checkpoint,
        # so the per-image random maps it measures are those of a fresh run (as before fit was called)
        if self._done or stage != "fit":
            return
        self._done = True
        transform = trainer.datamodule.transform
        if trainer.is_global_zero and self.enabled and not getattr(transform, "moves_channels", False):
            self.value = information_loss_of(trainer.datamodule.test_images(), transform, self.n_images,
                                             **self.settings)
        log_start(trainer.loggers, self.config, self.value)


class RunRecorder(pl.Callback):
    """Writes the run's :class:`~rvt.training.record.RunRecord` into ``run_dir`` on rank 0: with ``status:
    running`` when fitting starts (a crashed or killed run leaves this record: its folder is not a finished
    run), then :meth:`finish` writes what came out and logs it to the run's loggers (wandb's summary)."""

    def __init__(self, run_dir: str | Path, start: RunRecord):
        self.run_dir, self.record = Path(run_dir), start

    def on_fit_start(self, trainer, pl_module):
        dm = trainer.datamodule
        self.record = self.record.update(
            status="running", started=_now(), n_train=len(dm.splits["train"]), n_val=len(dm.splits["val"]),
            n_test=len(dm.splits["test"]), parameters=count_parameters(pl_module.net),
            accelerator=type(trainer.accelerator).__name__, devices=int(trainer.num_devices),
            world_size=int(trainer.world_size))
        if trainer.is_global_zero:
            self.record.write(self.run_dir)

    def finish(self, trainer, **outcome) -> RunRecord | None:
        """The final record (``outcome``: status and the results), written and logged on rank 0; None on
        other ranks."""
        if not trainer.is_global_zero:
            return None
        self.record = self.record.update(finished=_now(), **outcome)
        self.record.write(self.run_dir)
        log_results(trainer.loggers, self.record.to_dict())
        return self.record
