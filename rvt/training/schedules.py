"""Learning-rate schedules, as the Lightning ``lr_scheduler`` dicts that ``configure_optimizers`` returns.

The scheduler config group (conf/scheduler/) instantiates one of these as a partial; the LightningModule
calls it with the optimiser, the number of epochs and the total number of optimiser steps, which only
the running Trainer knows.
"""

from __future__ import annotations

import math

import torch

from rvt.errors import RVTError


def cosine(optimizer: torch.optim.Optimizer, epochs: int, total_steps: int, interval: str = "epoch",
           warmup_epochs: float = 0.0, final_fraction: float = 0.0) -> dict:
    """Cosine decay to ``final_fraction`` x the base lr, stepped per ``epoch`` (the authors' schedule:
    ``CosineAnnealingLR`` over the epochs) or per ``step``, after a linear warm-up of ``warmup_epochs``
    (fractional allowed; per-step only)."""
    if interval not in ("epoch", "step"):
        raise RVTError(f"scheduler.interval must be epoch or step, got {interval!r}")
    if interval == "epoch":
        if warmup_epochs:
            raise RVTError("scheduler.warmup_epochs needs scheduler.interval=step (scheduler=warmup_cosine)")
        return {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, int(epochs)), eta_min=0.0), "interval": "epoch"}
    total = max(1, int(total_steps))
    warmup = min(total, max(0, round(float(warmup_epochs) * total / max(1, int(epochs)))))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
