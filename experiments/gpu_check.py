"""The prepared GPU check: one script, one output folder, about 8 minutes on one GPU (`make gpu-check`).

    python experiments/gpu_check.py [--out experiments/results/gpu] [--small] [--device cuda|cpu]

Steps, each recorded in ``<out>/summary.json`` (status, seconds) and ``<out>/summary.md``:

1. ``cuda-tests``: the tests marked ``cuda`` (CPU == CUDA maps, inverses, per-image maps and the training
   pipeline) with a JUnit report ``<out>/cuda-tests.xml``; skipped tests are counted (no CUDA: all skip);
2. ``bench``: ``rvt bench --json <out>/bench.json`` (gather vs clone() on the device, information measure,
   the data pipeline at the training batch size: batched on-device vs a per-image torchvision/PIL
   DataLoader, the authors' kind of loader, and the share of a ResNet-18 step);
3. ``train``: MNIST ResNet-18 none / rvt / random with the quick recipe (``trainer=gpu``, bf16), each run's
   results.json under ``<out>/train/<transform>/``: accuracy, images/s, per-epoch training seconds.

``--small`` is the CPU smoke mode the test suite runs (a few hundred images, one epoch, the transforms
benchmark only),
so the script is known to work before a GPU is spent on it. A step that fails is recorded and the others
still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.common import RESULTS, default_data_dir, git_label, machine, utc_now  # noqa: E402
from rvt.io import atomic_write_text  # noqa: E402

TRANSFORMS = ("none", "rvt", "random")
SMALL_TRAIN = ["dataset.train_subset=512", "dataset.val_size=256", "dataset.test_subset=256", "trainer.max_epochs=1",
               "trainer.num_sanity_val_steps=0", "info_loss.n_images=32", "data.eval_batch_size=256"]


def run(cmd: list[str], log: Path, timeout: int, env: dict | None = None) -> tuple[int, float]:
    """Run ``cmd`` from the repository root with its output in ``log``; (exit status, seconds)."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            p = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                               env={**os.environ, **(env or {})})
            code = p.returncode
        except subprocess.TimeoutExpired:
            f.write(f"\n[gpu-check] timed out after {timeout} s\n")
            code = 124
    return code, time.perf_counter() - t0


def junit_counts(path: Path) -> dict:
    import xml.etree.ElementTree as ET

    if not path.exists():
        return {}
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "gpu")
    ap.add_argument("--small", action="store_true", help="CPU smoke mode: tiny data, one epoch, quick benchmarks")
    ap.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda if available")
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu-check: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    env = {"WANDB_MODE": "disabled", "RVT_DATA_DIR": str(args.data_dir)}
    steps = []

    code, s = run([py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={out / 'cuda-tests.xml'}",
                   "tests/test_transforms.py", "tests/test_train.py"], out / "cuda-tests.log", 600, env)
    steps.append({"step": "cuda-tests", "status": "ok" if code == 0 else f"failed ({code})", "seconds": round(s, 1),
                  **junit_counts(out / "cuda-tests.xml")})

    bench = [py, "-m", "rvt", "bench", "--json", str(out / "bench.json"), "--repeats", "1" if args.small else "5"]
    small_bench = ["--quick", "--only", "transforms", "--transforms", "rvt", "random"]  # seconds, not minutes
    code, s = run(bench + (small_bench if args.small else []), out / "bench.log", 900, env)
    steps.append({"step": "bench", "status": "ok" if code == 0 else f"failed ({code})", "seconds": round(s, 1)})

    trainer = ["trainer=gpu", "trainer.precision=bf16-mixed"] if device == "cuda" else ["trainer=cpu"]
    for t in TRANSFORMS:
        run_dir = out / "train" / t
        cmd = [py, "train.py", "experiment=quick", "dataset=mnist", "model=resnet", f"transform={t}", "seed=0",
               "progress=lines", "progress_every_s=10", f"hydra.run.dir={run_dir}", *trainer,
               *(SMALL_TRAIN if args.small else [])]
        code, s = run(cmd, out / f"train-{t}.log", 900, env)
        step = {"step": f"train {t}", "status": "ok" if code == 0 else f"failed ({code})", "seconds": round(s, 1)}
        results = run_dir / "results.json"
        if code == 0 and results.exists():
            r = json.loads(results.read_text())
            step.update(test_acc=r["test_acc"], images_per_s=r["images_per_s"], train_seconds=r["train_seconds"],
                        epoch_seconds=[h.get("train_seconds") for h in r["history"]], accelerator=r["accelerator"])
        steps.append(step)

    gpu = torch.cuda.get_device_name() if device == "cuda" else None
    summary = {"date": utc_now(), "machine": machine(), "device": gpu or "cpu", "small": args.small,
               "commit": git_label(("rvt", "train.py", "conf", "experiments/gpu_check.py")), "steps": steps}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    lines = [f"# GPU check ({'small CPU mode' if args.small else 'full'})\n",
             f"- device: {summary['device']}; machine: {summary['machine']}; commit {summary['commit']}; {summary['date']}",
             "- command: `python experiments/gpu_check.py" + (" --small" if args.small else "") + "`\n",
             "| step | status | seconds | details |", "|---|---|---|---|"]
    for st in steps:
        details = ", ".join(f"{k}={v}" for k, v in st.items() if k not in ("step", "status", "seconds"))
        lines.append(f"| {st['step']} | {st['status']} | {st['seconds']} | {details} |")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    failed = [st["step"] for st in steps if st["status"] != "ok"]
    print(f"gpu-check: {len(steps) - len(failed)}/{len(steps)} steps ok -> {out / 'summary.md'}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
