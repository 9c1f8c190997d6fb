"""Model selection: results.json's ``test_acc`` is the test accuracy of the checkpoint with the best
validation accuracy, not of the last epoch's weights and not of the epoch best on the test set.

A callback scripts the network of each epoch: after every training step it sets an MLP to predict one class
for every image, so an epoch's validation (test) accuracy is that class's share of the validation (test)
split. The classes are chosen from the splits' labels so that the epoch best on validation, the epoch best
on the test set and the last epoch are three different epochs with three different test accuracies: a run
that selected on the test set, or reported the last weights, gets another number.
"""

from __future__ import annotations

import itertools

import hydra
import pytest
import torch
from pytorch_lightning import Callback

from rvt.training import run as train_script  # the library, not the script
from training_helpers import make_cfg, tiny

SCRIPT: list[int] = []  # the class the network predicts in each epoch


class PredictOneClass(Callback):
    """After every training step: zero the MLP, give its output layer a bias that picks SCRIPT[epoch]."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with torch.no_grad():
            for p in pl_module.net.parameters():
                p.zero_()
            last = [m for m in pl_module.net.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.bias[SCRIPT[trainer.current_epoch]] = 10.0


def shares(labels: torch.Tensor) -> list[float]:
    return (torch.bincount(labels, minlength=10).float() / len(labels)).tolist()


def script_for(val: list[float], test: list[float]) -> tuple[int, int, int]:
    """Classes for epochs 0, 1, 2: best on validation in epoch 1, best on test in epoch 0, last epoch 2,
    each strictly, with three different test accuracies."""
    for c in itertools.permutations(range(10), 3):
        v, t = [val[k] for k in c], [test[k] for k in c]
        if v[1] > max(v[0], v[2]) and t[0] > max(t[1], t[2]) and len(set(t)) == 3:
            return c
    raise AssertionError("no such classes in these splits")


@pytest.mark.slow
def test_test_acc_is_the_validation_selected_checkpoint(tmp_path, data_dir):
    overrides = tiny(data_dir) + [
        "model=mlp", "model.hidden=[16]", "transform=rvt", "logger=none", "info_loss.enabled=false",
        "trainer.max_epochs=3", "dataset.val_size=300", "dataset.test_subset=300", "data.eval_batch_size=100",
        "trainer.limit_val_batches=1.0", "trainer.limit_test_batches=1.0", "test_every_epoch=true",
        "+callbacks.script._target_=test_selection.PredictOneClass"]
    cfg = make_cfg(overrides, tmp_path)
    dm = hydra.utils.instantiate(cfg.data, transform=None)
    dm.setup()
    val, test = shares(dm.splits["val"].y), shares(dm.splits["test"].y)
    SCRIPT[:] = script_for(val, test)

    res = train_script.train(cfg)

    assert [h["val_acc"] for h in res["history"]] == pytest.approx([val[c] for c in SCRIPT])
    assert res["val_best_epoch"] == 1 and res["test_best_epoch"] == 0 and res["epochs"] == 3
    assert res["best_checkpoint"].endswith("best-epoch001.ckpt")
    assert res["test_acc"] == pytest.approx(test[SCRIPT[1]])  # the checkpoint selected on validation
    assert res["test_acc_last"] == pytest.approx(test[SCRIPT[2]])  # the last epoch's weights
    assert res["test_acc_best_epoch"] == pytest.approx(test[SCRIPT[0]])  # the authors' protocol
