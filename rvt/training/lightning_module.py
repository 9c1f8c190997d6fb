"""The LightningModule: an image classifier, its optimiser and schedule (config groups), optional RICAP.

Metric names: ``train/loss``, ``train/acc`` (area-weighted under RICAP), ``train/lr``, ``val/loss``,
``val/acc``, ``val/acc_best``, and with ``test_every_epoch`` (the authors' protocol: the test set is
evaluated after every epoch and the best value reported) ``test/acc_epoch`` and ``test/acc_best``;
``test/loss`` and ``test/acc`` from ``trainer.test``. The best values and the per-epoch history are kept
in checkpoints, so a resumed run reports the same as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from rvt.training.ricap import ricap, ricap_accuracy, ricap_loss

log = logging.getLogger("train")


class ImageClassifier(pl.LightningModule):
    """Image classifier trained on (encrypted) batches: the network, its optimiser and schedule, RICAP,
    and the metrics of both protocols (val-selected and best test epoch)."""

    def __init__(self, net: nn.Module, num_classes: int, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, ricap_beta: float | None = None,
                 label_smoothing: float = 0.0, channels_last: bool = False, compile: bool = False,
                 run_config: dict | None = None):
        super().__init__()
        # primitives only (the resolved run config travels in the checkpoint for eval.py)
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        # channels-last convolutions: +40 % images/s for the small ResNets on a CPU, the fast path on a GPU
        self.channels_last = bool(channels_last)
        self.net = net.to(memory_format=torch.channels_last) if self.channels_last else net
        # torch.compile is lazy: it fails (if it does) at the first call, where forward falls back to eager
        # (kept outside the module tree: its parameters are the net's, not a second copy in checkpoints)
        object.__setattr__(self, "_compiled", torch.compile(self.net) if compile else None)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.ricap_beta = float(ricap_beta) if ricap_beta else None
        self.label_smoothing = float(label_smoothing)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.epoch_test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.progress = dict(val_acc_best=None, val_best_epoch=None, test_acc_best=None, test_best_epoch=None,
                             history=[], train_seconds=0.0, train_images=0)
        self.last_test: dict = {}
        self._t_epoch = self._t_val = None
        self._val_seconds = 0.0

    def forward(self, x):
        if x.dtype != self.dtype:  # the pipeline yields float32; a 64-true / 16-true / bf16-true network wants its own
            x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self._compiled is not None:
            try:
                return self._compiled(x)
            except Exception as e:  # no compiler, unsupported op, ...: the run goes on uncompiled
                log.warning("torch.compile failed (%s: %s); running the network uncompiled", type(e).__name__,
                            str(e).strip().splitlines()[0] if str(e).strip() else "")
                object.__setattr__(self, "_compiled", None)
        return self.net(x)

    # -- training ------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, y = batch[0], batch[1]  # (input, labels, image ids): rvt.training.datamodule
        if self.ricap_beta:
            x, labels, weights = ricap(x, y, self.ricap_beta)
            logits = self(x)
            loss = ricap_loss(logits, labels, weights, label_smoothing=self.label_smoothing)
            acc = ricap_accuracy(logits, labels, weights)
        else:
            logits = self(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
            acc = (logits.argmax(1) == y).float().mean()
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=len(y))
        self.progress["train_images"] += len(y) * self.trainer.world_size
        return loss

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_train_epoch_start(self):
        self._sync()
        self._t_epoch, self._val_seconds = time.perf_counter(), 0.0
        opt = self.optimizers()
        if opt is not None and not isinstance(opt, list):
            self.log("train/lr", opt.param_groups[0]["lr"], on_step=False, on_epoch=True)

    def on_train_epoch_end(self):
        self._sync()
        if self._t_epoch is not None:
            seconds = time.perf_counter() - self._t_epoch - self._val_seconds
            self.progress["train_seconds"] += seconds
            self._t_epoch = None
            if self.progress["history"] and self.progress["history"][-1]["epoch"] == self.current_epoch:
                self.progress["history"][-1]["train_seconds"] = round(seconds, 3)  # this epoch's training time

    # -- validation (and the per-epoch test of the authors' protocol) ----------------------------
    def on_validation_epoch_start(self):
        self._sync()
        self._t_val = time.perf_counter()

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y = batch[0], batch[1]  # (input, labels, image ids): rvt.training.datamodule
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        if dataloader_idx == 0:
            self.val_acc.update(logits, y)
            self.log("val/loss", loss, on_epoch=True, add_dataloader_idx=False, sync_dist=True, batch_size=len(y))
        else:
            self.epoch_test_acc.update(logits, y)

    def on_validation_epoch_end(self):
        self._sync()
        if self._t_val is not None and self._t_epoch is not None:
            self._val_seconds += time.perf_counter() - self._t_val
        val = self.val_acc.compute() if self.val_acc.update_count else None
        test = self.epoch_test_acc.compute() if self.epoch_test_acc.update_count else None
        self.val_acc.reset()
        self.epoch_test_acc.reset()
        if val is not None:
            self.log("val/acc", val, prog_bar=True)
        if test is not None:
            self.log("test/acc_epoch", test)
        if self.trainer.sanity_checking:
            return
        p, epoch = self.progress, self.current_epoch
        if val is not None and (p["val_acc_best"] is None or float(val) > p["val_acc_best"]):
            p["val_acc_best"], p["val_best_epoch"] = float(val), epoch
        if test is not None and (p["test_acc_best"] is None or float(test) > p["test_acc_best"]):
            p["test_acc_best"], p["test_best_epoch"] = float(test), epoch
        p["history"].append(dict(epoch=epoch, step=int(self.global_step),
                                 val_acc=None if val is None else float(val),
                                 test_acc=None if test is None else float(test)))
        if p["val_acc_best"] is not None:
            self.log("val/acc_best", p["val_acc_best"])
        if p["test_acc_best"] is not None:
            self.log("test/acc_best", p["test_acc_best"])

    # -- test ----------------------------------------------------------------------------------
    def test_step(self, batch, batch_idx):
        x, y = batch[0], batch[1]  # (input, labels, image ids): rvt.training.datamodule
        logits = self(x)
        self.test_acc.update(logits, y)
        self.log("test/loss", F.cross_entropy(logits, y), on_epoch=True, sync_dist=True, batch_size=len(y))

    def on_test_epoch_end(self):
        acc = float(self.test_acc.compute()) if self.test_acc.update_count else None
        self.test_acc.reset()
        if acc is not None:
            self.log("test/acc", acc)
        self.last_test = dict(acc=acc)

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self):
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        # schedules (rvt.training.schedules) need the run's length, which only the Trainer knows
        schedule = self.scheduler_factory(optimizer=opt, epochs=self.trainer.max_epochs,
                                          total_steps=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": schedule}

    # -- state carried across resume -----------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        checkpoint["rvt_progress"] = dict(self.progress, history=list(self.progress["history"]))

    def on_load_checkpoint(self, checkpoint):
        if "rvt_progress" in checkpoint:
            self.progress.update(checkpoint["rvt_progress"])
