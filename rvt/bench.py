"""``rvt bench``: throughput of the transforms (and, when present, of the information measure and the
training data pipeline). A benchmark, not a test: it prints figures and asserts nothing.

Transforms are timed on MNIST-sized (60000 x 1 x 28 x 28) and CIFAR-sized (50000 x 3 x 32 x 32) uint8
batches, as the median of several repeats, against ``clone()`` of the same tensor (the memory-bound
floor: a gather reads and writes as many bytes) and against the pure-Python reference loop.
"""

from __future__ import annotations

import platform
import statistics
import time

import torch

SHAPES = {"MNIST-sized": (60000, 1, 28, 28), "CIFAR-sized": (50000, 3, 32, 32)}
KEYS = {"MNIST-sized": "authors:mnist", "CIFAR-sized": "authors:cifar10"}


def _median_seconds(fn, repeats: int, device: torch.device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up: caches the map on the device, first-touch allocations
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _reference_rate(key, n_images: int = 50) -> float:
    """Images/s of the pure-Python per-pixel loop (the authors' algorithm as written)."""
    import numpy as np

    from rvt.reference import key_vortices, rvt_reference

    rng = np.random.default_rng(0)
    c = 3 if key.orientation == "col_row" else None
    shape = (key.height, key.width) + ((c,) if c else ())
    images = [rng.integers(0, 256, shape, dtype=np.uint8).tolist() for _ in range(n_images)]
    vortices = key_vortices(key)
    start = time.perf_counter()
    for im in images:
        rvt_reference(im, vortices, key.divisor, key.orientation)
    return n_images / (time.perf_counter() - start)


def bench_transforms(repeats: int = 5, quick: bool = False, print_fn=print) -> list[dict]:
    from rvt import RVT, BlockScramble, Permutation, RandomPermutation

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for label, shape in SHAPES.items():
        if quick:
            shape = (shape[0] // 20,) + shape[1:]
        key = KEYS[label]
        ref_rate = _reference_rate(RVT(key).key, n_images=10 if quick else 50)
        print_fn(f"\n{label} uint8 batch {tuple(shape)}; reference per-pixel loop: {ref_rate:,.0f} images/s")
        print_fn(f"{'device':6} {'transform':28} {'ms':>9} {'images/s':>14} {'x clone':>8} {'x reference':>12}")
        for device in devices:
            x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
            x = x.to(device)
            authors, bijective = RVT(key, mode="authors").to(device), RVT(key, mode="bijective").to(device)
            cases = [
                ("clone()", x.clone),
                (f"RVT {key} authors", lambda: authors(x)),
                (f"RVT {key} bijective", lambda: bijective(x)),
                ("RVT bijective inverse", lambda: bijective.inverse(x)),
                ("Permutation (fixed key)", lambda p=Permutation(0): p(x)),
                ("BlockScramble 4x4", lambda b=BlockScramble(4, 0): b(x)),
                ("RandomPermutation (per image)", lambda r=RandomPermutation(0): r(x)),
            ]
            clone_s = None
            for name, fn in cases:
                seconds = _median_seconds(fn, repeats, device)
                clone_s = clone_s or seconds
                rate = shape[0] / seconds
                vs_ref = f"{rate / ref_rate:12,.0f}" if name.startswith("RVT") else f"{'':12}"
                print_fn(f"{device.type:6} {name:28} {seconds * 1e3:9.1f} {rate:14,.0f} "
                         f"{seconds / clone_s:8.2f} {vs_ref}")
                rows.append({"shape": label, "device": device.type, "transform": name, "seconds": seconds,
                             "images_per_s": rate, "x_clone": seconds / clone_s,
                             "x_reference": rate / ref_rate if name.startswith("RVT") else None})
    return rows


def run_bench(args) -> None:
    sections = args.only or ["transforms", "information", "pipeline"]
    print(f"rvt bench on {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
          + (f", CUDA {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA"))
    if "transforms" in sections:
        bench_transforms(repeats=args.repeats, quick=args.quick)
    optional = {"information": ("rvt.information", "bench_information"),
                "pipeline": ("rvt.pipeline_bench", "bench_pipeline")}
    for section, (module, function) in optional.items():
        if section not in sections:
            continue
        try:
            fn = getattr(__import__(module, fromlist=[function]), function)
        except (ImportError, AttributeError):
            print(f"\n[{section}] not available in this version")
            continue
        print(f"\n[{section}]")
        fn(print_fn=print)
