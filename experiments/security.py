"""Security study of RVT and the keyed baselines (docs/security.md): `make security`.

Measures, for the authors' MNIST, Fashion-MNIST and CIFAR-10 keys (both RVT modes) and every other
transform of the registry (rvt.registry: a fixed permutation, block scrambling and, where it applies,
the per-image random permutation):

1. what each key leaves in clear (fixed points, pixels outside every disk, lost/duplicated pixels,
   value histograms);
2. visual security: SSIM / PSNR of cipher vs plain test images, beside the accuracy each transform
   keeps in the committed quick results (experiments/results/runs.csv from `make table`, when present);
3. known-plaintext attack: the map recovered from k plain/cipher training pairs, and the test set
   decrypted with it;
4. ciphertext-only attack: the map estimated from cipher training images and public plain images of
   the same kind, and the test set decrypted with it;
5. key sensitivity and key space of the authors' key generation (docs/algorithm.md);
7. attacks on block-wise encryption with the block = the quick ViT's patch (docs/blockwise.md):
   known plaintext exploiting the shared in-block key, ciphertext-only statistics, and a jigsaw solver.

Each section is one function that computes its rows (:class:`Row`) and one in
:mod:`experiments.security_markdown` that renders them. Writes <out>/security.md and
<out>/security.csv atomically. SSIM and PSNR come from torchmetrics (data_range 1.0 on images scaled
to [0, 1]): SSIM is the mean of per-image SSIM (torchmetrics default Gaussian window 11, sigma 1.5;
channels averaged), PSNR is computed from the MSE pooled over all test pixels (torchmetrics' default
accumulation), so it is ``inf`` only when every pixel is exact.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from experiments import security_markdown as markdown
from experiments.common import (DATASETS, RESULTS, command_line, default_data_dir, git_label, load_images,
                                machine, quick_accuracy, registered_transforms, utc_now)
from rvt import RVT, Identity
from rvt.io import atomic_write_text
from rvt.security.keyspace import key_space_counts, perturbed_keys
from rvt.security.metrics import disk_mask, fraction, histogram_change, quality
from rvt.security.attacks import (candidate_matrix, ciphertext_only_map, guess_map, known_plaintext_map,
                                  map_accuracy, recover)
from rvt.security.block_attacks import (blockwise_known_plaintext, blockwise_statistics_attack,
                                        decrypt_with_estimate, jigsaw_block_order)
from rvt.transforms.blockwise import PATCH_FOR, Blockwise
from rvt.transforms.keys import generate, load_key
from rvt.transforms.vortex import vortex_source_index

LOCALITIES = (0.1, 0.3)
#: the files that produce these numbers: the commit line says '(modified)' when one differs from HEAD
SOURCES = ("experiments/security.py", "experiments/security_markdown.py", "experiments/common.py",
           "rvt/security/attacks.py", "rvt/security/block_attacks.py", "rvt/transforms")

#: generated keys of the key-sensitivity and key-space sections: generate(28, 28, 10, seed)
GENERATED = (28, 28, 10)


@dataclass
class Row:
    """One line of a section: ``values`` go to security.csv (one line per metric, in this order) and
    to security.md; ``shown`` only to security.md."""

    section: str
    dataset: str
    transform: str
    setting: str = ""
    values: dict = field(default_factory=dict)
    shown: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.values[name] if name in self.values else self.shown[name]

    def __contains__(self, name) -> bool:
        return name in self.values or name in self.shown


# --------------------------------------------------------------------------- transforms

def transforms_for(dataset: str) -> list[tuple[str, object]]:
    """(label, transform) for every registered transform, as the study uses it on ``dataset``."""
    return [(spec.label, t) for spec, t in registered_transforms(dataset, seed=0)]


def keyed(t) -> bool:
    """Whether ``t`` is one secret map shared by every image (what the key facts and attacks study):
    not the identity, not a fresh map per image."""
    return t.fixed and not isinstance(t, Identity)


def describe(t) -> str:
    """``Class(arguments)`` of a transform, for the header of security.md."""
    return f"{type(t).__name__}({t.extra_repr()})"


# --------------------------------------------------------------------------- sections: computation
# ``data`` is {dataset: (train, test)} of uint8 (N, C, H, W) images.

def key_facts(data) -> list[Row]:
    """Section 1: what each keyed map leaves in clear, and what it does to the value histograms."""
    rows = []
    for ds, (_, test) in data.items():
        h, w = test.shape[-2:]
        p = h * w
        for name, t in transforms_for(ds):
            if not keyed(t):
                continue
            g = t.index_for(h, w)
            counts = torch.bincount(g, minlength=p)
            same, tv = histogram_change(test, t(test))
            rows.append(Row("key_facts", ds, name, values={
                "fixed_points": fraction(g == torch.arange(p)),
                "outside_disks": fraction(~disk_mask(t.key)) if isinstance(t, RVT) else float("nan"),
                "lost": fraction(counts == 0), "duplicated": fraction(counts > 1),
                "histogram_kept": same, "histogram_tv": tv}))
    return rows


def visual(data) -> list[Row]:
    """Section 2: SSIM / PSNR of every transform's cipher test images against the plain ones."""
    rows = []
    for ds, (_, test) in data.items():
        for name, t in transforms_for(ds):
            q = quality(t(test), test)
            rows.append(Row("visual", ds, name, values={"ssim": q["ssim"], "psnr": q["psnr"]}))
    return rows


def known_plaintext(data, pairs) -> list[Row]:
    """Section 3: the map from k known pairs (setting ``k=<k>``), and decryption with the true map
    (``true_key``; ``true_key_neighbours`` fills the lost pixels of a lossy map from neighbours)."""
    rows = []
    for ds, (train, test) in data.items():
        h, w = test.shape[-2:]
        for name, t in transforms_for(ds):
            if not keyed(t):
                continue
            g = t.index_for(h, w)
            bijective = bool(torch.equal(torch.sort(g).values, torch.arange(h * w)))
            cipher_test = t(test)
            for k in pairs:
                plain_k = train[:k]
                cipher_k = t(plain_k)
                est, counts = known_plaintext_map(plain_k, cipher_k)
                a = map_accuracy(est, g)
                q_u = quality(recover(cipher_test, est, fill="neighbours"), test)
                full = guess_map(candidate_matrix(plain_k, cipher_k), h, w, bijective=bijective)
                q_g = quality(recover(cipher_test, full, fill="neighbours"), test)
                rows.append(Row("known_plaintext", ds, name, f"k={k}", values={
                    "outputs_identified": fraction(est >= 0), "outputs_correct": a["outputs_correct"],
                    "sources_placed": a["sources_placed"], "sources_placeable": a["sources_placeable"],
                    "wrong_claims": a["wrong_claims"], "mean_candidates": float(counts.double().mean()),
                    "ssim_unique": q_u["ssim"], "psnr_unique": q_u["psnr"],
                    "ssim_guess": q_g["ssim"], "psnr_guess": q_g["psnr"], "exact_guess": q_g["exact"]},
                    shown={"k": k}))
            placed = {"sources_placed": map_accuracy(g, g)["sources_placed"]}
            q_t = quality(recover(cipher_test, g, fill="cipher"), test)
            rows.append(Row("known_plaintext", ds, name, "true_key", values={
                "ssim": q_t["ssim"], "psnr": q_t["psnr"], "exact": q_t["exact"]}, shown=placed))
            if not bijective:
                q_n = quality(recover(cipher_test, g, fill="neighbours"), test)
                rows.append(Row("known_plaintext", ds, name, "true_key_neighbours", values={
                    "ssim": q_n["ssim"], "psnr": q_n["psnr"]}, shown={**placed, "exact": q_n["exact"]}))
    return rows


def ciphertext_only(data, n_cipher: int) -> list[Row]:
    """Section 4: the map estimated from cipher images and public plain images (setting = the attack:
    ``generic``, and for RVT ``local prior <w>``)."""
    rows = []
    for ds, (train, test) in data.items():
        h, w = test.shape[-2:]
        public, secret = train[:n_cipher], train[n_cipher:2 * n_cipher]
        for name, t in transforms_for(ds):
            if not keyed(t):
                continue
            g = t.index_for(h, w)
            cipher_secret, cipher_test = t(secret), t(test)
            q0 = quality(cipher_test, test)
            variants = [("generic", 0.0)]
            if isinstance(t, RVT):
                variants += [(f"local prior {loc:g}", loc) for loc in LOCALITIES]
            for variant, locality in variants:
                t0 = time.time()
                est = ciphertext_only_map(cipher_secret, public, locality=locality)
                dt = time.time() - t0
                a = map_accuracy(est, g)
                q = quality(recover(cipher_test, est, fill="cipher"), test)
                rows.append(Row("ciphertext_only", ds, name, variant, values={
                    "outputs_correct": a["outputs_correct"], "sources_placed": a["sources_placed"],
                    "ssim": q["ssim"], "psnr": q["psnr"], "seconds": dt},
                    shown={"ssim_cipher": q0["ssim"], "psnr_cipher": q0["psnr"]}))
    return rows


#: keys (seeds) per block-wise scheme: the attacks' success depends on the key, so each row is a mean over keys
BLOCK_KEYS = (0, 1, 2)


def block_schemes(dataset: str, seed: int) -> list[tuple[str, Blockwise]]:
    b = PATCH_FOR[dataset]
    return [(f"blockwise B={b}", Blockwise(block=b, seed=seed)),
            (f"blockwise B={b} + negpos", Blockwise(block=b, seed=seed, negpos=True)),
            (f"block order only B={b}", Blockwise(block=b, seed=seed, shuffle=False))]


def _attack_block_key(t: Blockwise, train, test, public, secret, pairs) -> dict:
    c, h, w = test.shape[1:]
    key = t.key_for(c, h, w)
    b = key.block
    cipher_test, cipher_secret = t(test), t(secret)
    values = {"ssim_cipher": quality(cipher_test, test)["ssim"]}
    broken = None
    for k in pairs:
        est = blockwise_known_plaintext(train[:k], t(train[:k]), b)
        rec = decrypt_with_estimate(cipher_test, est, b)
        if k == pairs[0]:
            values["ssim_known_k1"] = quality(rec, test)["ssim"]
            values["blocks_known_k1"] = fraction(est["scramble"] >= 0)
        if broken is None and torch.equal(rec, test):
            broken = k
    values["pairs_to_break"] = float("nan") if broken is None else float(broken)
    t0 = time.time()
    stats = blockwise_statistics_attack(cipher_secret, public, b)
    values["ssim_statistics"] = quality(decrypt_with_estimate(cipher_test, stats, b), test)["ssim"]
    values["blocks_statistics"] = fraction(stats["scramble"] == torch.tensor(key.scramble))
    # jigsaw: blocks made intact with the statistics' in-block estimate (or already intact)
    identity = {"scramble": torch.arange(len(key.scramble)), "shuffle": torch.arange(len(key.shuffle))}
    inner = identity if list(key.shuffle) == sorted(key.shuffle) else {**identity, "shuffle": stats["shuffle"],
                                                                       "negpos": stats["negpos"]}
    order = jigsaw_block_order(decrypt_with_estimate(cipher_secret, inner, b), b)
    jig = decrypt_with_estimate(decrypt_with_estimate(cipher_test, inner, b), {**identity, "scramble": order}, b)
    values["ssim_jigsaw"] = quality(jig, test)["ssim"]
    values["seconds"] = time.time() - t0
    return values


def block_attacks(data, pairs, n_cipher: int) -> list[Row]:
    """Section 7: per scheme, the mean over BLOCK_KEYS of: the block-wise key from k known pairs (and the
    smallest k that decrypts every test image exactly, per key), the key from cipher statistics, and the
    block order by a jigsaw solver (after the statistics' in-block estimate when blocks are shuffled)."""
    rows = []
    for ds, (train, test) in data.items():
        public, secret = train[:n_cipher], train[n_cipher:2 * n_cipher]
        per_key = defaultdict(list)
        for seed in BLOCK_KEYS:
            for name, t in block_schemes(ds, seed):
                per_key[name].append(_attack_block_key(t, train, test, public, secret, pairs))
        for name, runs in per_key.items():
            values = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "pairs_to_break"}
            needed = [r["pairs_to_break"] for r in runs]
            values["pairs_to_break_max"] = float("nan") if any(k != k for k in needed) else max(needed)  # nan: not broken
            broken = ", ".join(f"> {pairs[-1]}" if r["pairs_to_break"] != r["pairs_to_break"]
                               else str(int(r["pairs_to_break"])) for r in runs)
            rows.append(Row("block_attacks", ds, name, f"keys {','.join(map(str, BLOCK_KEYS))}", values=values,
                            shown={"k1": pairs[0], "pairs_to_break": broken}))
    return rows


def key_sensitivity(data, n_images: int = 1000) -> list[Row]:
    """Section 5: the authors' key of each dataset against perturbed keys, both modes; the first row of
    each (dataset, mode) decrypts with the true key (setting ``none (true key)``, not in the csv)."""
    rows = []
    for ds, (_, test) in data.items():
        key = load_key(f"authors:{ds}")
        test = test[:n_images]
        for mode in ("authors", "bijective"):
            true = RVT(key, mode=mode)
            g = true.index_for(*key.image_size)
            cipher = true(test)
            q = quality(true.inverse(cipher), test)
            about = {"key": key.label, "mode": mode}
            rows.append(Row("key_sensitivity", ds, f"rvt-{mode}", "none (true key)",
                            shown={**about, "changed": 0.0, "ssim_wrong_key": q["ssim"],
                                   "psnr_wrong_key": q["psnr"]}))
            for label, pk in perturbed_keys(key):
                wrong = RVT(pk, mode=mode)
                q = quality(wrong.inverse(cipher), test)
                rows.append(Row("key_sensitivity", ds, f"rvt-{mode}", label, values={
                    "changed": fraction(wrong.index_for(*key.image_size) != g),
                    "ssim_wrong_key": q["ssim"], "psnr_wrong_key": q["psnr"]}, shown=about))
    return rows


def neighbouring_seeds(n_pairs: int = 100) -> list[Row]:
    """Section 5, continued: maps of generated keys of seeds s and s + 1, per mode (two rows each)."""
    rows = []
    h, w, n = GENERATED
    ident = torch.arange(h * w)
    for mode in ("authors", "bijective"):
        maps = [torch.from_numpy(vortex_source_index(generate(h, w, n, s), mode)) for s in range(n_pairs + 1)]
        diffs = np.array([fraction(maps[s] != maps[s + 1]) for s in range(n_pairs)])
        moved = np.array([fraction(m != ident) for m in maps])
        rows.append(Row("key_sensitivity", "generated_28x28", f"rvt-{mode}", "seed s vs s+1", values={
            "differ_mean": diffs.mean(), "differ_min": diffs.min(), "differ_max": diffs.max()},
            shown={"mode": mode}))
        rows.append(Row("key_sensitivity", "generated_28x28", f"rvt-{mode}", "any",
                        values={"moved_mean": moved.mean()}, shown={"mode": mode}))
    return rows


def key_space(key_seeds: int) -> list[Row]:
    """Section 6: distinct maps among ``key_seeds`` generated keys, and what a key can be
    (rvt.security.keyspace.key_space_counts)."""
    c = key_space_counts(key_seeds, *GENERATED)
    seeds = f"seeds={key_seeds}"
    rows = [Row("key_space", "generated_28x28", f"rvt-{mode}", seeds, values={"distinct_maps": n})
            for mode, n in c["distinct_maps"].items()]
    rows += [
        Row("key_space", "generated_28x28", "rvt", seeds,
            values={"identity_maps": c["identity_maps"], "active_vortices_mean": c["active_vortices_mean"]},
            shown={"active_min": c["active_min"], "active_max": c["active_max"], "seconds": c["seconds"]}),
        Row("key_space", "generated_28x28", "rvt", "analytic",
            values={"active_centres": c["active_centres"]},
            shown={"radius_max": c["radius_max"], "radii": c["radii"]}),
        Row("key_space", "generated_28x28", "rvt", seeds, values={"distinct_centre_radius": c["distinct_centre_radius"]}),
    ]
    return rows


# --------------------------------------------------------------------------- outputs

def to_csv(rows: list[Row]) -> str:
    """security.csv: one line per (row, metric)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "dataset", "transform", "setting", "metric", "value"])
    for r in rows:
        for metric, v in r.values.items():
            writer.writerow([r.section, r.dataset, r.transform, r.setting, metric,
                             v if isinstance(v, int) else f"{float(v):.6g}"])
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument("--n-test", type=int, default=1000, help="test images to decrypt and score")
    ap.add_argument("--n-cipher", type=int, default=5000,
                    help="cipher images (and as many public plain images) for the ciphertext-only attack")
    ap.add_argument("--pairs", default="1,2,5,10,100", help="numbers k of known plain/cipher pairs")
    ap.add_argument("--key-seeds", type=int, default=10000, help="generated keys for the key-space count")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    pairs = [int(k) for k in args.pairs.split(",") if k.strip()]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    torch.manual_seed(0)

    n_train = max(2 * args.n_cipher, max(pairs))
    data = {ds: (load_images(ds, args.data_dir, True, n_train), load_images(ds, args.data_dir, False, args.n_test))
            for ds in DATASETS}
    acc = quick_accuracy(RESULTS / "runs.csv")
    n_pairs = 100

    rows: list[Row] = []
    body: list[str] = []
    steps = (
        ("key facts", lambda: key_facts(data), lambda r: markdown.key_facts(r, len(data[DATASETS[0]][1]))),
        ("visual", lambda: visual(data), lambda r: markdown.visual(r, acc, args.n_test)),
        ("known plaintext", lambda: known_plaintext(data, pairs), lambda r: markdown.known_plaintext(r, args.n_test)),
        ("ciphertext only", lambda: ciphertext_only(data, args.n_cipher),
         lambda r: markdown.ciphertext_only(r, args.n_cipher, args.n_test)),
        ("keys", lambda: key_sensitivity(data), markdown.key_sensitivity),
        ("neighbouring seeds", lambda: neighbouring_seeds(n_pairs), lambda r: markdown.neighbouring_seeds(r, n_pairs)),
        ("key space", lambda: key_space(args.key_seeds), lambda r: markdown.key_space(r, args.key_seeds)),
        ("block attacks", lambda: block_attacks(data, pairs, args.n_cipher),
         lambda r: markdown.block_attacks(r, args.n_cipher, args.n_test, pairs, BLOCK_KEYS)),
    )
    for label, compute, render in steps:
        t0 = time.time()
        section = compute()
        rows += section
        body += render(section)
        print(f"[security] {label}: {time.time() - t0:.1f} s", flush=True)

    baselines = [describe(t) for _, t in transforms_for(DATASETS[0]) if not isinstance(t, (RVT, Identity))]
    head = markdown.header(command_line("security", argv), machine(), git_label(SOURCES), utc_now(),
                           time.time() - t_start, args.n_test, baselines)
    atomic_write_text(out / "security.md", "\n".join(head + body) + "\n")
    atomic_write_text(out / "security.csv", to_csv(rows))
    print(f"[security] wrote {out / 'security.md'} and {out / 'security.csv'} in {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
