"""``rvt bench``: benchmarks of the transforms, the information measure and the training data pipeline.

Benchmarks, not tests: they print figures and assert nothing. They live apart from the algorithms they
measure: :mod:`rvt.bench.transforms`, :mod:`rvt.bench.information`, :mod:`rvt.bench.pipeline`.
"""

from __future__ import annotations

import platform

import torch

def run_bench(args) -> None:
    sections = args.only or ["transforms", "information", "pipeline"]
    print(f"rvt bench on {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
          + (f", CUDA {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA"))
    if "transforms" in sections:
        from rvt.bench.transforms import bench_transforms

        bench_transforms(repeats=args.repeats, quick=args.quick, names=getattr(args, "transforms", None))
    if "information" in sections:
        from rvt.bench.information import bench_information

        print("\n[information]")
        bench_information(print_fn=print)
    if "pipeline" in sections:
        from rvt.bench.pipeline import bench_pipeline

        print("\n[pipeline]")
        bench_pipeline(print_fn=print)
