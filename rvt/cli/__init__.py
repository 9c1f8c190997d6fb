"""The ``rvt`` command: generate keys, encrypt and decrypt image sets, show and benchmark transforms.

A data owner encrypts a dataset before handing it over::

    rvt keygen --size 28 28 --vortices 10 --seed 7 --output key.json
    rvt encrypt --key key.json --mode bijective train.npy train_enc.npy
    rvt decrypt --key key.json --mode bijective train_enc.npy train_back.npy

Mistakes in the input (missing file, wrong dtype or shape, key for another size, corrupt key) end with
one line on stderr and exit status 2; no output file is left behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rvt.cli.info import register as register_info
from rvt.cli.transform_args import add_transform_args, transform_from_args
from rvt.errors import InputError, RVTError
from rvt.io import from_nchw, to_nchw

CHUNK = 8192  # images per gather when streaming a .npy file


def _from_nchw(t, like_ndim: int) -> np.ndarray:
    return from_nchw(t, like_ndim)  # a module-level name the tests can replace to inject failures


def check_size(images: np.ndarray, transform, source: str) -> None:
    """The images fit the transform (a key is made for one image size)."""
    h, w = images.shape[1:3]
    if transform.image_size is not None and (h, w) != tuple(transform.image_size):
        kh, kw = transform.image_size
        what = f"the key {transform.key_label}" if transform.key_label else repr(transform)
        raise InputError(f"{source}: images are {h}x{w} but {what} is for {kh}x{kw}")


def _apply(args, direction: str) -> int:
    from rvt.io import atomic_path, kind_of, open_images, write_image
    from rvt.progress import progress_bar

    transform, label = transform_from_args(args)
    out_kind = kind_of(args.output)
    images = open_images(args.input)
    check_size(images, transform, args.input)
    if Path(args.input).resolve() == Path(args.output).resolve():
        raise InputError("INPUT and OUTPUT are the same file; write to a new file")
    if out_kind == "image" and images.shape[0] != 1:
        raise InputError(f"{args.input} holds {images.shape[0]} images; write them to a .npy, not a .png")
    if direction == "decrypt" and not transform.exact_inverse and hasattr(transform, "lost_positions"):
        print(f"rvt: warning: {label} is lossy: {len(transform.lost_positions())} of "
              f"{images.shape[1] * images.shape[2]} pixel positions per image cannot be recovered "
              "(each is estimated as the mean of its surviving neighbours)", file=sys.stderr)
    step = transform if direction == "encrypt" else transform.inverse
    if out_kind == "image":
        write_image(args.output, _from_nchw(step(to_nchw(images[:1])), images.ndim)[0])
        return 0
    n = images.shape[0]
    with atomic_path(args.output) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=images.shape)
        with progress_bar(n, unit="img", desc=direction) as bar:
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                out[start:stop] = _from_nchw(step(to_nchw(images[start:stop])), images.ndim)
                bar.update(stop - start)
        out.flush()
        del out
    return 0


def cmd_encrypt(args) -> int:
    return _apply(args, "encrypt")


def cmd_decrypt(args) -> int:
    return _apply(args, "decrypt")


def cmd_keygen(args) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        raise InputError(f"{out} exists; a key is not overwritten without --force")
    h, w = args.size
    if args.transform == "blockwise":
        from rvt.transforms.blockwise import generate_blockwise

        if args.vortices is not None:
            raise InputError("--vortices is for --transform rvt keys, not blockwise")
        key = generate_blockwise(h, w, args.channels, 4 if args.block is None else args.block, seed=args.seed, scramble=not args.no_scramble,
                                 shuffle=not args.no_shuffle, negpos=args.negpos, channel_shuffle=args.channel_shuffle)
        key.save(out)
        print(f"wrote {out}: blockwise key, {key.block}x{key.block} blocks of {args.channels}x{h}x{w} images",
              file=sys.stderr)
        return 0
    from rvt.transforms.keys import generate

    blockwise_only = [f for f, v in (("--block", args.block), ("--negpos", args.negpos),
                                     ("--channel-shuffle", args.channel_shuffle), ("--no-scramble", args.no_scramble),
                                     ("--no-shuffle", args.no_shuffle)) if v is not None and v is not False]  # --block 0 is given
    if blockwise_only:
        raise InputError(f"{blockwise_only[0]} is for --transform blockwise keys")
    if args.vortices is None:
        raise InputError("an RVT key needs --vortices N")
    key = generate(h, w, args.vortices, seed=args.seed, strength=args.strength, divisor=args.divisor)
    key.save(out)
    active = sum(v.active for v in key.vortices)
    print(f"wrote {out}: {len(key.vortices)} vortices ({active} active) for {h}x{w} images", file=sys.stderr)
    return 0


def cmd_show(args) -> int:
    import torch
    from torchvision.utils import make_grid

    from rvt.transforms.baselines import RandomPermutation
    from rvt.io import kind_of, open_images, write_image

    if kind_of(args.output) != "image":
        raise InputError(f"{args.output}: the picture is written as PNG; give a .png name")
    transform, label = transform_from_args(args)
    images = open_images(args.input)
    check_size(images, transform, args.input)
    plain = to_nchw(images[: args.count])
    if plain.shape[1] == 4:
        plain = plain[:, :3]
    columns = [plain, transform(plain), RandomPermutation(seed=args.random_seed)(plain)]
    # one row per image: plain | RVT | random permutation
    tiles = torch.stack(columns, dim=1).flatten(0, 1)
    grid = make_grid(tiles, nrow=len(columns), padding=2, pad_value=255)
    grid = grid.repeat_interleave(args.zoom, 1).repeat_interleave(args.zoom, 2)
    write_image(args.output, grid.permute(1, 2, 0).numpy())
    print(f"wrote {args.output}: columns plain | {label} | random permutation", file=sys.stderr)
    return 0


def cmd_bench(args) -> int:
    from rvt.bench import run_bench

    run_bench(args)
    return 0


def cmd_transforms(args) -> int:
    from rvt.registry import transforms_table

    print(transforms_table(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rvt", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="generate a key: RVT (the authors' procedure) or blockwise")
    p.add_argument("--transform", choices=("rvt", "blockwise"), default="rvt", help="the key's transform (default rvt)")
    p.add_argument("--size", type=int, nargs=2, required=True, metavar=("H", "W"))
    p.add_argument("--vortices", type=int, metavar="N", help="RVT: number of vortices (required for rvt)")
    p.add_argument("--channels", type=int, default=1, help="blockwise: image channels (default 1)")
    p.add_argument("--block", type=int, help="blockwise: block side, = the ViT's patch size (default 4)")
    p.add_argument("--negpos", action="store_true", help="blockwise: keyed negative-positive transform")
    p.add_argument("--channel-shuffle", action="store_true", help="blockwise: shuffle values across channels too")
    p.add_argument("--no-scramble", action="store_true", help="blockwise: keep the block order (for CNN stems)")
    p.add_argument("--no-shuffle", action="store_true", help="blockwise: no in-block shuffle")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strength", type=float, help="S: 800 for <= 28x28 images, 1000 above (authors')")
    p.add_argument("--divisor", type=float, help="D: 1000 for <= 28x28 images, 10000 above (authors')")
    p.add_argument("--output", required=True, metavar="KEY.json")
    p.add_argument("--force", action="store_true", help="overwrite an existing key file")
    p.set_defaults(func=cmd_keygen)

    for name, func, text in (("encrypt", cmd_encrypt, "encrypt images with a key"),
                             ("decrypt", cmd_decrypt, "decrypt images with the key")):
        p = sub.add_parser(name, help=text)
        add_transform_args(p, default="rvt")
        p.add_argument("input", metavar="INPUT", help=".npy uint8 (N,H,W) or (N,H,W,C), or a .png")
        p.add_argument("output", metavar="OUTPUT", help=".npy or .png (one image)")
        p.set_defaults(func=func)

    p = sub.add_parser("show", help="picture grid: plain | RVT (or --transform) | random permutation")
    add_transform_args(p, default="rvt")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT.png")
    p.add_argument("--count", type=int, default=4, help="images (rows) to show")
    p.add_argument("--zoom", type=int, default=4, help="integer upscaling of the picture")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random permutation column")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("bench", help="throughput of every transform (and more, see rvt bench --help)")
    p.add_argument("--quick", action="store_true", help="smaller batches (a smoke run)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", nargs="*", default=None, metavar="SECTION",
                   help="sections to run: transforms information pipeline (default: all)")
    p.add_argument("--transforms", nargs="*", default=None, metavar="NAME",
                   help="registered transforms to time (default: all)")
    p.add_argument("--json", metavar="FILE", help="also write the results (and the machine, commit, date) as JSON")
    p.set_defaults(func=cmd_bench)

    register_info(sub)

    p = sub.add_parser("transforms", help="every registered transform and its parameters (a markdown table)")
    p.set_defaults(func=cmd_transforms)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("vortices", "count", "zoom", "repeats"):
        value = getattr(args, name, None)
        if value is not None and value < (0 if name == "vortices" else 1):
            parser.error(f"--{name} must be {'>= 0' if name == 'vortices' else '>= 1'}, got {value}")
    try:
        return args.func(args) or 0
    except RVTError as e:
        print(f"rvt: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, permission denied...: the user's environment, not a bug
        print(f"rvt: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rvt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
