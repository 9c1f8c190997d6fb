"""Benchmark of the training data pipeline (``make bench`` / ``rvt bench``).

1. Images/s of the batched pipeline: uint8 CIFAR-10-shaped images in memory -> index batch -> device ->
   RVT (one gather) -> random crop with padding 4 + flip (one gather) -> colour jitter -> normalise.
2. Images/s of the classic per-image pipeline doing the same work: a Dataset that encrypts one image,
   makes a PIL image and runs torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip,
   ColorJitter(0.4, 0.4, 0.4, 0.2), ToTensor, Normalize (the authors' transforms), batched by a DataLoader.
3. The share of a ResNet-18 training step (forward + backward + SGD step, batch 128, 32 x 32) spent on
   encryption, and on the whole batched pipeline.
Targets: 1 >= 10 x 2; encryption <= 1 % of the step.
"""

from __future__ import annotations

import time

import torch

from rvt.training.pipeline import BatchPipeline
from rvt.training.sampler import IndexBatchSampler, TensorBatches

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timeit(fn, device, repeat: int, warmup: int = 2) -> float:
    """Median seconds of one call."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


class _PerImage(torch.utils.data.Dataset):
    def __init__(self, x, transform, tv):
        self.x, self.transform, self.tv = x, transform, tv

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        from PIL import Image

        img = self.transform(self.x[i])  # (3, 32, 32) uint8, encrypted
        return self.tv(Image.fromarray(img.permute(1, 2, 0).numpy())), 0


def bench_pipeline(print_fn=print, n_images: int = 20000, n_per_image: int = 3000, batch_size: int = 128,
                   device: str | None = None, num_workers: int = 0, threads: int | None = None,
                   repeats: int = 3) -> dict:
    """Run the three measurements; ``threads`` sets torch's intra-op threads (the per-image PIL pipeline is
    single-threaded; on a busy CPU one thread is often faster than several). Throughputs are the best of
    ``repeats`` passes, step and pipeline times medians."""
    from torchvision import transforms as T

    from rvt import RVT
    from rvt.training.models import build_model

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads:
        torch.set_num_threads(int(threads))
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_images, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n_images,), generator=g)
    rvt = RVT("authors:cifar10")
    pipe = BatchPipeline(rvt, 32, MEAN, STD, augment="after")
    pin = dev.type == "cuda"
    if pin:
        x = x.pin_memory()

    # 1. batched: the DataModule's loader + on-device pipeline
    loader = torch.utils.data.DataLoader(TensorBatches(x, y), sampler=IndexBatchSampler(n_images, batch_size, True, True),
                                         batch_size=None, num_workers=0, pin_memory=pin)

    def batched_epoch():
        for xb, yb in loader:
            out = pipe(xb.to(dev, non_blocking=True), train=True)
            yb.to(dev, non_blocking=True)
        return out

    batched_epoch()  # warm-up (index caches, kernels)
    batched_s = float("inf")
    for _ in range(repeats):  # best of n: on a shared machine other jobs only ever slow a pass down
        _sync(dev)
        t = time.perf_counter()
        batched_epoch()
        _sync(dev)
        batched_s = min(batched_s, time.perf_counter() - t)
    batched_ips = (n_images // batch_size) * batch_size / batched_s

    # 2. per image: PIL + torchvision transforms, collated by a DataLoader, then moved to the device
    tv = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0.2),
                    T.ToTensor(), T.Normalize(MEAN, STD)])
    per = torch.utils.data.DataLoader(_PerImage(x[:n_per_image], rvt, tv), batch_size=batch_size, shuffle=True,
                                      num_workers=num_workers, drop_last=True)
    per_ips = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        seen = 0
        for xb, _ in per:
            xb.to(dev)
            seen += len(xb)
        _sync(dev)
        per_ips = max(per_ips, seen / (time.perf_counter() - t))

    # 3. a ResNet-18 training step vs encryption and the whole pipeline, batch 128
    net = build_model("resnet", 3, 10, 32).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    xb = x[:batch_size].to(dev)
    yb = y[:batch_size].to(dev)
    inp = pipe(xb, train=True)

    def step():
        loss = torch.nn.functional.cross_entropy(net(inp), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    repeat_step = 10 if dev.type == "cuda" else 3
    step_s = _timeit(step, dev, repeat_step, warmup=2)
    enc_s = _timeit(lambda: rvt(xb), dev, 50)
    pipe_s = _timeit(lambda: pipe(xb, train=True), dev, 20)
    res = dict(device=str(dev), torch=torch.__version__, batch_size=batch_size,
               batched_images_per_s=round(batched_ips), per_image_images_per_s=round(per_ips),
               speedup=round(batched_ips / per_ips, 1), step_ms=round(step_s * 1e3, 3),
               encrypt_ms=round(enc_s * 1e3, 4), pipeline_ms=round(pipe_s * 1e3, 3),
               encrypt_share_pct=round(100 * enc_s / step_s, 3), pipeline_share_pct=round(100 * pipe_s / step_s, 2),
               per_image_workers=num_workers, torch_threads=torch.get_num_threads(), repeats=repeats)
    print_fn(f"data pipeline on {dev}, {torch.get_num_threads()} torch threads (CIFAR-10 shape, RVT authors:cifar10, "
             f"crop+flip+jitter+normalise, batch {batch_size})")
    print_fn(f"  batched on-device   {res['batched_images_per_s']:>10,} images/s")
    print_fn(f"  per-image PIL       {res['per_image_images_per_s']:>10,} images/s  ({num_workers} workers)  "
             f"-> {res['speedup']}x (target >= 10x)")
    print_fn(f"  ResNet-18 step      {res['step_ms']:>10.2f} ms  | encryption {res['encrypt_ms']:.4f} ms = "
             f"{res['encrypt_share_pct']:.3f} % (target <= 1 %) | whole pipeline {res['pipeline_ms']:.3f} ms = "
             f"{res['pipeline_share_pct']:.2f} %")
    return res


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser(description="benchmark the training data pipeline")
    p.add_argument("--device", default=None)
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--per-image", type=int, default=3000)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    a = p.parse_args()
    r = bench_pipeline(device=a.device, n_images=a.images, n_per_image=a.per_image, num_workers=a.workers, threads=a.threads)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=2)
