"""Training progress a person can read in a log file: ``progress=auto`` (the default) shows Lightning's
bar on a terminal and, when stdout is a file or a pipe (SLURM, nohup, CI), one line every
``progress_every_s`` seconds (epoch, step, loss, images/s) and one line per epoch (train loss, val and
test accuracy, time). ``progress=bar`` / ``lines`` / ``none`` force one or the other.
"""

from __future__ import annotations

import logging
import sys
import time

import pytorch_lightning as pl

from rvt.progress import EVERY_S, Ticker, is_terminal

log = logging.getLogger("train")

MODES = ("auto", "bar", "lines", "none")


class LineProgress(pl.Callback):
    """One log line every ``every_s`` seconds of training and one at the end of every epoch (rank 0)."""

    def __init__(self, every_s: float = EVERY_S):
        self.every_s = float(every_s)
        self.ticker: Ticker | None = None
        self.images = 0
        self.epoch_start = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self.ticker = Ticker(self.every_s)
        self.images = 0
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.images += len(batch[1]) * trainer.world_size
        if not trainer.is_global_zero or self.ticker is None or not self.ticker.due():
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        total = trainer.num_training_batches
        rate = self.images / max(self.ticker.elapsed(), 1e-9)
        log.info("epoch %d/%d | batch %d/%s | step %d | loss %.4f | %.0f img/s", trainer.current_epoch + 1,
                 trainer.max_epochs, batch_idx + 1, total if total != float("inf") else "?",
                 trainer.global_step, float(loss), rate)

    def on_train_epoch_end(self, trainer, pl_module):
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        seconds = time.perf_counter() - self.epoch_start

        def value(name):
            v = m.get(name)
            return "n/a" if v is None else f"{float(v):.4f}"

        log.info("epoch %d/%d done | train loss %s | val acc %s | test acc %s | %.0f s, %.0f img/s",
                 trainer.current_epoch + 1, trainer.max_epochs, value("train/loss_epoch"), value("val/acc"),
                 value("test/acc_epoch"), seconds, self.images / max(seconds, 1e-9))


def progress_setup(mode: str, bar_allowed: bool = True, every_s: float = EVERY_S,
                   terminal: bool | None = None) -> tuple[bool, list[pl.Callback]]:
    """(enable Lightning's bar, extra callbacks) for ``progress=mode``. ``bar_allowed`` is
    ``trainer.enable_progress_bar``: when it is false, ``auto`` prints lines instead of a bar."""
    terminal = is_terminal(sys.stdout) if terminal is None else terminal  # where Lightning's bar writes
    bar = mode == "bar" or (mode == "auto" and terminal and bar_allowed)
    lines = mode == "lines" or (mode == "auto" and not bar)
    return bar, [LineProgress(every_s)] if lines else []


__all__ = ["LineProgress", "MODES", "progress_setup"]
