"""``rvt info``: how much image information a transform keeps (docs/information.md: this project's reconstruction).

    rvt info --transform rvt --key authors:mnist test.npy
    rvt info --transform random --kernel exp --scale 2 test.npy
    rvt info --transform block --block 7 --seed 3 test.npy      # any registered transform

Prints the mean, standard deviation and quantiles of the information content Info(x) and of the loss
rate 1 - Info_g(x) / Info(x) over the images of INPUT (.npy uint8 (N, H, W) or (N, H, W, C), or a PNG).
"""

from __future__ import annotations

import argparse

import numpy as np

from rvt.cli.transform_args import add_transform_args, transform_from_args
from rvt.errors import InputError
from rvt.io import to_nchw

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
CHUNK = 2048  # images read from INPUT per step


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand to an argparse ``add_subparsers()`` object."""
    from rvt.information import CHANNEL_MODES, KERNELS

    p = subparsers.add_parser(
        "info", help="information content and loss rate of images under a transform",
        description="Information content Info(x) and loss rate 1 - Info_g(x)/Info(x) of every image under "
                    "a position transform g: mean, std and quantiles (the measure is this project's "
                    "reconstruction of the paper's, see docs/information.md).")
    p.add_argument("input", metavar="INPUT", help=".npy uint8 (N,H,W) or (N,H,W,C), or a .png")
    add_transform_args(p, default=None)
    p.add_argument("--kernel", choices=KERNELS, default="exp", help="neighbour kernel m(d) (default exp)")
    p.add_argument("--scale", type=float, default=2.0, metavar="L", help="kernel scale lambda (default 2)")
    p.add_argument("--alpha", type=float, default=1.0, help="weight of the pixel-value term (default 1)")
    p.add_argument("--channels", choices=CHANNEL_MODES, default="sum",
                   help="colour images: sum Info over channels (default), mean of per-channel loss "
                        "rates, or measure the grey (channel-mean) image")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    p.set_defaults(func=run_info, command="info")
    return p


def _to_nchw(chunk: np.ndarray):
    t = to_nchw(chunk)
    return t[:, :3] if t.shape[1] == 4 else t  # an alpha channel is not image content


def summary_table(columns: dict[str, np.ndarray]) -> str:
    """Plain-text table: one row per quantity, columns mean, std and the quantiles."""
    heads = ["mean", "std"] + [{0.0: "min", 1.0: "max", 0.5: "median"}.get(q, f"q{round(q * 100):02d}")
                               for q in QUANTILES]
    lines = [f"{'quantity':12}" + "".join(f"{h:>11}" for h in heads)]
    for name, values in columns.items():
        stats = [values.mean(), values.std()] + list(np.quantile(values, QUANTILES))
        lines.append(f"{name:12}" + "".join(f"{v:11.4f}" for v in stats))
    return "\n".join(lines)


def run_info(args) -> int:
    from rvt.information import information_stats
    from rvt.io import open_images
    from rvt.progress import progress_bar

    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    if getattr(args, "vortices", None) is not None and args.vortices < 0:
        raise InputError(f"--vortices must be >= 0, got {args.vortices}")
    # seeded transforms default to seed 0 here, so that repeated measurements agree
    transform, label = transform_from_args(args, defaults={"seed": 0})
    images = open_images(args.input)
    if limit is not None:
        images = images[:limit]
    n, h, w = images.shape[:3]
    size = transform.image_size
    if size is not None and tuple(size) != (h, w):
        raise InputError(f"{args.input}: images are {h}x{w} but the transform is for {size[0]}x{size[1]}")
    c = 1 if images.ndim == 3 else min(images.shape[3], 3)
    kernel, scale = getattr(args, "kernel", "exp"), getattr(args, "scale", 2.0)
    alpha, channels = getattr(args, "alpha", 1.0), getattr(args, "channels", "sum")
    infos, rates = [], []
    with progress_bar(n, unit="img", desc="info") as bar:
        for start in range(0, n, CHUNK):
            x = _to_nchw(images[start:start + CHUNK])
            # per-image maps are drawn here, so that every chunk gets fresh ones
            g = transform if transform.fixed else transform.sample_index(x.shape[0], h, w)
            info, rate = information_stats(x, g, kernel=kernel, scale=scale, alpha=alpha, channels=channels)
            infos.append(info.numpy())
            rates.append(rate.numpy())
            bar.update(x.shape[0])
    print(f"{n} images {h}x{w}x{c} from {args.input}; transform {label}; kernel {kernel}, "
          f"lambda {scale:g}, alpha {alpha:g}, channels {channels}")
    print(summary_table({"information": np.concatenate(infos), "loss rate": np.concatenate(rates)}))
    return 0
