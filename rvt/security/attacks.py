"""Attacks on fixed position maps (RVT, Permutation, BlockScramble): what an adversary can recover.

Every keyed transform in this project is one gather map g over the P = H*W positions: output o of every
image holds the pixel of source g(o) (docs/algorithm.md). Whoever learns g decrypts everything encrypted with the
key, whatever the key looked like. The functions here estimate g, as an attacker would, from

- known plaintext (:func:`known_plaintext_map`): a few plain/cipher pairs. Output o can only hold a
  source s whose values equal the cipher values of o in every pair and every channel; when exactly one
  such s is left, o is identified. The true source is always among the candidates (values are never
  changed), so a unique candidate is always the true source: the attack never claims a wrong position.
- ciphertext only (:func:`ciphertext_only_map`): many cipher images of one key and public plain images
  of the same kind (e.g. other images of the same dataset). Per-position statistics (mean, spread) and
  the correlation between positions survive the map, permuted by it; matching them gives an estimate.

and turn an estimate into plaintext guesses (:func:`recover`). Counting conventions (used by
``experiments/security.py``): *outputs identified* = fraction of output positions o whose source is
pinned down uniquely; *sources placed* = fraction of plaintext positions s that some identified output
holds. In the authors' RVT mode the map is not a bijection: lost sources are held by no output and can
be placed by nobody, the key holder included.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rvt.errors import InputError

__all__ = [
    "as_images", "candidate_ids", "candidate_matrix", "known_plaintext_map", "guess_map",
    "recover", "ciphertext_only_map", "map_accuracy", "position_stats",
]


def as_images(x) -> torch.Tensor:
    """(N, C, H, W) tensor view of a batch given as (N, H, W) or (N, C, H, W) array or tensor."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4:
        raise InputError(f"expected images shaped (N, H, W) or (N, C, H, W), got {tuple(t.shape)}")
    return t


def _pair_check(plain, cipher) -> tuple[torch.Tensor, torch.Tensor]:
    plain, cipher = as_images(plain), as_images(cipher)
    if plain.shape != cipher.shape:
        raise InputError(f"plain {tuple(plain.shape)} and cipher {tuple(cipher.shape)} shapes differ")
    if plain.shape[0] == 0:
        raise InputError("need at least one plain/cipher pair")
    return plain, cipher


# --------------------------------------------------------------------------- known plaintext

def candidate_ids(plain, cipher) -> tuple[torch.Tensor, torch.Tensor]:
    """Value-pattern classes: (class of each source (P,), class of each output (P,)).

    The pattern of a position is its vector of values over all K pairs and C channels; source s is a
    candidate for output o exactly when their patterns are equal, i.e. when their class ids are equal.
    Computed with one ``torch.unique`` over the 2P patterns: exact, no P x P work.
    """
    plain, cipher = _pair_check(plain, cipher)
    k, c, h, w = plain.shape
    p = h * w
    patterns = torch.cat([plain.reshape(k * c, p).T, cipher.reshape(k * c, p).T], dim=0)
    _, ids = torch.unique(patterns.contiguous(), dim=0, return_inverse=True)
    return ids[:p], ids[p:]


def candidate_matrix(plain, cipher) -> torch.Tensor:
    """(P, P) bool: [o, s] is True when source s matches output o in every pair and channel."""
    src_ids, out_ids = candidate_ids(plain, cipher)
    return out_ids[:, None] == src_ids[None, :]


def known_plaintext_map(plain, cipher) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate the gather map from K plain/cipher pairs encrypted with one fixed map.

    Returns ``(estimate, counts)``, both (P,): ``estimate[o]`` is the source of output o when exactly one
    candidate is left, else -1; ``counts[o]`` is the number of candidate sources (>= 1 whenever the
    pairs really come from a position map).
    """
    src_ids, out_ids = candidate_ids(plain, cipher)
    n_ids = int(torch.maximum(src_ids.max(), out_ids.max())) + 1
    per_class = torch.bincount(src_ids, minlength=n_ids)
    counts = per_class[out_ids]
    # the one source of each class that has exactly one (scatter: classes are disjoint)
    only_source = torch.full((n_ids,), -1, dtype=torch.long)
    only_source[src_ids] = torch.arange(src_ids.numel())
    estimate = torch.where(counts == 1, only_source[out_ids], torch.full_like(out_ids, -1))
    return estimate, counts


def _distance_matrix(h: int, w: int) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    pos = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)
    return torch.cdist(pos, pos)


def guess_map(candidates: torch.Tensor, h: int, w: int, bijective: bool) -> torch.Tensor:
    """A complete map consistent with the pairs: every output gets one of its candidates.

    Among several candidates the attacker prefers the one nearest to the output (a prior that suits
    transforms moving pixels locally, as RVT does; the attacker knows the algorithm, not the key).
    ``bijective=True`` (the attacker knows the transform is a permutation) solves it as one assignment
    (scipy's ``linear_sum_assignment``) so no source is used twice; ``False`` (authors' RVT) picks the
    nearest candidate per output independently.
    """
    from scipy.optimize import linear_sum_assignment

    p = h * w
    if candidates.shape != (p, p):
        raise InputError(f"candidate matrix must be ({p}, {p}), got {tuple(candidates.shape)}")
    dist = _distance_matrix(h, w)
    dist = dist / (dist.max() + 1.0)  # < 1: a candidate always beats a non-candidate
    cost = dist + (~candidates).double() * 2.0
    if bijective:
        rows, cols = linear_sum_assignment(cost.numpy())
        out = torch.empty(p, dtype=torch.long)
        out[torch.from_numpy(rows)] = torch.from_numpy(cols).long()
        return out
    return cost.argmin(dim=1)


# --------------------------------------------------------------------------- decryption guesses

def recover(cipher, estimated_map: torch.Tensor, fill: str = "cipher") -> torch.Tensor:
    """The attacker's plain estimate from cipher images and an estimated map (-1 = unknown output).

    Every source s that some output o with ``estimated_map[o] == s`` holds takes the cipher value of o
    (for a duplicated source in authors' mode any holder will do: they carry the same pixel). Sources no
    output is known to hold are filled by ``fill``:

    - ``"cipher"``: the cipher value at the same position (right wherever the map is the identity,
      e.g. outside every vortex disk);
    - ``"neighbours"``: the mean of the already known 4-neighbours, grown outwards until every position
      is filled (positions with no known position anywhere keep the cipher value);
    - ``"zero"``: 0.

    Returns a tensor of the input's shape and dtype (integer dtypes are rounded).
    """
    cipher_t = as_images(cipher)
    single_dim = cipher.dim() if isinstance(cipher, torch.Tensor) else np.asarray(cipher).ndim
    n, c, h, w = cipher_t.shape
    p = h * w
    est = torch.as_tensor(estimated_map).long().reshape(-1)
    if est.numel() != p:
        raise InputError(f"map has {est.numel()} entries for {h}x{w} images")
    if fill not in ("cipher", "neighbours", "zero"):
        raise InputError(f"unknown fill {fill!r}; use cipher, neighbours or zero")
    y = cipher_t.reshape(n, c, p).double()
    out = y.clone() if fill == "cipher" else torch.zeros_like(y)
    known_out = torch.nonzero(est >= 0).flatten()
    srcs = est[known_out]
    out[:, :, srcs] = y[:, :, known_out]
    known = torch.zeros(p, dtype=torch.bool)
    known[srcs] = True
    if fill == "neighbours" and not bool(known.all()) and bool(known.any()):
        img = out.reshape(n, c, h, w)
        mask = known.reshape(1, 1, h, w).double()
        kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        kernel = kernel.reshape(1, 1, 3, 3)
        for _ in range(h + w):
            if bool(mask.all()):
                break
            num = F.conv2d((img * mask).reshape(n * c, 1, h, w), kernel, padding=1).reshape(n, c, h, w)
            den = F.conv2d(mask, kernel, padding=1)
            grow = (den > 0) & (mask == 0)
            img = torch.where(grow, num / den.clamp(min=1), img)
            mask = torch.where(grow, torch.ones_like(mask), mask)
        leftover = (mask == 0).reshape(1, 1, h, w)
        img = torch.where(leftover, cipher_t.double(), img)
        out = img.reshape(n, c, p)
    result = out.reshape(n, c, h, w)
    if not cipher_t.dtype.is_floating_point:
        info = torch.iinfo(cipher_t.dtype)
        result = result.round().clamp(info.min, info.max)
    result = result.to(cipher_t.dtype)
    return result[:, 0] if single_dim == 3 else result


# --------------------------------------------------------------------------- ciphertext only

def position_stats(images) -> dict:
    """Per-position statistics of a batch (N, C, H, W): mean and std (C, P), centred data (C, N, P)."""
    x = as_images(images).double() / (255.0 if not torch.as_tensor(images).dtype.is_floating_point else 1.0)
    n, c, h, w = x.shape
    x = x.reshape(n, c, h * w).permute(1, 0, 2)  # (C, N, P)
    mean = x.mean(dim=1)
    std = x.std(dim=1)
    return {"mean": mean, "std": std, "centred": x - mean[:, None, :]}


def _correlation(stats: dict) -> torch.Tensor:
    """(C, P, P) Pearson correlation between positions; 0 where a position never varies."""
    xc, std = stats["centred"], stats["std"]
    n = xc.shape[1]
    cov = xc.transpose(1, 2) @ xc / max(n - 1, 1)
    denom = std[:, :, None] * std[:, None, :]
    return torch.where(denom > 1e-12, cov / denom.clamp(min=1e-12), torch.zeros_like(cov))


def ciphertext_only_map(cipher_images, public_plain_images, iterations: int = 30,
                        weight: float = 0.3, locality: float = 0.0) -> torch.Tensor:
    """Estimate a fixed map from cipher images alone, given public plain images of the same kind.

    1. Per-position statistics (mean and std per channel) of the cipher images are matched to those of
       the public images by one assignment (``linear_sum_assignment`` on the squared distance).
    2. Refinement by the correlation structure: the cipher correlation matrix is the plain one with
       rows and columns moved by the map, Cc[o, o'] = Cp[g(o), g(o')]. Given the current estimate pi,
       score S[o, s] = sum_o' Cc[o, o'] Cp[pi(o'), s] (the gradient of the graph-matching objective)
       and re-assign by ``linear_sum_assignment`` on ``S - weight * statistics cost``, until the map
       stops changing or ``iterations`` is reached. The best map by the matching objective is kept.

    ``locality`` > 0 adds ``locality * distance(o, s) / diagonal`` to the statistics cost: the prior of
    an attacker who knows the transform moves pixels locally (RVT: most pixels stay in place or move
    within a disk); 0 (default) is the generic attack.

    Returns a complete (P,) map (a permutation; in authors' RVT mode the true map is not one, so
    duplicated outputs are necessarily partly wrong).
    """
    from scipy.optimize import linear_sum_assignment

    cs, ps = position_stats(cipher_images), position_stats(public_plain_images)
    if cs["mean"].shape != ps["mean"].shape:
        raise InputError("cipher and public images must have the same channels and size")
    feat_c = torch.cat([cs["mean"], cs["std"]], dim=0).T  # (P, 2C)
    feat_p = torch.cat([ps["mean"], ps["std"]], dim=0).T
    stat_cost = torch.cdist(feat_c, feat_p) ** 2
    stat_cost = stat_cost / stat_cost.mean().clamp(min=1e-12)
    if locality:
        h, w = as_images(cipher_images).shape[-2:]
        dist = _distance_matrix(h, w)
        stat_cost = stat_cost + locality * dist / dist.max()

    def assign(cost: torch.Tensor) -> torch.Tensor:
        rows, cols = linear_sum_assignment(cost.numpy())
        out = torch.empty(cost.shape[0], dtype=torch.long)
        out[torch.from_numpy(rows)] = torch.from_numpy(cols).long()
        return out

    pi = assign(stat_cost)
    cc, cp = _correlation(cs), _correlation(ps)

    def objective(m: torch.Tensor) -> float:
        # sum_c sum_{o,o'} Cc[o,o'] Cp[m(o), m(o')], minus the statistics cost of m
        quad = sum(float((cc[i] * cp[i][m][:, m]).sum()) for i in range(cc.shape[0]))
        return quad / cc.shape[-1] - weight * float(stat_cost[torch.arange(m.numel()), m].sum())

    best, best_obj = pi, objective(pi)
    for _ in range(iterations):
        score = sum(cc[i] @ cp[i][pi] for i in range(cc.shape[0])) / cc.shape[-1]
        new = assign(-(2.0 * score) + weight * stat_cost)
        obj = objective(new)
        if obj > best_obj:
            best, best_obj = new, obj
        if torch.equal(new, pi):
            break
        pi = new
    return best


def map_accuracy(estimate: torch.Tensor, true_map: torch.Tensor) -> dict:
    """Fractions of outputs identified (estimate == truth) and of sources placed correctly."""
    estimate, true_map = estimate.long().reshape(-1), true_map.long().reshape(-1)
    p = true_map.numel()
    correct = estimate == true_map
    placed = torch.zeros(p, dtype=torch.bool)
    placed[true_map[correct]] = True
    held = torch.zeros(p, dtype=torch.bool)
    held[true_map] = True
    return {
        "outputs_correct": float(correct.double().mean()),
        "sources_placed": float(placed.double().mean()),
        "sources_placeable": float(held.double().mean()),
        "wrong_claims": int(((estimate >= 0) & ~correct).sum()),
    }
