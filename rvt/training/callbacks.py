"""The side effects of a training run, as Lightning callbacks (lightning-hydra-template's habit): the run's
start is logged with its information loss (:class:`InformationLoss`) before the first step, so a running
sweep's accuracy-vs-information scatter fills in as runs end."""

from __future__ import annotations

import pytorch_lightning as pl

from rvt.training.results import information_loss_of
from rvt.training.tracking import log_start


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
