"""Attacks on block-wise encryption (rvt.transforms.blockwise): what one key shared by every block and
every image gives away. The attacker knows the algorithm and the block size, not the key.

- known plaintext (:func:`blockwise_known_plaintext`): K plain/cipher pairs. A block's multiset of
  values survives the in-block shuffle (and, taken as min(v, 255 - v), negative-positive), so blocks are
  matched first; every matched block pair is then a sample of the one in-block permutation, so the
  shuffle is pinned down by far fewer images than a general position map needs.
- ciphertext only, statistics (:func:`blockwise_statistics_attack`): cipher images of one key and public
  plain images of the same kind. Per block location, the mean of the sorted canonical values is blind to
  the shuffle: an assignment of cipher blocks to locations; then per in-block index the profile of mean
  values across locations: an assignment of in-block indices; the negative-positive bit from the means.
- ciphertext only, jigsaw (:func:`jigsaw_block_order`): block order from edge compatibility (right edge of
  a against left edge of b, bottom against top), pooled over many cipher images of one key, placed by a
  greedy raster solver; needs intact blocks (block scrambling alone, or after the in-block shuffle is
  undone).

Every estimate is a key (:class:`~rvt.transforms.blockwise.BlockwiseKey` entries, -1 where unknown);
:func:`decrypt_with_estimate` applies it as the key holder would.
"""

from __future__ import annotations

import torch

from rvt.errors import InputError
from rvt.security.attacks import as_images
from rvt.transforms.blockwise import from_blocks, to_blocks

__all__ = ["blockwise_known_plaintext", "blockwise_statistics_attack",
           "jigsaw_block_order", "decrypt_with_estimate", "complete_permutation"]


def _canonical(x: torch.Tensor) -> torch.Tensor:
    """min(v, 255 - v): the same for a value and its negative-positive inverse."""
    return torch.minimum(x, 255 - x)


def _unique_matches(source_patterns: torch.Tensor, output_patterns: torch.Tensor) -> torch.Tensor:
    """For each output row, the one source row with an equal pattern, else -1 (none or several)."""
    n_src = source_patterns.shape[0]
    _, ids = torch.unique(torch.cat([source_patterns, output_patterns]).contiguous(), dim=0, return_inverse=True)
    src_ids, out_ids = ids[:n_src], ids[n_src:]
    per_class = torch.bincount(src_ids, minlength=int(ids.max()) + 1)
    only = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
    only[src_ids] = torch.arange(n_src)
    return torch.where(per_class[out_ids] == 1, only[out_ids], torch.full_like(out_ids, -1))


def blockwise_known_plaintext(plain, cipher, block: int) -> dict:
    """The key from K plain/cipher pairs: ``scramble``, ``shuffle`` (-1 where not pinned down) and
    ``negpos`` (1/0, -1 unknown), each a LongTensor in the key's layout."""
    plain, cipher = as_images(plain), as_images(cipher)
    if plain.shape != cipher.shape:
        raise InputError(f"plain {tuple(plain.shape)} and cipher {tuple(cipher.shape)} shapes differ")
    pb, cb = to_blocks(plain, block).long(), to_blocks(cipher, block).long()
    k, m, v = pb.shape
    # 1. blocks: the sorted canonical values of a block in every pair
    sig_p = torch.sort(_canonical(pb), dim=2).values.permute(1, 0, 2).reshape(m, k * v)
    sig_c = torch.sort(_canonical(cb), dim=2).values.permute(1, 0, 2).reshape(m, k * v)
    scramble = _unique_matches(sig_p, sig_c)
    shuffle = torch.full((v,), -1, dtype=torch.long)
    negpos = torch.full((v,), -1, dtype=torch.long)
    known = torch.nonzero(scramble >= 0).flatten()
    if known.numel():
        # 2. in-block indices: canonical values over every matched block pair and image
        src = _canonical(pb[:, scramble[known]]).permute(2, 0, 1).reshape(v, -1)
        out = _canonical(cb[:, known]).permute(2, 0, 1).reshape(v, -1)
        shuffle = _unique_matches(src, out)
        ok = shuffle >= 0
        if ok.any():
            p_vals = pb[:, scramble[known]][:, :, shuffle[ok]]
            c_vals = cb[:, known][:, :, ok]
            negpos[ok] = (c_vals != p_vals).flatten(0, 1).any(dim=0).long()
    return {"scramble": scramble, "shuffle": shuffle, "negpos": negpos}


def _assign(cost: torch.Tensor) -> torch.Tensor:
    """rows -> columns minimising the total cost (scipy's linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost.double().numpy())
    out = torch.empty(cost.shape[0], dtype=torch.long)
    out[torch.from_numpy(rows)] = torch.from_numpy(cols).long()
    return out


def blockwise_statistics_attack(cipher_images, public_plain, block: int) -> dict:
    """The key estimated from cipher images alone plus public plain images of the same kind (module
    docstring); a complete estimate (no -1)."""
    cb = to_blocks(as_images(cipher_images), block).double()
    pb = to_blocks(as_images(public_plain), block).double()
    # block order: the shuffle-blind signature of each location (mean sorted canonical values)
    sig_c = torch.sort(_canonical(cb), dim=2).values.mean(0)
    sig_p = torch.sort(_canonical(pb), dim=2).values.mean(0)
    scramble = _assign(torch.cdist(sig_c, sig_p))  # cipher block j <- plain location scramble[j]
    # in-block order: the profile of each in-block index across locations (canonical means)
    prof_c = _canonical(cb).mean(0).T  # (V, M), cipher locations j
    prof_p = _canonical(pb).mean(0)[scramble].T  # (V, M), the matched plain locations
    shuffle = _assign(torch.cdist(prof_c, prof_p))
    # negative-positive: is the raw mean nearer to the plain mean or to its inverse?
    raw_c = cb.mean(0)  # (M, V)
    raw_p = pb.mean(0)[scramble][:, shuffle]
    kept = (raw_c - raw_p).abs().mean(0)
    inverted = (raw_c - (255 - raw_p)).abs().mean(0)
    return {"scramble": scramble, "shuffle": shuffle, "negpos": (inverted < kept).long()}


def _edges(blocks: torch.Tensor, c: int, block: int) -> tuple[torch.Tensor, ...]:
    b = blocks.reshape(*blocks.shape[:2], c, block, block).double()
    return b[..., :, -1], b[..., :, 0], b[..., -1, :], b[..., 0, :]  # right, left, bottom, top: (N, M, C, B)


def jigsaw_block_order(cipher_images, block: int) -> torch.Tensor:
    """Block order of intact blocks by edge compatibility, pooled over every image (one key): a complete
    ``scramble`` estimate (cipher block at location j <- plain location scramble[j] is returned as its
    inverse: for each plain location, which cipher block goes there)."""
    x = as_images(cipher_images)
    n, c, h, w = x.shape
    gh, gw = h // block, w // block
    blocks = to_blocks(x, block)
    right, left, bottom, top = _edges(blocks, c, block)
    m = gh * gw
    # mean squared difference of the touching edges, pooled over images: (M, M)
    horiz = torch.zeros(m, m, dtype=torch.float64)
    vert = torch.zeros(m, m, dtype=torch.float64)
    for i in range(0, n, 256):  # chunks of images bound the memory (n * M * M * C * B values)
        r, l_, bo, t = right[i:i + 256], left[i:i + 256], bottom[i:i + 256], top[i:i + 256]
        horiz += ((r[:, :, None] - l_[:, None, :]) ** 2).mean(dim=(3, 4)).sum(0)
        vert += ((bo[:, :, None] - t[:, None, :]) ** 2).mean(dim=(3, 4)).sum(0)
    horiz /= n
    vert /= n
    big = float(max(horiz.max(), vert.max())) * 10 + 1
    horiz.fill_diagonal_(big)
    vert.fill_diagonal_(big)
    best_cost, placed = float("inf"), None
    for start in range(m):  # every block as the top-left one; keep the arrangement whose edges fit best
        order, total = _raster(horiz, vert, start, gh, gw)
        if total < best_cost:
            best_cost, placed = total, order
    # scramble[j] = the plain location of cipher block j
    scramble = torch.empty(m, dtype=torch.long)
    scramble[placed] = torch.arange(m)
    return scramble


def _raster(horiz: torch.Tensor, vert: torch.Tensor, start: int, gh: int, gw: int) -> tuple[torch.Tensor, float]:
    """Greedy raster placement from a top-left block: each location takes the free block that fits its
    left and upper neighbours best. Returns (plain location -> cipher block, total edge cost)."""
    m = gh * gw
    placed = torch.full((m,), -1, dtype=torch.long)
    free = torch.ones(m, dtype=torch.bool)
    placed[0], free[start], total = start, False, 0.0
    for pos in range(1, m):  # over the M locations (a few dozen), not over pixels
        r, c = divmod(pos, gw)
        cost = torch.zeros(m, dtype=torch.float64)
        if c > 0:
            cost += horiz[placed[pos - 1]]
        if r > 0:
            cost += vert[placed[pos - gw]]
        cost[~free] = float("inf")
        choice = int(torch.argmin(cost))
        placed[pos], free[choice] = choice, False
        total += float(cost[choice])
    return placed, total


def complete_permutation(partial: torch.Tensor) -> torch.Tensor:
    """Fill the -1 entries of a partial permutation with the unused values, in order."""
    out = partial.clone()
    used = torch.zeros(out.numel(), dtype=torch.bool)
    used[out[out >= 0]] = True
    out[out < 0] = torch.nonzero(~used).flatten()[: int((out < 0).sum())]
    return out


def decrypt_with_estimate(cipher, estimate: dict, block: int) -> torch.Tensor:
    """The attacker's decryption with an estimated key (unknown entries completed arbitrarily, unknown
    negative-positive bits taken as 0)."""
    x = as_images(cipher)
    n, c, h, w = x.shape
    blocks = to_blocks(x, block)
    negpos = estimate.get("negpos")
    if negpos is not None:
        mask = (negpos == 1)
        blocks = torch.where(mask, 255 - blocks, blocks)
    scramble = complete_permutation(estimate["scramble"])
    shuffle = complete_permutation(estimate["shuffle"])
    plain = torch.empty_like(blocks)
    # cipher block j value k = plain block scramble[j] value shuffle[k]
    plain[:, scramble[:, None], shuffle[None, :]] = blocks
    return from_blocks(plain, c, h, w, block)
