"""Speed of the information measure (``rvt bench --only information``): loss rates of the MNIST and
CIFAR-10 test sets under a fixed RVT map (cold, with the pair-matrix build, then cached) and under
per-image random permutations."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from rvt.information import clear_cache, information_loss


def _bench_images(name: str, shape: tuple[int, ...]) -> tuple[torch.Tensor, str]:
    """The real test set when it is on disk (RVT_DATA_DIR or data/), else random uint8 of that shape."""
    from rvt.errors import RVTError
    from rvt.training.datasets import read_split

    root = Path(os.environ.get("RVT_DATA_DIR", "data"))
    try:
        x, _ = read_split({"MNIST": "mnist", "CIFAR-10": "cifar10"}[name], root, train=False, download=False)
        if tuple(x.shape) == shape:
            return x, f"{name} test set"
    except RVTError:
        pass
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=g), f"random uint8 {shape}"


def bench_information(print_fn=print, repeats: int = 3, n_random: int = 1000) -> list[dict]:
    """Time loss rates of the MNIST and CIFAR-10 test sets under a fixed RVT map (first call with the
    pair-matrix build, then cached) and under per-image random permutations. Prints and returns rows."""
    from rvt import RVT, RandomPermutation

    rows = []
    cases = (("MNIST", (10000, 1, 28, 28), "authors:mnist"), ("CIFAR-10", (10000, 3, 32, 32), "authors:cifar10"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_fn(f"information loss rate (kernel exp, lambda 2, float32 matmul), {torch.get_num_threads()} threads, "
             f"{os.cpu_count()} CPUs, load average {load:.1f} at start (other processes slow these figures)")
    print_fn(f"{'data':28} {'transform':26} {'images':>7} {'seconds':>9} {'images/s':>10}")

    def emit(data, transform, n, seconds):
        print_fn(f"{data:28} {transform:26} {n:7d} {seconds:9.3f} {n / seconds:10,.0f}")
        rows.append({"data": data, "transform": transform, "images": n, "seconds": seconds,
                     "images_per_s": n / seconds})

    for name, shape, key in cases:
        x, label = _bench_images(name, shape)
        rvt = RVT(key)
        clear_cache()
        start = time.perf_counter()
        information_loss(x, rvt)
        emit(label, f"RVT {key} (cold, + build)", shape[0], time.perf_counter() - start)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            information_loss(x, rvt)
            times.append(time.perf_counter() - start)
        emit(label, f"RVT {key} (cached)", shape[0], sorted(times)[len(times) // 2])
        xr = x[:n_random]
        start = time.perf_counter()
        information_loss(xr, RandomPermutation(0))
        emit(label, "random permutation/image", xr.shape[0], time.perf_counter() - start)
    return rows
