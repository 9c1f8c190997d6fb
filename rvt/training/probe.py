"""A short probe of a run: its own network, recipe and batch pipeline, trained for a few steps on the
training split and scored on the validation split. The test split is never opened.

The probe's held-out cross-entropy estimates the *usable information* of the encrypted images for this
learner at this budget (V-information, Xu et al., ICLR 2020; Ethayarajh et al., ICML 2022):
I_V(X -> Y) = H(Y) - H_V(Y | X), with H_V(Y | X) the best cross-entropy the family V reaches, here the
validation cross-entropy of the probe, and H(Y) the entropy of the validation labels. A fixed keyed map
that the network can learn keeps it (a fully connected network loses nothing); a fresh map per image
destroys what is shared across images, and the probe sees it as a network that cannot learn.
docs/prediction.md has the theory and what predict.py does with it.
"""

from __future__ import annotations

import copy
import math
import time

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from rvt.training.models import count_parameters

#: the fraction of the quick run's training images each probe sees. A prediction runs two probes (plain and
#: encrypted) at about the run's cost per image, plus their validation passes and a few seconds of set-up:
#: 3 % each keeps a prediction with both probes under the issue's 10 % of the run it predicts (5 % each cost a
#: CIFAR-10 ResNet prediction 11.7 %, 3.5 % with 5000 validation images an MNIST ResNet one 11.6 %)
STEP_FRACTION = 0.03
#: the validation images a probe is scored on: the first of the (seeded, shuffled) validation split, the same
#: images for the plain and the encrypted probe, so that their gap is a paired comparison
PROBE_VAL = 1000
#: the probe's batch (the run's, if smaller): the same images in more, smaller steps, so that a probe of a
#: large-batch recipe (the quick ViT's 256) leaves its warm-up; chosen on the plain probes' validation
#: accuracies, never on a test accuracy (docs/prediction.md, "Which runs informed the design")
PROBE_BATCH = 64


def budget() -> dict:
    """The probe's budget rule, recorded with each probe so that probes of another rule are never mixed."""
    return {"step_fraction": STEP_FRACTION, "probe_batch": PROBE_BATCH, "probe_val": PROBE_VAL}


def probe_batch(cfg: DictConfig) -> int:
    """The batch of a probe of the run ``cfg`` describes: PROBE_BATCH, or the run's if smaller."""
    return min(int(cfg.data.batch_size), PROBE_BATCH)


def run_steps(cfg: DictConfig, n_train: int) -> int:
    """The optimiser steps of the full run ``cfg`` describes (one process)."""
    per_epoch = n_train // int(cfg.data.batch_size)
    return int(cfg.trainer.max_epochs) * max(1, per_epoch)


def label_entropy(y: torch.Tensor) -> float:
    """H(Y) in nats of the labels' empirical distribution."""
    p = torch.bincount(y).double() / len(y)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def probe_config(cfg: DictConfig, plain: bool = False) -> DictConfig:
    """``cfg`` for a probe: no test split, no logger, checkpoint or callbacks; plain images if ``plain``."""
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.data.batch_size = probe_batch(cfg)
        out.data.read_test = False
        out.data.test_every_epoch = False
        out.logger = None
        out.callbacks = None
        if plain:
            out.transform = OmegaConf.create({"_target_": "rvt.create_transform", "name": "none"})
    return out


def probe(cfg: DictConfig, steps: int) -> dict:
    """Train ``cfg``'s network on its (encrypted) training batches for ``steps`` steps, with its optimiser and
    its schedule compressed to those steps; return its accuracy and cross-entropy on the first PROBE_VAL
    validation images (whole batches), the usable information estimate and the seconds it took."""
    from rvt.training.run import build_transform  # the construction train.py uses

    t0 = time.perf_counter()
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    transform = build_transform(cfg.transform)
    datamodule = hydra.utils.instantiate(cfg.data, transform=transform)
    net = hydra.utils.instantiate(cfg.model)
    scheduler = cfg.get("scheduler")
    module = hydra.utils.instantiate(
        cfg.module, net=net, optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(scheduler) if scheduler and scheduler.get("_target_") else None)
    eval_batch = int(cfg.data.eval_batch_size)
    val_batches = math.ceil(PROBE_VAL / eval_batch)  # the validation loader keeps the split's order
    trainer = hydra.utils.instantiate(
        cfg.trainer, max_steps=int(steps), callbacks=[], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        check_val_every_n_epoch=10**6, limit_val_batches=val_batches)
    trainer.fit(module, datamodule=datamodule)
    metrics = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    n_val = min(len(datamodule.splits["val"]), val_batches * eval_batch)
    entropy = label_entropy(datamodule.splits["val"].y[:n_val])
    loss = float(metrics["val/loss"])
    return dict(val_acc=float(metrics["val/acc"]), val_loss=loss, label_entropy=entropy,
                usable_nats=max(0.0, entropy - loss), steps=int(trainer.global_step),
                batch=int(cfg.data.batch_size), budget=budget(),
                parameters=count_parameters(net), seconds=round(time.perf_counter() - t0, 3),
                n_val=n_val, n_train=len(datamodule.splits["train"]))


def probe_steps(cfg: DictConfig) -> int:
    """The optimiser steps of one probe: STEP_FRACTION of the training images of the run ``cfg`` describes
    (its training split: the dataset's training file less the validation split, or ``dataset.train_subset``),
    in batches of PROBE_BATCH (or the run's, if smaller)."""
    from rvt.training.datasets import DATASETS

    n_train = DATASETS[cfg.dataset.name].train_images - int(cfg.dataset.val_size)
    if cfg.dataset.train_subset:
        n_train = min(n_train, int(cfg.dataset.train_subset))
    images = STEP_FRACTION * run_steps(cfg, n_train) * int(cfg.data.batch_size)
    return max(1, round(images / probe_batch(cfg)))


def features(plain: dict, encrypted: dict) -> dict:
    """What the probes of a cell say: ``gap``, the plain probe's minus the encrypted probe's validation
    accuracy (points), and ``relative gap``, the gap as a share of the plain probe's accuracy (%; nan when
    the plain probe scored nothing)."""
    gap = 100 * (plain["val_acc"] - encrypted["val_acc"])
    return {"gap": gap, "relative gap": gap / plain["val_acc"] if plain["val_acc"] > 0 else math.nan}


def bounded_loss(loss: float, plain_acc: float) -> float:
    """A predicted accuracy loss (points) held to what the plain cell's accuracy ``plain_acc`` (%) allows: no
    lower than plain_acc - 100 (an accuracy above 100 %), no higher than plain_acc (below 0 %). The fitted
    line knows no such limit: a probe that learns faster on encrypted images than on plain ones (the MNIST
    ViT's) would otherwise predict an accuracy above 100 %."""
    return min(max(loss, plain_acc - 100.0), plain_acc)


def usable_fraction(plain: dict, encrypted: dict) -> float | None:
    """The encrypted images' usable information over the plain images' (above 1 when the encrypted probe
    learnt more); None when the plain probe has none."""
    if plain["usable_nats"] <= 0:
        return None
    return encrypted["usable_nats"] / plain["usable_nats"]
