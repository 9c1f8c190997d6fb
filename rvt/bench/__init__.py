"""``rvt bench``: benchmarks of the transforms, the information measure and the training data pipeline.

Benchmarks, not tests: they print figures and assert nothing. They live apart from the algorithms they
measure: :mod:`rvt.bench.transforms`, :mod:`rvt.bench.information`, :mod:`rvt.bench.pipeline`.
"""

from __future__ import annotations



def machine() -> dict:
    """Where a benchmark ran: host, CPU threads, torch, GPU (in every JSON result; rvt.machine) and the commit."""
    from rvt.machine import machine_facts
    from rvt.training.results import git_state

    f = machine_facts()
    commit = git_state()["commit"]
    return {**{k: f[k] for k in ("platform", "machine", "cpus", "threads", "torch", "cuda")},
            "commit": commit[:7] if commit else None}


def run_bench(args) -> dict:
    """Run the chosen sections, print their tables, and return (and with ``--json FILE`` write atomically)
    {"machine": ..., "date": ..., "<section>": rows}."""
    import datetime
    import json

    from rvt.io import atomic_write_text

    sections = args.only or ["transforms", "information", "pipeline"]
    info = machine()
    print(f"rvt bench on {info['machine']}, {info['threads']} threads, torch {info['torch']}"
          + (f", CUDA {info['cuda']}" if info["cuda"] else ", no CUDA"))
    out = {"machine": info, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "quick": bool(args.quick)}
    if "transforms" in sections:
        from rvt.bench.transforms import bench_transforms

        out["transforms"] = bench_transforms(repeats=args.repeats, quick=args.quick,
                                             names=getattr(args, "transforms", None))
    if "information" in sections:
        from rvt.bench.information import bench_information

        print("\n[information]")
        out["information"] = bench_information(print_fn=print)
    if "pipeline" in sections:
        from rvt.bench.pipeline import bench_pipeline

        print("\n[pipeline]")
        out["pipeline"] = bench_pipeline(print_fn=print, **({"n_images": 2000, "n_per_image": 300, "repeats": 1}
                                                          if args.quick else {}))
    if getattr(args, "json", None):
        atomic_write_text(args.json, json.dumps(out, indent=1, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return out
