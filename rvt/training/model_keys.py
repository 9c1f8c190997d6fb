"""Keys applied to the model: a network for plain images made into one for block-wise encrypted images
(rvt.transforms.blockwise) without retraining (docs/blockwise.md).

A patch embedding (a convolution whose kernel equals its stride B, timm's ``patch_embed.proj``) is a
linear map of each block's normalised values q: token = W q + b. The encryption turns a block's values
into q' = a * q[shuffle] + e (a: +-1 for negative-positive, times a ratio of channel stds where channel
shuffling moves a value to a channel with other normalisation constants; e: the matching offsets), so
W'[:, k] = W[:, shuffle[k]] / a[k] and b' = b - W' e give every block the same token as before. Block
scrambling reorders the tokens; a ViT's only positional signal is its absolute position embedding, so
permuting its rows (prefix tokens' rows stay) gives the same output.

- :func:`adapt_vit`: a timm VisionTransformer with patch size B -> the model for encrypted images
  (exact: same logits to float rounding).
- :func:`adapt_patch_stem`: the same for a CNN whose stem is a B x B stride-B convolution; only the in-block
  steps are absorbed (block scrambling changes which blocks are neighbours for later convolutions).

When the normalisation is x / 127.5 - 1 on every channel, a is +-1 and e = 0: the adaptation is a signed
permutation, which commutes with SGD, AdamW and weight decay, so training from the adapted initialisation
on encrypted images follows the plain training step for step (tests/test_blockwise.py).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from rvt.errors import InputError
from rvt.transforms.blockwise import Blockwise, BlockwiseKey


def _key_of(key_or_transform, channels: int, h: int, w: int) -> BlockwiseKey:
    if isinstance(key_or_transform, Blockwise):
        return key_or_transform.key_for(channels, h, w)
    if isinstance(key_or_transform, BlockwiseKey):
        return key_or_transform
    raise InputError(f"expected a Blockwise transform or a BlockwiseKey, got {type(key_or_transform).__name__}")


def value_affine(key: BlockwiseKey, mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, e), each (C*B*B,) float64: encrypted normalised value k = a[k] * plain value shuffle[k] + e[k]."""
    c, bb = key.channels, key.block * key.block
    m = torch.as_tensor(mean, dtype=torch.float64).expand(c)
    s = torch.as_tensor(std, dtype=torch.float64).expand(c)
    src = torch.tensor(key.shuffle)
    ch_out, ch_src = torch.arange(c * bb) // bb, src // bb
    inverted = torch.zeros(c * bb, dtype=torch.bool) if key.negpos is None else torch.tensor(key.negpos, dtype=torch.bool)
    ratio = s[ch_src] / s[ch_out]
    a = torch.where(inverted, -ratio, ratio)
    e = torch.where(inverted, 1 - m[ch_out] - m[ch_src], m[ch_src] - m[ch_out]) / s[ch_out]
    return a, e


@torch.no_grad()
def adapt_patch_weights(weight: torch.Tensor, bias: torch.Tensor | None, key: BlockwiseKey,
                        mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W', b') of a B x B stride-B convolution for encrypted blocks (module docstring)."""
    d = weight.shape[0]
    if tuple(weight.shape[1:]) != (key.channels, key.block, key.block):
        raise InputError(f"a patch embedding of shape {tuple(weight.shape)} does not fit the key {key.label} "
                         f"(needs {key.channels} channels and {key.block}x{key.block} patches)")
    a, e = value_affine(key, mean, std)
    flat = weight.reshape(d, -1).to(torch.float64)
    w_new = flat[:, list(key.shuffle)] / a
    offset = w_new @ e
    new_bias = None
    if bias is not None or torch.any(offset != 0):
        base = bias.to(torch.float64) if bias is not None else torch.zeros(d, dtype=torch.float64)
        new_bias = (base - offset).to(weight.dtype)
    return w_new.to(weight.dtype).reshape(weight.shape), new_bias


def _check_stem(conv: nn.Conv2d, key: BlockwiseKey) -> None:
    b = key.block
    if tuple(conv.kernel_size) != (b, b) or tuple(conv.stride) != (b, b) or tuple(conv.padding) != (0, 0):
        raise InputError(f"the key's block is {b}: the patch embedding must be a {b}x{b} convolution with stride "
                         f"{b} and no padding, got kernel {tuple(conv.kernel_size)}, stride {tuple(conv.stride)}")


@torch.no_grad()
def adapt_vit(model: nn.Module, key_or_transform, mean: Sequence[float], std: Sequence[float]) -> nn.Module:
    """A copy of timm ViT ``model`` that gives, on block-wise encrypted images, the logits ``model`` gives
    on the plain ones. ``mean``/``std``: the per-channel normalisation of the input (in [0, 1] units)."""
    if not hasattr(model, "patch_embed") or not hasattr(model, "pos_embed"):
        raise InputError(f"adapt_vit needs a timm VisionTransformer, got {type(model).__name__}")
    proj = model.patch_embed.proj
    h, w = model.patch_embed.img_size
    key = _key_of(key_or_transform, proj.in_channels, h, w)
    if (key.height, key.width) != (h, w):
        raise InputError(f"the key {key.label} is for {key.height}x{key.width} images, the model for {h}x{w}")
    _check_stem(proj, key)
    out = copy.deepcopy(model)
    weight, bias = adapt_patch_weights(proj.weight, proj.bias, key, mean, std)
    out.patch_embed.proj.weight.copy_(weight)
    if bias is not None:
        if out.patch_embed.proj.bias is None:
            raise InputError("the key inverts values (negpos) with non-centred normalisation: the patch embedding "
                             "needs a bias")
        out.patch_embed.proj.bias.copy_(bias)
    prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
    order = torch.tensor(key.scramble, device=model.pos_embed.device)
    out.pos_embed[:, prefix:] = model.pos_embed[:, prefix:][:, order]
    return out


@torch.no_grad()
def adapt_patch_stem(model: nn.Module, key_or_transform, mean: Sequence[float], std: Sequence[float],
                     stem: str = "conv1") -> nn.Module:
    """A copy of a CNN whose stem ``model.<stem>`` is a B x B stride-B convolution, adapted to the key's
    in-block steps. Block scrambling is refused: a CNN's later layers see which blocks are neighbours."""
    conv = getattr(model, stem)
    if not isinstance(conv, nn.Conv2d):
        raise InputError(f"model.{stem} is not a convolution")
    if isinstance(key_or_transform, BlockwiseKey):
        key = key_or_transform
    else:
        raise InputError("adapt_patch_stem needs the BlockwiseKey of the image size (transform.key_for(c, h, w))")
    if list(key.scramble) != sorted(key.scramble):
        raise InputError("a CNN cannot absorb block scrambling; use a key without it (scramble=false)")
    _check_stem(conv, key)
    out = copy.deepcopy(model)
    weight, bias = adapt_patch_weights(conv.weight, conv.bias, key, mean, std)
    getattr(out, stem).weight.copy_(weight)
    if bias is not None:
        if getattr(out, stem).bias is None:
            raise InputError("the key needs a bias in the stem (non-centred normalisation): use mean 0.5, std 0.5")
        getattr(out, stem).bias.copy_(bias)
    return out


def adapt(model: nn.Module, transform, mean: Sequence[float], std: Sequence[float], channels: int,
          img_size: int) -> nn.Module:
    """``adapt_vit`` for a timm ViT, ``adapt_patch_stem`` for a CNN with a patchify ``conv1``."""
    if not isinstance(transform, Blockwise):
        raise InputError(f"adapt_init needs transform=blockwise, got {type(transform).__name__}")
    if hasattr(model, "patch_embed"):
        return adapt_vit(model, transform, mean, std)
    return adapt_patch_stem(model, transform.key_for(channels, img_size, img_size), mean, std)


__all__ = ["adapt", "adapt_patch_stem", "adapt_patch_weights", "adapt_vit", "value_affine"]
