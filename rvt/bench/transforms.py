"""Throughput of every registered transform (``rvt bench --only transforms``).

Transforms are timed on MNIST-sized (60000 x 1 x 28 x 28) and CIFAR-sized (50000 x 3 x 32 x 32) uint8
batches, as the median of several repeats, against ``clone()`` of the same tensor (the memory-bound
floor: a gather reads and writes as many bytes) and against the pure-Python reference loop.
"""

from __future__ import annotations

import statistics
import time
from functools import partial

import torch

#: label -> (batch shape, the dataset whose instance of each transform is timed: RVT uses its authors' key)
SHAPES = {"MNIST-sized": ((60000, 1, 28, 28), "mnist"), "CIFAR-sized": ((50000, 3, 32, 32), "cifar10")}


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

    from rvt.transforms.reference import key_vortices, rvt_reference

    rng = np.random.default_rng(0)
    c = 3 if key.orientation == "col_row" else None
    shape = (key.height, key.width) + ((c,) if c else ())
    images = [rng.integers(0, 256, shape, dtype=np.uint8).tolist() for _ in range(n_images)]
    vortices = key_vortices(key)
    start = time.perf_counter()
    for im in images:
        rvt_reference(im, vortices, key.divisor, key.orientation)
    return n_images / (time.perf_counter() - start)


def bench_transforms(repeats: int = 5, quick: bool = False, print_fn=print, names=None) -> list[dict]:
    """Time every registered transform (or ``names``) on both batch shapes, plus the inverse of each one
    that decrypts exactly, against ``clone()`` and (for RVT) the per-pixel reference loop."""
    from rvt import RVT
    from rvt.registry import list_transforms, transform_spec

    names = list(names or list_transforms())
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for label, (shape, dataset) in SHAPES.items():
        if quick:
            shape = (shape[0] // 20,) + shape[1:]
        key = f"authors:{dataset}"
        ref_rate = _reference_rate(RVT(key).key, n_images=10 if quick else 50)
        print_fn(f"\n{label} uint8 batch {tuple(shape)}; reference per-pixel loop: {ref_rate:,.0f} images/s")
        print_fn(f"{'device':6} {'transform':46} {'ms':>9} {'images/s':>14} {'x clone':>8} {'x reference':>12}")
        for device in devices:
            x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
            x = x.to(device)
            cases = [("clone()", x.clone)]
            for name in names:
                if name == "none":  # the identity returns its input: nothing to time
                    continue
                transform = transform_spec(name).for_dataset(dataset, seed=0).to(device)
                title = (f"RVT {key} {transform.mode}" if isinstance(transform, RVT)
                         else f"{name} ({transform.extra_repr() or 'no parameters'})")
                cases.append((title, partial(transform, x)))
                if transform.fixed and transform.exact_inverse and name != "none":
                    cases.append((f"{title} inverse", partial(transform.inverse, x)))
            clone_s = None
            for name, fn in cases:
                seconds = _median_seconds(fn, repeats, device)
                clone_s = clone_s or seconds
                rate = shape[0] / seconds
                vs_ref = f"{rate / ref_rate:12,.0f}" if name.startswith("RVT") else f"{'':12}"
                print_fn(f"{device.type:6} {name:46} {seconds * 1e3:9.1f} {rate:14,.0f} "
                         f"{seconds / clone_s:8.2f} {vs_ref}")
                rows.append({"shape": label, "device": device.type, "transform": name, "seconds": seconds,
                             "images_per_s": rate, "x_clone": seconds / clone_s,
                             "x_reference": rate / ref_rate if name.startswith("RVT") else None})
    return rows
