"""Learning-rate schedules, as the Lightning ``lr_scheduler`` dicts that ``configure_optimizers`` returns.

The scheduler config group (conf/scheduler/) instantiates one of these as a partial; the LightningModule
calls it with the optimiser, the number of epochs and the total number of optimiser steps, which only
the running Trainer knows.
"""

from __future__ import annotations

import math

import torch


def cosine_per_epoch(optimizer: torch.optim.Optimizer, epochs: int, total_steps: int) -> dict:
    """Cosine decay to 0 over ``epochs``, stepped at the end of each epoch (the authors' schedule)."""
    return {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(epochs))),
            "interval": "epoch"}


def warmup_cosine(optimizer: torch.optim.Optimizer, epochs: int, total_steps: int,
                  warmup_epochs: float = 1.0, final_fraction: float = 0.0) -> dict:
    """Linear warm-up over ``warmup_epochs`` (fractional allowed), then cosine decay to
    ``final_fraction`` x the base lr at the last step; stepped after every optimiser step."""
    total = max(1, int(total_steps))
    warmup = min(total, max(0, round(float(warmup_epochs) * total / max(1, int(epochs)))))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
