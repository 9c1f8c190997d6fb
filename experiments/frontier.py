"""The utility-security frontier: for every transform and dataset, the accuracy it keeps (ResNet and ViT,
quick recipes, both augmentation orders) against what the attacks of the security study recover.

    python experiments/frontier.py [--results experiments/results]        # make frontier

Reads ``runs.csv`` (experiments/report.py) and ``security.csv`` (experiments/security.py) from
``--results`` and writes ``frontier.md`` and ``frontier.png`` there. Per (dataset, transform):

- accuracy: mean test accuracy (val-selected) of the default-key runs per model and order;
- cipher SSIM: the attacker doing nothing;
- best ciphertext-only SSIM: the best decryption from cipher images and public plain images (position-map
  matching, and for blockwise the statistics and jigsaw attacks);
- pairs to break: the fewest known plain/cipher pairs after which the attack decrypts the test images
  as well as the key holder does (SSIM >= 0.99 of the key holder's; for blockwise: every image exact,
  the worst of the keys studied); '-' where no pairs tried were enough, 'no key' for per-image maps.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common import DATASETS, ORDER_FREE, PRETTY, RESULTS, command_line, quick_accuracies
from rvt.io import atomic_path, atomic_write_text
from rvt.registry import list_transforms, transform_spec
from rvt.transforms.blockwise import PATCH_FOR

MODELS = ("resnet", "vit")
ORDERS = ("before", "after")
#: the key holder's decryption quality that an attacker must reach to count as having broken the key
BROKEN_FRACTION = 0.99


def require(path: Path) -> Path:
    """``path``, or one clear message and exit when the report or the security study has not made it."""
    if not path.exists():
        raise SystemExit(f"frontier: no {path}; run `make table` and `make security` first")
    return path


def read_csv(path: Path) -> list[dict]:
    with open(require(path), newline="") as f:
        return list(csv.DictReader(f))


def accuracies(path: Path) -> dict:
    """{(dataset, transform label, model, order): (mean %, n)} over the quick runs of runs.csv with the
    transform's default configuration (:func:`experiments.common.quick_accuracies`); plain and per-image random runs
    count for both orders."""
    groups = defaultdict(list)
    for r, acc in quick_accuracies(require(path)):
        orders = ORDERS if r["transform"] in ORDER_FREE else (r["augment"],)
        for order in orders:
            groups[(r["dataset"], r["transform"], r["model"], order)].append(acc)
    return {k: (float(np.mean(v)), len(v)) for k, v in groups.items()}


def security_metrics(rows: list[dict]) -> dict:
    """{(dataset, transform label): {cipher_ssim, best_ciphertext_only_ssim, pairs_to_break}}."""
    by = defaultdict(list)
    for r in rows:
        try:
            by[(r["dataset"], r["transform"])].append((r["section"], r["setting"], r["metric"], float(r["value"])))
        except (KeyError, ValueError):
            continue
    out = {}
    for ds in DATASETS:
        block_label = f"blockwise B={PATCH_FOR[ds]}"
        for name in list_transforms():
            label = transform_spec(name).label
            entries = by.get((ds, label), [])
            m = {"cipher_ssim": next((v for s, _, k, v in entries if s == "visual" and k == "ssim"), None)}
            co = [v for s, _, k, v in entries if s == "ciphertext_only" and k == "ssim"]
            if name == "blockwise":
                co += [v for s, _, k, v in by.get((ds, block_label), []) if k in ("ssim_statistics", "ssim_jigsaw")]
            m["best_ciphertext_only_ssim"] = max(co) if co else None
            m["pairs_to_break"] = _pairs_to_break(entries, by.get((ds, block_label), []) if name == "blockwise" else [])
            if name == "random":
                m["pairs_to_break"] = "no key"
            out[(ds, label)] = m
    return out


def _pairs_to_break(entries, block_entries) -> str | None:
    holder = next((v for s, st, k, v in entries if s == "known_plaintext" and st == "true_key" and k == "ssim"), None)
    guesses = sorted((int(st[2:]), v) for s, st, k, v in entries
                     if s == "known_plaintext" and st.startswith("k=") and k == "ssim_guess")
    found = None
    if holder is not None:
        found = next((k for k, v in guesses if v >= BROKEN_FRACTION * holder), None)
    for s, _, k, v in block_entries:
        if k == "pairs_to_break_max" and v == v:
            found = int(v) if found is None else min(found, int(v))
    if found is not None:
        return str(found)
    return f"> {guesses[-1][0]}" if guesses else None


def frontier_rows(acc: dict, sec: dict) -> list[dict]:
    rows = []
    for ds in DATASETS:
        for name in list_transforms():
            label = transform_spec(name).label
            row = {"dataset": ds, "transform": label, **sec.get((ds, label), {})}
            for model in MODELS:
                for order in ORDERS:
                    row[f"{model}_{order}"] = acc.get((ds, label, model, order))
            if any(row.get(f"{m}_{o}") for m in MODELS for o in ORDERS) or row.get("cipher_ssim") is not None:
                rows.append(row)
    return rows


def _acc(v) -> str:
    return "-" if not v else f"{v[0]:.2f}" + (f" (n={v[1]})" if v[1] > 1 else "")


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def markdown(rows: list[dict], command: str) -> str:
    out = ["# The utility-security frontier\n",
           f"Produced by `{command}` from runs.csv (`make table`) and security.csv (`make security`). "
           "Accuracy: test accuracy in % (val-selected, mean over seeds) of the quick recipes, augmenting "
           "`before` encryption (a loader that holds the key) or `after` it (the authors' order, all a receiver "
           "of encrypted files can do; plain images and the per-image random permutation: one run stands for both); '-' = not run yet. Cipher SSIM: the encrypted test images against the "
           "plain ones. Best ciphertext-only SSIM: the best decryption an attacker gets from cipher images and "
           "public plain images (security.md sections 4 and 7). Pairs to break: the fewest known plain/cipher "
           f"pairs after which the known-plaintext attack decrypts as well as the key holder (SSIM >= "
           f"{BROKEN_FRACTION:g} of the key holder's; blockwise: every test image exact, worst of 3 keys). "
           f"Blockwise uses the block = the ViT patch ({PATCH_FOR['mnist']} on 28x28, {PATCH_FOR['cifar10']} on "
           "32x32).\n",
           "| dataset | transform | ResNet before | ResNet after | ViT before | ViT after | cipher SSIM | "
           "best ciphertext-only SSIM | pairs to break |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {PRETTY[r['dataset']]} | {r['transform']} | {_acc(r['resnet_before'])} | "
                   f"{_acc(r['resnet_after'])} | {_acc(r['vit_before'])} | {_acc(r['vit_after'])} | "
                   f"{_num(r.get('cipher_ssim'))} | {_num(r.get('best_ciphertext_only_ssim'))} | "
                   f"{r.get('pairs_to_break') or '-'} |")
    return "\n".join(out) + "\n"


def attack_ssim(row: dict) -> float | None:
    """The x of a frontier point: the best ciphertext-only SSIM; plain images 1.0, the per-image random
    permutation (no key to attack) its cipher images' SSIM."""
    if row.get("best_ciphertext_only_ssim") is not None:
        return row["best_ciphertext_only_ssim"]
    if row["transform"] == "none":
        return 1.0
    return row.get("cipher_ssim") if row["transform"] == "random" else None


def plot(rows: list[dict], path: Path) -> bool:
    """Test accuracy against the best ciphertext-only SSIM: a row of panels per model, a column per
    dataset; a colour per transform, filled = augmentation before encryption, hollow = after; the
    label: known pairs that break the key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    pts = [r for r in rows if attack_ssim(r) is not None
           and any(r.get(f"{m}_{o}") for m in MODELS for o in ORDERS)]
    if not pts:
        return False
    labels = [transform_spec(n).label for n in list_transforms()]
    colour = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
    fig, axes = plt.subplots(len(MODELS), len(DATASETS), figsize=(13, 7.5), squeeze=False)
    for i, model in enumerate(MODELS):
        for j, ds in enumerate(DATASETS):
            ax = axes[i, j]
            for r in (p for p in pts if p["dataset"] == ds):
                x, c = attack_ssim(r), colour.get(r["transform"], "k")
                for order in ORDERS:
                    acc = r.get(f"{model}_{order}")
                    if not acc:
                        continue
                    ax.scatter([x], [acc[0]], s=36, color=c if order == "before" else "none", edgecolors=[c])
                pairs = r.get("pairs_to_break")
                first = r.get(f"{model}_before") or r.get(f"{model}_after")
                if pairs and first and r["transform"] != "none":
                    ax.annotate(str(pairs), (x, first[0]), xytext=(4, -3), textcoords="offset points", fontsize=7)
            ax.set_title(f"{PRETTY[ds]}, {'ResNet' if model == 'resnet' else 'ViT'}", fontsize=10)
            ax.set_xlim(-0.05, 1.08)
            if i == len(MODELS) - 1:
                ax.set_xlabel("best ciphertext-only attack SSIM (lower = safer)")
            if j == 0:
                ax.set_ylabel("test accuracy %")
    present = [label for label in labels if any(p["transform"] == label for p in pts)]
    handles = [Line2D([], [], marker="o", ls="", color=colour[label], label=label) for label in present]
    handles += [Line2D([], [], marker="o", ls="", color="grey", label="augment before"),
                Line2D([], [], marker="o", ls="", markerfacecolor="none", color="grey", label="augment after")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Utility vs security (number beside a point: known pairs that break the key)")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=140, format="png")
    plt.close(fig)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="folder with runs.csv and security.csv")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: --results)")
    args = p.parse_args(argv)
    out = args.out or args.results
    out.mkdir(parents=True, exist_ok=True)
    rows = frontier_rows(accuracies(args.results / "runs.csv"),
                         security_metrics(read_csv(args.results / "security.csv")))
    atomic_write_text(out / "frontier.md", markdown(rows, command_line("frontier", argv)))
    drawn = plot(rows, out / "frontier.png")
    print(f"frontier: {len(rows)} rows -> {out / 'frontier.md'}" + (", frontier.png" if drawn else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
