"""Attacks on fixed position maps (rvt.security.attacks): they must find what is there and never claim too much."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rvt import RVT, BlockScramble, Permutation
from experiments import report, security, security_markdown
from rvt.security.attacks import (candidate_matrix, ciphertext_only_map, guess_map, known_plaintext_map,
                                  map_accuracy, recover)


def _distinct_images(n, c, h, w, seed=0):
    """Images whose pixels are all distinct across positions (per channel pattern): values 0..255 at
    random, rows of the pattern made unique by construction over n >= 2 images of 16 bits."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.int64).to(torch.uint8)


def test_known_plaintext_recovers_permutation_exactly():
    t = Permutation(seed=3)
    plain = _distinct_images(4, 1, 16, 16)
    # with 4 random images of 256 levels, every position's 4-value pattern is unique (checked here)
    patterns = plain.reshape(4, -1).T
    assert torch.unique(patterns, dim=0).shape[0] == 256
    est, counts = known_plaintext_map(plain, t(plain))
    assert torch.equal(est, t.index_for(16, 16))
    assert torch.equal(counts, torch.ones(256, dtype=torch.long))


def test_known_plaintext_counts_candidates_like_the_matrix():
    t = BlockScramble(block=4, seed=1, rotate_flip=True)
    plain = torch.randint(0, 3, (2, 3, 8, 8), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    cipher = t(plain)
    est, counts = known_plaintext_map(plain, cipher)
    # brute force: o and s match when equal in every image and channel
    c = cipher.reshape(2 * 3, 64)
    p = plain.reshape(2 * 3, 64)
    brute = (c[:, :, None] == p[:, None, :]).all(dim=0)
    assert torch.equal(candidate_matrix(plain, cipher), brute)
    assert torch.equal(counts, brute.sum(dim=1))
    g = t.index_for(8, 8)
    assert bool(brute[torch.arange(64), g].all())  # the truth is always a candidate
    unique = counts == 1
    assert torch.equal(est[unique], brute[unique].double().argmax(dim=1))
    assert bool((est[~unique] == -1).all())


@pytest.mark.parametrize("name", ["mnist"])
@pytest.mark.parametrize("mode", ["authors", "bijective"])
def test_known_plaintext_on_mnist_more_pairs_more_positions(mnist_test, name, mode):
    images = torch.from_numpy(mnist_test[0][:100])[:, None]
    t = RVT(f"authors:{name}", mode=mode)
    g = t.index_for(28, 28)
    found = []
    for k in (1, 100):
        est, counts = known_plaintext_map(images[:k], t(images[:k]))
        a = map_accuracy(est, g)
        # never a wrong claim: a unique candidate is the true source
        assert a["wrong_claims"] == 0
        assert bool((counts >= 1).all())
        found.append(int((est >= 0).sum()))
        # and whenever the true source's pattern is unique among sources, it is found
        src_patterns = images[:k].reshape(k, -1).T
        _, inv, cnt = torch.unique(src_patterns, dim=0, return_inverse=True, return_counts=True)
        pattern_unique = cnt[inv] == 1  # per source
        assert bool((est[pattern_unique[g]] == g[pattern_unique[g]]).all())
    assert found[1] > found[0]
    if mode == "authors":
        # lost sources are never placed
        lost = t.lost_positions()
        assert not bool(torch.isin(est[est >= 0], lost).any())


def test_recover_with_true_map_is_exact_for_bijective():
    images = _distinct_images(5, 3, 32, 32, seed=2)
    for t in (RVT("authors:cifar10", mode="bijective"), Permutation(seed=5), BlockScramble(4, 2, True)):
        g = t.index_for(32, 32)
        assert torch.equal(recover(t(images), g), images)
        assert torch.equal(recover(t(images).float(), g), images.float())


def test_recover_fills_unknown_sources():
    images = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
    est = torch.full((16,), -1)
    est[0] = 5  # output 0 holds source 5
    cipher = images.flip(-1)
    out = recover(cipher, est, fill="cipher")
    assert out.reshape(-1)[5] == cipher.reshape(-1)[0]
    # every other position keeps its cipher value
    keep = torch.ones(16, dtype=torch.bool)
    keep[5] = False
    assert torch.equal(out.reshape(-1)[keep], cipher.reshape(-1)[keep])
    nb = recover(cipher.float(), est, fill="neighbours")
    assert torch.allclose(nb, torch.full_like(nb, float(cipher.reshape(-1)[0])))
    assert recover(cipher[:, 0], est).shape == (1, 4, 4)  # (N, H, W) in, (N, H, W) out


def test_guess_map_completes_a_permutation():
    t = Permutation(seed=7)
    plain = torch.randint(0, 2, (3, 1, 8, 8), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    cand = candidate_matrix(plain, t(plain))
    full = guess_map(cand, 8, 8, bijective=True)
    assert torch.equal(torch.sort(full).values, torch.arange(64))
    assert bool(cand[torch.arange(64), full].all())  # consistent with every pair
    loose = guess_map(cand, 8, 8, bijective=False)
    assert bool(cand[torch.arange(64), loose].all())


def test_ciphertext_only_recovers_synthetic_permutation():
    """Positions with distinct means and a stationary correlation structure: the map comes back."""
    rng = np.random.default_rng(0)
    h = w = 8
    p = h * w
    n = 4000
    # smooth random fields (correlated neighbours) plus a position-dependent mean ramp
    noise = rng.normal(size=(n, h + 2, w + 2))
    field = sum(noise[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 3.0
    ramp = np.linspace(0, 1, p).reshape(h, w)
    images = torch.from_numpy(np.clip(64 + 40 * field + 120 * ramp, 0, 255).astype(np.uint8))[:, None]
    public, secret = images[: n // 2], images[n // 2:]
    t = Permutation(seed=11)
    est = ciphertext_only_map(t(secret), public)
    acc = map_accuracy(est, t.index_for(h, w))
    assert acc["outputs_correct"] > 0.95


def test_ciphertext_only_fails_without_structure():
    """Sanity: when every position has the same statistics and no correlation, matching is chance."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2000, 1, 8, 8), generator=g).to(torch.uint8)
    t = Permutation(seed=1)
    est = ciphertext_only_map(t(images[1000:]), images[:1000], iterations=5)
    assert map_accuracy(est, t.index_for(8, 8))["outputs_correct"] < 0.2


def test_visual_security_reads_the_accuracy_the_report_wrote(tmp_path):
    """experiments/security.py takes its 'accuracy kept' column from report.py's runs.csv."""
    rows = [dict(experiment="quick", dataset="mnist", model="resnet", transform=t, variant=var, vortices=v, seed=s,
                 test_acc=a)
            for t, var, v, s, a in [("rvt-authors", None, 10, 0, 0.70), ("rvt-authors", None, 10, 1, 0.80),
                                    ("rvt-authors", "generated:28x28:5:2", 5, 0, 0.99), ("block", None, None, 0, 0.5),
                                    ("none", None, None, 0, 0.9)]]
    rows.append(dict(experiment="paper", dataset="mnist", model="resnet", transform="none", seed=0, test_acc=0.1))
    report.write_csv(rows, tmp_path / "runs.csv")
    acc = security.quick_accuracy(tmp_path / "runs.csv")
    cell = security_markdown.accuracy_cell
    assert cell(acc, "mnist", "rvt-authors") == "resnet 75.0% (n=2)"  # the strength-axis run is left out
    assert cell(acc, "mnist", "block") == "resnet 50.0% (n=1)"  # the registry label (was block4)
    assert cell(acc, "mnist", "none") == "resnet 90.0% (n=1)"  # the paper run is left out
    assert cell(acc, "mnist", "random").startswith("n/a")
    assert cell({}, "mnist", "none").startswith("n/a (pending")
