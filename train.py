"""Train a classifier on plain or encrypted images and write results.json into the run directory.

    python train.py                                   # experiment=quick: MNIST, small ResNet-18, RVT
    python train.py dataset=cifar10 model=vit transform=random
    python train.py experiment=paper dataset=mnist model=resnet transform=rvt trainer=gpu
    python train.py -m transform=none,rvt,random seed=0,1,2
    python train.py hydra.run.dir=outputs/runs/<old run> ckpt_path=last     # continue a killed run

Config: conf/train.yaml and its groups (docs/training.md). This file only composes and hands over: the run
is rvt.training.run (build, fit, test, record), its side effects are callbacks (rvt.training.callbacks).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from rvt.training.run import cli, task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return task(cfg)


if __name__ == "__main__":
    cli(main)
