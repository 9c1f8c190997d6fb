"""Where something ran, in one place: the facts (benchmarks' JSON) and the one line the generated reports
print (security.md, information.md, gpu_hours.md, robustness.md, the GPU check)."""

from __future__ import annotations

import os
import platform

import torch


def machine_facts() -> dict:
    """Host, OS, CPU, visible CPUs, torch threads, torch version and the GPU (None without one)."""
    return {"host": platform.node(), "system": platform.system(), "release": platform.release(),
            "cpu": platform.processor() or platform.machine(), "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def machine_line(facts: dict | None = None) -> str:
    """One line: host, OS, CPU, cores and torch threads (and the GPU when one is visible)."""
    f = facts or machine_facts()
    gpu = f", GPU {f['cuda']}" if f["cuda"] else ", no GPU used"
    return (f"{f['host']} ({f['system']} {f['release']}, {f['cpu']}, {f['cpus']} CPUs visible{gpu}, "
            f"torch {f['torch']}, {f['threads']} threads)")
