"""Evaluate a checkpoint on the plain and on the encrypted test set.

    python eval.py outputs/runs/mnist-resnet-rvt/<time>            # its best checkpoint (else last.ckpt)
    python eval.py path/to/last.ckpt --device cuda --out eval.json

The checkpoint carries the run's resolved config (dataset, model, transform, normalisation, image size),
so nothing else is needed. A network trained on RVT images and tested on plain ones (and vice versa)
shows how much of what it learnt is tied to the key. Writes eval.json beside the checkpoint's run
directory unless --out says otherwise; prints one line per test set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from rvt.errors import RVTError


def find_checkpoint(path: Path) -> Path:
    if path.is_file():
        return path
    ckpts = path / "checkpoints"
    if path.is_dir() and ckpts.is_dir():
        best = sorted(ckpts.glob("best-*.ckpt"))
        if best:
            return best[-1]
        if (ckpts / "last.ckpt").is_file():
            return ckpts / "last.ckpt"
    raise RVTError(f"no checkpoint at {path} (give a .ckpt file or a run directory with checkpoints/)")


@torch.no_grad()
def accuracy(net, pipeline, x, y, batch_size: int, device) -> float:
    """Accuracy on the first len(y) test images; a per-image transform uses each image's fixed map, the
    one the run was tested with (rvt.training.datamodule.test_ids)."""
    from rvt.training.datamodule import test_ids

    ids = test_ids(len(y))
    correct = 0
    for start in range(0, len(y), batch_size):
        xb = pipeline(x[start:start + batch_size].to(device), train=False, ids=ids[start:start + batch_size].to(device))
        correct += int((net(xb).argmax(1).cpu() == y[start:start + batch_size]).sum())
    return correct / len(y)


def evaluate(ckpt: Path, data_dir: str | None = None, device: str = "cpu", batch_size: int = 500,
             test_subset: int | None = None) -> dict:
    from rvt.training.run import build_transform  # the same construction as training
    from omegaconf import OmegaConf

    from rvt.training.datasets import read_split
    from rvt.training.models import build_model
    from rvt.training.pipeline import BatchPipeline

    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = (state.get("hyper_parameters") or {}).get("run_config")
    if not cfg:
        raise RVTError(f"{ckpt}: no run config in the checkpoint (not written by train.py?)")
    cfg = OmegaConf.create(cfg)
    model_args = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "_target_"}
    model_args["pretrained"] = False  # the checkpoint has the weights
    net = build_model(**model_args)
    weights = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(weights)
    net.eval().to(device)
    x, y = read_split(cfg.dataset.name, data_dir or cfg.paths.data_dir, train=False, download=cfg.dataset.download)
    if test_subset:
        x, y = x[:test_subset], y[:test_subset]
    transform = build_transform(cfg.transform)
    common = dict(img_size=cfg.data.img_size, mean=cfg.dataset.mean, std=cfg.dataset.std)
    torch.manual_seed(int(cfg.seed))
    out = dict(checkpoint=str(ckpt), dataset=cfg.dataset.name, model=cfg.model.name,
               transform=cfg.transform.name, n_test=len(y), epoch=state.get("epoch"))
    out["acc_encrypted"] = accuracy(net, BatchPipeline(transform, **common), x, y, batch_size, device)
    out["acc_plain"] = accuracy(net, BatchPipeline(None, **common), x, y, batch_size, device)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a .ckpt file or a run directory")
    p.add_argument("--data-dir", default=None, help="default: the run's paths.data_dir")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--test-subset", type=int, default=None, help="only the first n test images")
    p.add_argument("--out", default=None, help="JSON file (default: <run dir>/eval.json)")
    args = p.parse_args(argv)
    try:
        ckpt = find_checkpoint(Path(args.checkpoint))
        res = evaluate(ckpt, args.data_dir, args.device, args.batch_size, args.test_subset)
    except RVTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from rvt.training.results import write_results

    out = Path(args.out) if args.out else ckpt.parent.parent / "eval.json"
    write_results(out.parent, res, out.name)
    print(f"{res['dataset']} {res['model']} trained on {res['transform']}: "
          f"encrypted test {100 * res['acc_encrypted']:.2f}% | plain test {100 * res['acc_plain']:.2f}% "
          f"({res['n_test']} images) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
