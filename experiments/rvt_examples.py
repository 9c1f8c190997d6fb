"""The RVT effect figure (like the authors' figure): rows of test images, columns
plain | RVT authors | RVT bijective | per-image random permutation, for MNIST, Fashion-MNIST, CIFAR-10.

    python experiments/rvt_examples.py [--data-dir data] [--out docs/rvt_examples.png]
"""

import argparse
from pathlib import Path

import torch
from torchvision.utils import make_grid

import rvt
from experiments.common import DATASETS, default_data_dir, load_images
from rvt.io import write_image


def to_rgb32(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, 3, 32, 32), grey images repeated and 28x28 padded, to share a grid."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    pad = (32 - x.shape[-1]) // 2
    return torch.nn.functional.pad(x, (pad, pad, pad, pad))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=default_data_dir())
    p.add_argument("--out", default="docs/rvt_examples.png")
    p.add_argument("--per-dataset", type=int, default=2)
    args = p.parse_args(argv)
    tiles = []
    for name in DATASETS:
        x = load_images(name, args.data_dir, train=False, n=args.per_dataset)
        key = f"authors:{name}"
        columns = [x, rvt.RVT(key)(x), rvt.RVT(key, mode="bijective")(x), rvt.RandomPermutation(0)(x)]
        tiles.append(torch.stack([to_rgb32(c) for c in columns], dim=1).flatten(0, 1))
    grid = make_grid(torch.cat(tiles), nrow=4, padding=2, pad_value=255)
    grid = grid.repeat_interleave(3, 1).repeat_interleave(3, 2)
    write_image(args.out, grid.permute(1, 2, 0).numpy())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
