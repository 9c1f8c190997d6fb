"""The RVT effect figure (like the authors' figure): rows of test images, columns
plain | RVT authors | RVT bijective | per-image random permutation, for MNIST, Fashion-MNIST, CIFAR-10.

    python experiments/rvt_examples.py [--data-dir data] [--out docs/rvt_examples.png]
"""

import argparse
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import MNIST, FashionMNIST
from torchvision.utils import make_grid

import rvt
from rvt.io import write_image


def to_rgb32(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, 3, 32, 32), grey images repeated and 28x28 padded, to share a grid."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    pad = (32 - x.shape[-1]) // 2
    return torch.nn.functional.pad(x, (pad, pad, pad, pad))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("RVT_DATA_DIR", "data"))
    p.add_argument("--out", default="docs/rvt_examples.png")
    p.add_argument("--per-dataset", type=int, default=2)
    args = p.parse_args()
    n = args.per_dataset
    with open(Path(args.data_dir) / "cifar-10-batches-py" / "test_batch", "rb") as f:
        cifar = np.asarray(pickle.load(f, encoding="latin1")["data"], np.uint8).reshape(-1, 3, 32, 32)[:n]
    sets = [(MNIST(args.data_dir, train=False).data[:n, None], "authors:mnist"),
            (FashionMNIST(args.data_dir, train=False).data[:n, None], "authors:fashion_mnist"),
            (torch.from_numpy(cifar), "authors:cifar10")]
    tiles = []
    for x, key in sets:
        columns = [x, rvt.RVT(key)(x), rvt.RVT(key, mode="bijective")(x), rvt.RandomPermutation(0)(x)]
        tiles.append(torch.stack([to_rgb32(c) for c in columns], dim=1).flatten(0, 1))
    grid = make_grid(torch.cat(tiles), nrow=4, padding=2, pad_value=255)
    grid = grid.repeat_interleave(3, 1).repeat_interleave(3, 2)
    write_image(args.out, grid.permute(1, 2, 0).numpy())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
