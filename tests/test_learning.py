"""Training learns: a fixed number of steps on a few thousand real MNIST images reaches accuracies that
only a working pipeline reaches (plain ResNet >= 90 %, ViT >= 80 %), and a fixed permutation, which a
network can learn when the loader augments before encrypting, stays far above the per-image random
permutation, which it cannot learn. Each run takes seconds to a minute on 2 CPU cores."""

from __future__ import annotations

import pytest

import train as train_script
from test_train import make_cfg

# a few thousand images, a fixed number of steps: 4000 images x 3 epochs / 64 = 187 steps
BUDGET = ["trainer=cpu", "trainer.max_epochs=3", "trainer.enable_progress_bar=false",
          "trainer.enable_model_summary=false", "dataset.train_subset=4000", "dataset.val_size=1000",
          "dataset.test_subset=2000", "data.batch_size=64", "info_loss.enabled=false", "logger=none",
          "test_every_epoch=false", "dataset.download=false", "seed=0"]
# the quick recipe's ViT (conf/recipe/quick_mnist_vit.yaml: 7x7 patches, AdamW, warm-up, per-step cosine),
# on 10000 images for 5 epochs (780 steps; 6000 images x 4 epochs reached 76.6 %)
VIT = ["model=vit", "dataset.train_subset=10000", "trainer.max_epochs=5"]


def accuracy(tmp_path, data_dir, name, overrides) -> float:
    cfg = make_cfg(BUDGET + [f"paths.data_dir={data_dir}"] + overrides, tmp_path / name)
    return train_script.train(cfg)["test_acc"]


@pytest.mark.slow
def test_plain_mnist_is_learned(tmp_path, data_dir):
    assert accuracy(tmp_path, data_dir, "resnet", ["model=resnet", "transform=none"]) >= 0.90
    assert accuracy(tmp_path, data_dir, "vit", VIT + ["transform=none"]) >= 0.80


@pytest.mark.slow
def test_a_fixed_permutation_is_learned_and_a_per_image_one_is_not(tmp_path, data_dir):
    fixed = accuracy(tmp_path, data_dir, "perm", ["model=resnet", "transform=permutation", "data.augment=before"])
    per_image = accuracy(tmp_path, data_dir, "random", ["model=resnet", "transform=random", "data.augment=before"])
    assert fixed >= per_image + 0.3, (fixed, per_image)
    assert per_image < 0.6  # only the value histogram survives a fresh permutation per image
