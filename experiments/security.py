"""Security study of RVT and the keyed baselines (issue 6, item 1): `make security`.

Measures, for the authors' MNIST, Fashion-MNIST and CIFAR-10 keys (both RVT modes), a fixed permutation
and block scrambling (and the per-image random permutation where it applies):

1. what each key leaves in clear (fixed points, pixels outside every disk, lost/duplicated pixels,
   value histograms);
2. visual security: SSIM / PSNR of cipher vs plain test images, beside the accuracy each transform
   keeps in the committed quick results (experiments/results/runs.csv from `make table`, when present);
3. known-plaintext attack: the map recovered from k plain/cipher training pairs, and the test set
   decrypted with it;
4. ciphertext-only attack: the map estimated from cipher training images and public plain images of
   the same kind, and the test set decrypted with it;
5. key sensitivity and key space of the authors' key generation.

Writes <out>/security.md and <out>/security.csv atomically. SSIM and PSNR come from torchmetrics
(data_range 1.0 on images scaled to [0, 1]): SSIM is the mean of per-image SSIM (torchmetrics default
Gaussian window 11, sigma 1.5; channels averaged), PSNR is computed from the MSE pooled over all test
pixels (torchmetrics' default accumulation), so it is ``inf`` only when every pixel is exact.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import os
import pickle
import platform
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rvt import BlockScramble, Identity, Permutation, RandomPermutation, RVT  # noqa: E402
from rvt.attacks import (ciphertext_only_map, candidate_matrix, guess_map,  # noqa: E402
                         known_plaintext_map, map_accuracy, recover)
from rvt.io import atomic_write_text  # noqa: E402
from rvt.keys import Vortex, generate, load_key  # noqa: E402
from rvt.vortex import _window_polar, vortex_source_index  # noqa: E402

DATASETS = ("mnist", "fashion_mnist", "cifar10")
LOCALITIES = (0.1, 0.3)
PRETTY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


# --------------------------------------------------------------------------- data

def load_dataset(name: str, data_dir: Path, n_train: int, n_test: int):
    """(train[:n_train], test[:n_test]) as uint8 (N, C, H, W) tensors."""
    if name == "cifar10":
        base = data_dir / "cifar-10-batches-py"

        def read(fname):
            with open(base / fname, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)

        train = []
        i = 1
        while sum(len(t) for t in train) < n_train:
            train.append(read(f"data_batch_{i}"))
            i += 1
        train = np.concatenate(train)[:n_train]
        test = read("test_batch")[:n_test]
        return torch.from_numpy(np.ascontiguousarray(train)), torch.from_numpy(np.ascontiguousarray(test))
    from torchvision.datasets import MNIST, FashionMNIST

    cls = MNIST if name == "mnist" else FashionMNIST
    train = cls(str(data_dir), train=True, download=False).data[:n_train, None].contiguous()
    test = cls(str(data_dir), train=False, download=False).data[:n_test, None].contiguous()
    return train, test


def transforms_for(dataset: str) -> list[tuple[str, object]]:
    key = f"authors:{dataset}"
    return [
        ("none", Identity()),
        ("rvt-authors", RVT(key, mode="authors")),
        ("rvt-bijective", RVT(key, mode="bijective")),
        ("permutation", Permutation(seed=0)),
        ("block4", BlockScramble(block=4, seed=0, rotate_flip=True)),
        ("random", RandomPermutation(seed=0)),
    ]


# --------------------------------------------------------------------------- metrics

def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0 if not x.dtype.is_floating_point else x.float()


def quality(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """SSIM (mean per image), PSNR (pooled MSE) and the fraction of images that are exact."""
    from torchmetrics.functional.image import (peak_signal_noise_ratio,
                                               structural_similarity_index_measure)

    p, t = to_unit(pred), to_unit(target)
    ssim = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
    psnr = peak_signal_noise_ratio(p, t, data_range=1.0)
    exact = (pred == target).flatten(1).all(dim=1).double().mean()
    return {"ssim": float(ssim.mean()), "psnr": float(psnr), "exact": float(exact)}


def fmt_psnr(v: float) -> str:
    return "inf" if not np.isfinite(v) else f"{v:.2f}"


def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


# --------------------------------------------------------------------------- quick results

def quick_accuracy(path: Path) -> dict:
    """{(dataset, transform label): 'model mean (n=...)'} from the report's runs.csv (``make table``):
    experiment=quick runs with the key's default vortex count, accuracy in %; {} if absent."""
    if not path.exists():
        return {}
    groups = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("experiment") != "quick" or row.get("vortices"):
                continue
            try:
                acc = 100 * float(row["test_acc"])
            except (KeyError, TypeError, ValueError):
                continue
            groups[((row.get("dataset", ""), row.get("transform", "")), row.get("model", "?"))].append(acc)
    out = defaultdict(list)
    for (key, model), accs in sorted(groups.items()):
        out[key].append(f"{model} {np.mean(accs):.1f}% (n={len(accs)})")
    return {k: "; ".join(v) for k, v in out.items()}


def accuracy_cell(acc: dict, dataset: str, name: str) -> str:
    if not acc:
        return "n/a (pending: make sweep && make table)"
    label = {"block4": "block"}.get(name, name)  # report.py labels: none, rvt-authors, rvt-bijective, ...
    return acc.get((dataset, label), "n/a (not in the quick results)")


# --------------------------------------------------------------------------- key facts

def disk_mask(key) -> torch.Tensor:
    """(H*W,) bool: positions inside at least one active vortex disk (rho <= r)."""
    h, w = key.image_size
    n1, n2 = (h, w) if key.orientation == "row_col" else (w, h)
    mask = np.zeros((n1, n2), dtype=bool)
    for v in key.vortices:
        if not v.active:
            continue
        (c1, c2), r = v.center, v.radius
        _, _, rho, _, _ = _window_polar(r)
        a, b = c1 - r - 1, c2 - r - 1
        mask[a:a + 2 * r + 1, b:b + 2 * r + 1] |= rho <= r
    if key.orientation == "col_row":
        mask = mask.T
    return torch.from_numpy(np.ascontiguousarray(mask).reshape(-1))


def histogram_change(plain: torch.Tensor, cipher: torch.Tensor) -> tuple[float, float]:
    """(fraction of images whose per-channel value histogram is unchanged, mean total-variation distance)."""
    n, c = plain.shape[:2]
    p = plain.reshape(n * c, -1).long()
    q = cipher.reshape(n * c, -1).long()
    offs = torch.arange(n * c)[:, None] * 256
    hp = torch.bincount((p + offs).reshape(-1), minlength=n * c * 256).reshape(n, c, 256)
    hq = torch.bincount((q + offs).reshape(-1), minlength=n * c * 256).reshape(n, c, 256)
    same = (hp == hq).flatten(1).all(dim=1).double().mean()
    tv = 0.5 * (hp - hq).abs().sum(dim=2).double() / p.shape[1]
    return float(same), float(tv.mean())


# --------------------------------------------------------------------------- sections

def section_key_facts(rows, md, data):
    md.append("## 1. What each key leaves in clear\n")
    n_test = next(iter(data.values()))[1].shape[0]
    md.append(f"Histograms over the first {n_test} test images. *Fixed points*: outputs whose source is themselves (the pixel "
              "is sent in clear; for RVT this includes the outermost ring of every disk, whose turn "
              "(r - k) * s[k] is zero). *Outside disks*: positions in no active vortex disk. *Lost* / "
              "*duplicated*: source pixels held by no output / by several (authors' mode only). "
              "*Histogram kept*: fraction of images whose value histogram (per channel) is unchanged; "
              "*TV*: mean total-variation distance between plain and cipher histograms.\n")
    md.append("| dataset | transform | fixed points | outside disks | lost | duplicated | histogram kept | TV |")
    md.append("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        _, test = data[ds]
        h, w = test.shape[-2:]
        p = h * w
        for name, t in transforms_for(ds):
            if name in ("none", "random"):
                continue
            g = t.index_for(h, w)
            fixed = float((g == torch.arange(p)).double().mean())
            counts = torch.bincount(g, minlength=p)
            lost = float((counts == 0).double().mean())
            dup = float((counts > 1).double().mean())
            outside = float((~disk_mask(t.key)).double().mean()) if isinstance(t, RVT) else float("nan")
            same, tv = histogram_change(test, t(test))
            md.append(f"| {PRETTY[ds]} | {name} | {pct(fixed)} | "
                      f"{pct(outside) if np.isfinite(outside) else '-'} | {pct(lost)} | {pct(dup)} | "
                      f"{pct(same)} | {tv:.4f} |")
            for metric, value in (("fixed_points", fixed), ("outside_disks", outside), ("lost", lost),
                                  ("duplicated", dup), ("histogram_kept", same), ("histogram_tv", tv)):
                rows.append(("key_facts", ds, name, "", metric, value))
    md.append("")


def section_visual(rows, md, data, acc, n_test):
    md.append("## 2. Visual security: cipher vs plain\n")
    md.append(f"SSIM / PSNR of each cipher test image against its plain image (first {n_test} test images). "
              "Lower means less visible. 'Accuracy kept' is read from "
              "experiments/results/runs.csv (`make table`; experiment=quick test accuracy per model, mean over seeds); it "
              "is not measured here.\n")
    md.append("| dataset | transform | SSIM | PSNR (dB) | accuracy kept (quick results) |")
    md.append("|---|---|---|---|---|")
    for ds in DATASETS:
        _, test = data[ds]
        for name, t in transforms_for(ds):
            q = quality(t(test), test)
            md.append(f"| {PRETTY[ds]} | {name} | {q['ssim']:.3f} | {fmt_psnr(q['psnr'])} | "
                      f"{accuracy_cell(acc, ds, name)} |")
            rows.append(("visual", ds, name, "", "ssim", q["ssim"]))
            rows.append(("visual", ds, name, "", "psnr", q["psnr"]))
    md.append("")


def section_known_plaintext(rows, md, data, pairs, n_test):
    md.append("## 3. Known-plaintext attack\n")
    md.append(
        "The attacker holds the first k training images and their cipher images (one key) and the "
        f"cipher of the first {n_test} test images. For each output position the candidate sources are "
        "those whose values equal the output's in every pair and channel (`rvt.attacks.known_plaintext_map`). "
        "*Outputs identified*: fraction of output positions left with exactly one candidate; that "
        "candidate is always the true source (*wrong claims* counts the exceptions: it must be 0). "
        "*Sources placed*: fraction of plaintext positions some identified output holds "
        "(*placeable*: the most anyone can place; below 100% only in authors' mode, lost pixels). "
        "Positions left ambiguous are those whose values agree with other positions' in all k pairs, "
        "mostly pixels that are 0 in all of them (MNIST borders), which matter little for decryption. "
        "Whether an output is identified depends only on the plain pairs (is its source's value "
        "pattern unique?), not on which map was used: every bijective transform gets the same "
        "*outputs identified*.\n\n"
        "Two decryptions of the test set: *unique*: only identified outputs are placed, the other "
        "positions of each image take the mean of their placed neighbours (`recover(fill='neighbours')`); "
        "*guess*: "
        "every output takes one of its candidates, the nearest one to it, solved as one assignment "
        "for bijective transforms and per output for authors' mode (`guess_map`); sources no output "
        "takes are filled from neighbours the same way. The *true key* row "
        "decrypts with the true map (the key holder; for authors' mode lost pixels keep the cipher "
        "value, or, second row, the mean of their neighbours: exact decryption is impossible).\n")
    md.append("| dataset | transform | k | outputs identified | sources placed (placeable) | wrong claims | "
              "SSIM unique | PSNR unique | SSIM guess | PSNR guess | exact images (guess) |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        train, test = data[ds]
        h, w = test.shape[-2:]
        for name, t in transforms_for(ds):
            if name in ("none", "random"):
                continue
            g = t.index_for(h, w)
            bijective = bool(torch.equal(torch.sort(g).values, torch.arange(h * w)))
            cipher_test = t(test)
            for k in pairs:
                plain_k = train[:k]
                cipher_k = t(plain_k)
                est, counts = known_plaintext_map(plain_k, cipher_k)
                a = map_accuracy(est, g)
                identified = float((est >= 0).double().mean())
                q_u = quality(recover(cipher_test, est, fill="neighbours"), test)
                full = guess_map(candidate_matrix(plain_k, cipher_k), h, w, bijective=bijective)
                q_g = quality(recover(cipher_test, full, fill="neighbours"), test)
                md.append(f"| {PRETTY[ds]} | {name} | {k} | {pct(identified)} | "
                          f"{pct(a['sources_placed'])} ({pct(a['sources_placeable'])}) | {a['wrong_claims']} | "
                          f"{q_u['ssim']:.3f} | {fmt_psnr(q_u['psnr'])} | {q_g['ssim']:.3f} | "
                          f"{fmt_psnr(q_g['psnr'])} | {pct(q_g['exact'])} |")
                setting = f"k={k}"
                for metric, value in (("outputs_identified", identified),
                                      ("outputs_correct", a["outputs_correct"]),
                                      ("sources_placed", a["sources_placed"]),
                                      ("sources_placeable", a["sources_placeable"]),
                                      ("wrong_claims", a["wrong_claims"]),
                                      ("mean_candidates", float(counts.double().mean())),
                                      ("ssim_unique", q_u["ssim"]), ("psnr_unique", q_u["psnr"]),
                                      ("ssim_guess", q_g["ssim"]), ("psnr_guess", q_g["psnr"]),
                                      ("exact_guess", q_g["exact"])):
                    rows.append(("known_plaintext", ds, name, setting, metric, value))
            q_t = quality(recover(cipher_test, g, fill="cipher"), test)
            md.append(f"| {PRETTY[ds]} | {name} | true key | 100.0% | "
                      f"{pct(map_accuracy(g, g)['sources_placed'])} | 0 | {q_t['ssim']:.3f} | "
                      f"{fmt_psnr(q_t['psnr'])} | - | - | {pct(q_t['exact'])} |")
            rows.append(("known_plaintext", ds, name, "true_key", "ssim", q_t["ssim"]))
            rows.append(("known_plaintext", ds, name, "true_key", "psnr", q_t["psnr"]))
            rows.append(("known_plaintext", ds, name, "true_key", "exact", q_t["exact"]))
            if not bijective:
                q_n = quality(recover(cipher_test, g, fill="neighbours"), test)
                md.append(f"| {PRETTY[ds]} | {name} | true key, lost pixels from neighbours | 100.0% | "
                          f"{pct(map_accuracy(g, g)['sources_placed'])} | 0 | {q_n['ssim']:.3f} | "
                          f"{fmt_psnr(q_n['psnr'])} | - | - | {pct(q_n['exact'])} |")
                rows.append(("known_plaintext", ds, name, "true_key_neighbours", "ssim", q_n["ssim"]))
                rows.append(("known_plaintext", ds, name, "true_key_neighbours", "psnr", q_n["psnr"]))
    md.append("\nThe per-image random permutation has no fixed map: a known pair reveals only the map of "
              "that one image, so this attack does not apply to it (nor does decryption).\n")


def section_ciphertext_only(rows, md, data, n_cipher, n_test):
    md.append("## 4. Ciphertext-only attack\n")
    md.append(
        f"The attacker sees {n_cipher} cipher images (training images {n_cipher}..{2 * n_cipher - 1}, one "
        f"key) and holds {n_cipher} public plain images of the same kind (training images "
        f"0..{n_cipher - 1}, disjoint). `rvt.attacks.ciphertext_only_map` matches per-position mean and "
        "std by one assignment, then refines by the correlation between positions (graph matching by "
        "repeated assignments). *generic*: no assumption on the transform; *local prior w* (RVT only): "
        "the attacker also prefers nearby sources (cost + w * distance / diagonal), knowing that RVT "
        "moves pixels only within disks; the weights shown are a small fixed grid, not tuned per row "
        "(an attacker without plaintext could choose among them by the matching objective; we show all). "
        f"The first {n_test} test images are then decrypted with the estimate (positions the estimate "
        "does not place keep their cipher value). For bijective maps the generic attack does not care "
        "which permutation was used (it is equivariant): RVT-bijective, permutation and block rows "
        "agree up to ties. "
        "'Cipher as is' repeats the visual-security figure (the attacker doing nothing).\n")
    md.append("| dataset | transform | attack | outputs correct | SSIM | PSNR (dB) | cipher as is: SSIM / PSNR | time (s) |")
    md.append("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        train, test = data[ds]
        h, w = test.shape[-2:]
        public, secret = train[:n_cipher], train[n_cipher:2 * n_cipher]
        for name, t in transforms_for(ds):
            if name in ("none", "random"):
                continue
            g = t.index_for(h, w)
            cipher_secret, cipher_test = t(secret), t(test)
            q0 = quality(cipher_test, test)
            variants = [("generic", 0.0)]
            if name.startswith("rvt"):
                variants += [(f"local prior {loc:g}", loc) for loc in LOCALITIES]
            for variant, locality in variants:
                t0 = time.time()
                est = ciphertext_only_map(cipher_secret, public, locality=locality)
                dt = time.time() - t0
                a = map_accuracy(est, g)
                q = quality(recover(cipher_test, est, fill="cipher"), test)
                md.append(f"| {PRETTY[ds]} | {name} | {variant} | {pct(a['outputs_correct'])} | "
                          f"{q['ssim']:.3f} | {fmt_psnr(q['psnr'])} | {q0['ssim']:.3f} / {fmt_psnr(q0['psnr'])} | "
                          f"{dt:.1f} |")
                for metric, value in (("outputs_correct", a["outputs_correct"]),
                                      ("sources_placed", a["sources_placed"]),
                                      ("ssim", q["ssim"]), ("psnr", q["psnr"]), ("seconds", dt)):
                    rows.append(("ciphertext_only", ds, name, variant, metric, value))
    md.append("\nThe per-image random permutation leaves every position with the same statistics and no "
              "stable correlation: nothing to match.\n")


def _map(key, mode):
    return torch.from_numpy(vortex_source_index(key, mode))


def _perturbed_keys(key):
    """(label, key) variants of ``key`` a small step away."""
    active = [i for i, v in enumerate(key.vortices) if v.active]
    big = max(active, key=lambda i: key.vortices[i].radius)
    v = key.vortices[big]
    r = v.radius
    out = []

    def with_vortex(i, nv):
        vs = list(key.vortices)
        vs[i] = nv
        return replace(key, vortices=tuple(vs))

    ring = max(1, r // 2)
    deg = list(v.degree)
    deg[ring - 1] *= 1 + 1e-3
    out.append((f"one degree value x (1 + 1e-3) (vortex {big}, ring {ring})",
                with_vortex(big, Vortex(v.center, r, tuple(deg)))))
    for eps in (1e-3, 1e-2, 1e-1):
        out.append((f"all degrees of vortex {big} x (1 + {eps:g})",
                    with_vortex(big, Vortex(v.center, r, tuple(d * (1 + eps) for d in v.degree)))))
    h, w = key.image_size
    n1, n2 = (h, w) if key.orientation == "row_col" else (w, h)
    (c1, c2) = v.center
    for d1, d2 in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        a, b = c1 + d1, c2 + d2
        if a - r >= 1 and a + r <= n1 and b - r >= 1 and b + r <= n2:
            out.append((f"centre of vortex {big} moved by ({d1}, {d2})",
                        with_vortex(big, Vortex((a, b), r, v.degree))))
            break
    return out


def section_keys(rows, md, data, key_seeds):
    md.append("## 5. Key sensitivity\n")
    md.append(
        "*Changed*: fraction of the H*W map entries that differ from the true key's map. *Wrong-key "
        "decryption*: test images encrypted with the true key and decrypted with the perturbed key "
        "(exact inverse in bijective mode, best-effort inverse in authors' mode), SSIM / PSNR vs plain; "
        "the first row of each block decrypts with the true key.\n")
    md.append("| key | mode | perturbation | changed | SSIM | PSNR (dB) |")
    md.append("|---|---|---|---|---|---|")
    for ds in DATASETS:
        _, test = data[ds]
        key = load_key(f"authors:{ds}")
        test = test[:1000]
        for mode in ("authors", "bijective"):
            true = RVT(key, mode=mode)
            g = true.index_for(*key.image_size)
            cipher = true(test)
            q = quality(true.inverse(cipher), test)
            md.append(f"| {key.label} | {mode} | none (true key) | 0.0% | {q['ssim']:.3f} | {fmt_psnr(q['psnr'])} |")
            for label, pk in _perturbed_keys(key):
                wrong = RVT(pk, mode=mode)
                changed = float((wrong.index_for(*key.image_size) != g).double().mean())
                q = quality(wrong.inverse(cipher), test)
                md.append(f"| {key.label} | {mode} | {label} | {pct(changed)} | {q['ssim']:.3f} | "
                          f"{fmt_psnr(q['psnr'])} |")
                rows.append(("key_sensitivity", ds, f"rvt-{mode}", label, "changed", changed))
                rows.append(("key_sensitivity", ds, f"rvt-{mode}", label, "ssim_wrong_key", q["ssim"]))
                rows.append(("key_sensitivity", ds, f"rvt-{mode}", label, "psnr_wrong_key", q["psnr"]))
    md.append("")

    # neighbouring seeds
    md.append("### Keys from neighbouring seeds\n")
    n_pairs = 100
    md.append(f"`generate(28, 28, 10, seed)` for seeds s and s + 1, s = 0..{n_pairs - 1}: fraction of map "
              "entries that differ, and the fraction that differ from the identity (how much a key moves "
              "at all). numpy's `default_rng` streams of neighbouring seeds are independent, so this is "
              "the distance between two unrelated keys.\n")
    md.append("| mode | differ, mean | min | max | moved by a key, mean |")
    md.append("|---|---|---|---|---|")
    ident = torch.arange(28 * 28)
    for mode in ("authors", "bijective"):
        maps = [_map(generate(28, 28, 10, s), mode) for s in range(n_pairs + 1)]
        diffs = np.array([float((maps[s] != maps[s + 1]).double().mean()) for s in range(n_pairs)])
        moved = np.array([float((m != ident).double().mean()) for m in maps])
        md.append(f"| {mode} | {pct(diffs.mean())} | {pct(diffs.min())} | {pct(diffs.max())} | {pct(moved.mean())} |")
        rows.append(("key_sensitivity", "generated_28x28", f"rvt-{mode}", "seed s vs s+1", "differ_mean", diffs.mean()))
        rows.append(("key_sensitivity", "generated_28x28", f"rvt-{mode}", "seed s vs s+1", "differ_min", diffs.min()))
        rows.append(("key_sensitivity", "generated_28x28", f"rvt-{mode}", "seed s vs s+1", "differ_max", diffs.max()))
        rows.append(("key_sensitivity", "generated_28x28", f"rvt-{mode}", "any", "moved_mean", moved.mean()))
    md.append("")

    # key space
    md.append("## 6. Key space in practice\n")
    t0 = time.time()
    hashes = {"authors": set(), "bijective": set()}
    centres, active_counts, identity_keys = set(), [], 0
    for s in range(key_seeds):
        key = generate(28, 28, 10, s)
        act = [v for v in key.vortices if v.active]
        active_counts.append(len(act))
        centres.update((v.center, v.radius) for v in act)
        for mode in hashes:
            m = vortex_source_index(key, mode)
            hashes[mode].add(hashlib.blake2b(m.astype(np.int64).tobytes(), digest_size=16).digest())
            if mode == "bijective" and np.array_equal(m, np.arange(28 * 28)):
                identity_keys += 1
    dt = time.time() - t0
    # analytic: centre = round(U * 28) in 0..28 per axis; the vortex is active when
    # r = min(|c1-28|, |c2-28|, c1, c2) - 1 >= 1, i.e. c in 2..26 on both axes; r follows from the centre
    possible_active = sum(1 for a in range(29) for b in range(29) if min(abs(a - 28), abs(b - 28), a, b) - 1 >= 1)
    radii = sorted({min(abs(a - 28), abs(b - 28), a, b) - 1 for a in range(29) for b in range(29)
                    if min(abs(a - 28), abs(b - 28), a, b) - 1 >= 1})
    md.append(
        f"`generate(28, 28, 10, seed)` for {key_seeds} seeds ({dt:.0f} s): distinct maps "
        f"{len(hashes['authors'])} (authors' mode) and {len(hashes['bijective'])} (bijective mode); "
        f"keys whose bijective map is the identity: {identity_keys}. Active vortices per key: mean "
        f"{np.mean(active_counts):.2f} of 10 (min {min(active_counts)}, max {max(active_counts)}); a centre "
        f"is round(U * 28) per axis, 29 x 29 = 841 outcomes of which {possible_active} give an active "
        f"vortex (radius 1..{radii[-1]}, determined by the centre: {len(radii)} possible radii); "
        f"{len(centres)} distinct active (centre, radius) pairs were drawn.\n")
    for mode in hashes:
        rows.append(("key_space", "generated_28x28", f"rvt-{mode}", f"seeds={key_seeds}", "distinct_maps",
                     len(hashes[mode])))
    rows.append(("key_space", "generated_28x28", "rvt", f"seeds={key_seeds}", "identity_maps", identity_keys))
    rows.append(("key_space", "generated_28x28", "rvt", f"seeds={key_seeds}", "active_vortices_mean",
                 float(np.mean(active_counts))))
    rows.append(("key_space", "generated_28x28", "rvt", "analytic", "active_centres", possible_active))
    rows.append(("key_space", "generated_28x28", "rvt", f"seeds={key_seeds}", "distinct_centre_radius",
                 len(centres)))
    md.append(
        "What this means: collisions between keys are rare, so the key generation does produce many "
        "different maps, but the size of the key space is not what protects the data. The secret that "
        "matters is the map (one gather index of H*W entries, the same for every image), and the "
        "attacks above read the map off the data directly (section 3 needs no search over keys at "
        "all), so a large key space does not make the scheme strong. Small changes to a key often "
        "leave most of the map unchanged (section 5), the opposite of a cipher's avalanche: nearby keys "
        "are nearly equivalent.\n")


# --------------------------------------------------------------------------- main

def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{platform.node()} ({platform.system()} {platform.release()}, {cpu}, "
            f"{os.cpu_count()} CPUs visible, torch {torch.__version__}, {torch.get_num_threads()} threads)")


def git_commit() -> str:
    """HEAD, marked '(modified)' when the files that produce these numbers differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "experiments/security.py",
                                "rvt/attacks.py", "rvt/vortex.py", "rvt/maps.py", "rvt/baselines.py",
                                "rvt/keys.py"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
        return head + (" (modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("RVT_DATA_DIR", "data"))
    ap.add_argument("--n-test", type=int, default=1000, help="test images to decrypt and score")
    ap.add_argument("--n-cipher", type=int, default=5000,
                    help="cipher images (and as many public plain images) for the ciphertext-only attack")
    ap.add_argument("--pairs", default="1,2,5,10,100", help="numbers k of known plain/cipher pairs")
    ap.add_argument("--key-seeds", type=int, default=10000, help="generated keys for the key-space count")
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    pairs = [int(k) for k in args.pairs.split(",") if k.strip()]
    data_dir, out = Path(args.data_dir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    torch.manual_seed(0)

    n_train = max(2 * args.n_cipher, max(pairs))
    data = {ds: load_dataset(ds, data_dir, n_train, args.n_test) for ds in DATASETS}
    acc = quick_accuracy(ROOT / "experiments" / "results" / "runs.csv")

    rows: list[tuple] = []
    body: list[str] = []
    steps = (
        ("key facts", lambda: section_key_facts(rows, body, data)),
        ("visual", lambda: section_visual(rows, body, data, acc, args.n_test)),
        ("known plaintext", lambda: section_known_plaintext(rows, body, data, pairs, args.n_test)),
        ("ciphertext only", lambda: section_ciphertext_only(rows, body, data, args.n_cipher, args.n_test)),
        ("keys", lambda: section_keys(rows, body, data, args.key_seeds)),
    )
    for label, step in steps:
        t0 = time.time()
        step()
        print(f"[security] {label}: {time.time() - t0:.1f} s", flush=True)

    command = "python experiments/security.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    head = [
        "# Security study: RVT and keyed baselines\n",
        "Generated by `experiments/security.py` (`make security`); do not edit by hand. Raw numbers: "
        "[security.csv](security.csv). Discussion: [docs/security.md](../../docs/security.md).\n",
        f"- command: `{command.strip()}`",
        f"- machine: {machine()}",
        f"- commit: {git_commit()}, date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"run time {time.time() - t_start:.0f} s",
        f"- data: first {args.n_test} test images of each dataset; training images as stated per section; "
        f"keys authors:mnist, authors:fashion_mnist (first 10 vortices), authors:cifar10 (2 vortices); "
        f"Permutation(seed=0); BlockScramble(block=4, seed=0, rotate_flip=True); RandomPermutation(seed=0)",
        "- SSIM: torchmetrics `structural_similarity_index_measure` (data_range 1.0, mean of per-image "
        "values); PSNR: torchmetrics `peak_signal_noise_ratio` (data_range 1.0, MSE pooled over all "
        "images: inf only when every pixel is exact)\n",
    ]
    atomic_write_text(out / "security.md", "\n".join(head + body) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "dataset", "transform", "setting", "metric", "value"])
    for r in rows:
        v = r[-1]
        writer.writerow(list(r[:-1]) + [v if isinstance(v, int) else f"{float(v):.6g}"])
    atomic_write_text(out / "security.csv", buf.getvalue())
    print(f"[security] wrote {out / 'security.md'} and {out / 'security.csv'} in {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
