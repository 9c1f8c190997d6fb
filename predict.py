"""Predict the accuracy a transform costs before training: two short probes of the same learner, on the
training and validation splits only (docs/prediction.md). Takes the same overrides as train.py and writes
prediction.json into its Hydra run directory.

    python predict.py dataset=mnist model=vit transform=permutation
    python predict.py dataset=cifar10 model=resnet transform=rvt data.augment=after
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from rvt.training.prediction import predict_task
from rvt.training.run import cli


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return predict_task(cfg)


if __name__ == "__main__":
    cli(main)
