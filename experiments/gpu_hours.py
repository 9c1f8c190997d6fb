"""How many GPU-hours the paper's table costs at the authors' settings, from measured step times.

    python experiments/gpu_hours.py [--out experiments/results/gpu_hours.md] [--gpu-tflops 100] [--bench FILE]

For each paper cell (conf/recipe/paper_<dataset>_<model>.yaml: dataset x model x none/rvt/random, epochs, batch,
resolution) the training images seen = (training set - 5000 validation images) x epochs, plus one test
pass per epoch. The cost per image comes from the network's FLOPs (torch.utils.flop_counter, forward x 3
for a training step) and a measured training throughput:

- on this machine's CPU: a few training steps of ResNet-18 and ViT-B/16 at the cell's resolution, timed;
- on a GPU: with ``--bench <gpu-check>/summary.json`` the measured ResNet images/s of the GPU check scale
  the estimate; without it, the effective GPU rate is an assumption (``--gpu-tflops``, default 100 TFLOP/s
  of bf16 training, about a third of an A100's peak) and is stated as such.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from experiments.common import RESULTS, command_line, git_label, machine, utc_now  # noqa: E402
from rvt.io import atomic_write_text  # noqa: E402
from rvt.training.datasets import DATASETS  # noqa: E402
from rvt.training.models import build_model  # noqa: E402

TRAIN = {name: info.train_images for name, info in DATASETS.items()}  # conf/dataset/*.yaml
TEST = {name: info.test_images for name, info in DATASETS.items()}
CHANNELS = {name: info.channels for name, info in DATASETS.items()}
VAL = 5000


def net(model: str, channels: int, size: int):
    if model == "resnet":
        return build_model("resnet", channels, 10, size)
    return build_model("vit_b16", channels, 10, size)


def forward_flops(model: str, channels: int, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    m = net(model, channels, size).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        m(torch.zeros(1, channels, size, size))
    return float(counter.get_total_flops())


def cpu_images_per_s(model: str, channels: int, size: int, batch: int = 8, steps: int = 3) -> float:
    m = net(model, channels, size)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "gpu_hours.md")
    ap.add_argument("--gpu-tflops", type=float, default=100.0,
                    help="assumed effective bf16 training rate of one GPU, TFLOP/s (no GPU measurement)")
    ap.add_argument("--bench", type=Path, default=None, help="a gpu-check summary.json: scale by its ResNet rate")
    args = ap.parse_args(argv)
    gpu_scale = None
    if args.bench:
        s = json.loads(args.bench.read_text())
        rates = [st["images_per_s"] for st in s["steps"] if st["step"].startswith("train") and st.get("images_per_s")]
        if rates and s.get("device") != "cpu":
            gpu_scale = (s["device"], max(rates))
    flops, cpu_rate = {}, {}
    rows, total_cpu_h, total_gpu_h = [], 0.0, 0.0
    for ds in DATASETS:
        for model in ("resnet", "vit_b16"):
            cells = OmegaConf.load(ROOT / "conf" / "recipe" / f"paper_{ds}_{model}.yaml").paper.cells
            for t in ("none", "rvt", "random"):
                c = cells[t]
                size = int(c.crop)
                key = (model, CHANNELS[ds], size)
                if key not in flops:
                    flops[key] = forward_flops(*key)
                    cpu_rate[key] = cpu_images_per_s(*key, batch=16 if size <= 64 else 4)
                images = (TRAIN[ds] - VAL) * int(c.epochs)
                evals = (TEST[ds] + VAL) * int(c.epochs)
                train_flop = 3 * flops[key] * images + flops[key] * evals
                cpu_h = (images + evals / 3) / cpu_rate[key] / 3600
                gpu_h = train_flop / (args.gpu_tflops * 1e12) / 3600
                total_cpu_h += cpu_h
                total_gpu_h += gpu_h
                rows.append((ds, model, t, int(c.epochs), int(c.batch), size, flops[key] / 1e9, cpu_rate[key], cpu_h, gpu_h))
    lines = ["# GPU-hours to regenerate the paper's table at the authors' settings\n",
             f"Produced by `{command_line('gpu_hours', argv)}` on {machine()}, commit "
             f"{git_label(('experiments/gpu_hours.py', 'conf/recipe', 'rvt/training/models.py'))}, "
             f"{utc_now()}. Per cell: (training set - {VAL} validation images) x epochs training images and one "
             "validation + test pass per epoch; forward FLOPs per image from `torch.utils.flop_counter` (a "
             "training step = 3 x forward); CPU rate = a few training steps timed here (batch 16 at <= 64 px, 4 "
             f"at 224 px); GPU hours assume an effective {args.gpu_tflops:g} TFLOP/s of bf16 training per GPU "
             "(an assumption: no GPU was measured"
             + (f"; the GPU check measured {gpu_scale[1]:,.0f} images/s for the quick MNIST ResNet on "
                f"{gpu_scale[0]}" if gpu_scale else "") + "). Data loading is assumed not to limit (it does not "
             "here: one gather per batch on the device).\n",
             "| dataset | model | transform | epochs | batch | px | GFLOP/img (fwd) | CPU img/s (train) | "
             "CPU hours | GPU hours (assumed rate) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for ds, model, t, ep, batch, px, gf, rate, cpu_h, gpu_h in rows:
        lines.append(f"| {ds} | {model} | {t} | {ep} | {batch} | {px} | {gf:.2f} | {rate:.1f} | {cpu_h:,.0f} | "
                     f"{gpu_h:.2f} |")
    lines.append(f"| **total** | | | | | | | | **{total_cpu_h:,.0f}** | **{total_gpu_h:.1f}** |")
    lines.append("\nOne seed; three seeds triple it. The keyed baselines (permutation, block, blockwise) at the "
                 "authors' settings cost as much as the rvt column each.")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"gpu_hours: total {total_cpu_h:,.0f} CPU hours here, {total_gpu_h:.1f} GPU hours at "
          f"{args.gpu_tflops:g} TFLOP/s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
