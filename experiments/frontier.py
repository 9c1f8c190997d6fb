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

from experiments.common import DATASETS, PRETTY, RESULTS, command_line, quick_accuracies
from rvt.io import atomic_path, atomic_write_text
from rvt.registry import list_transforms, transform_spec
from rvt.transforms.blockwise import PATCH_FOR

MODELS = ("resnet", "vit")
ORDERS = ("before", "after")
#: the key holder's decryption quality that an attacker must reach to count as having broken the key
BROKEN_FRACTION = 0.99


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        raise SystemExit(f"frontier: no {path}; run `make table` and `make security` first")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def accuracies(path: Path) -> dict:
    """{(dataset, transform label, model, order): (mean %, n)} over the quick runs of runs.csv with the
    default key (:func:`experiments.common.quick_accuracies`); plain runs count for both orders."""
    if not path.exists():
        raise SystemExit(f"frontier: no {path}; run `make table` and `make security` first")
    groups = defaultdict(list)
    for r, acc in quick_accuracies(path):
        orders = ORDERS if r.get("augment") in ("-", "", None) else (r["augment"],)  # plain: both orders
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
           "of encrypted files can do); '-' = not run yet. Cipher SSIM: the encrypted test images against the "
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


def plot(rows: list[dict], path: Path) -> bool:
    """ViT accuracy (augment before) against the best ciphertext-only SSIM, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get("vit_before") and r.get("best_ciphertext_only_ssim") is not None]
    pts += [r for r in rows if r["transform"] in ("none", "random") and r.get("vit_before")
            and r.get("best_ciphertext_only_ssim") is None and r.get("cipher_ssim") is not None]
    if not pts:
        return False
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(12, 4), sharey=False)
    for ax, ds in zip(np.atleast_1d(axes), DATASETS):
        for r in (p for p in pts if p["dataset"] == ds):
            x = r["best_ciphertext_only_ssim"] if r.get("best_ciphertext_only_ssim") is not None else (
                1.0 if r["transform"] == "none" else r["cipher_ssim"])
            ax.scatter([x], [r["vit_before"][0]])
            ax.annotate(f"{r['transform']} ({r.get('pairs_to_break') or '-'})", (x, r["vit_before"][0]), fontsize=6)
        ax.set_title(PRETTY[ds])
        ax.set_xlabel("best ciphertext-only attack SSIM (lower = safer)")
        ax.set_xlim(-0.05, 1.05)
    np.atleast_1d(axes)[0].set_ylabel("ViT test accuracy %, augment before")
    fig.suptitle("Utility vs security (label: known pairs that break the key)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
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
