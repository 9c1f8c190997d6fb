"""Networks, from torchvision and timm (never hand-written): a registry (``register_model``, in the manner of
timm's) and ``build_model(name, ...)``, what conf/model/*.yaml instantiate.

- ``resnet``: ResNet-18. At width 1 it is torchvision's ``resnet18`` as the authors used it; for inputs of
  at most 64 pixels (28/32) the stem becomes one 3x3 stride-1 convolution and the max-pool is dropped,
  at 224 the ImageNet stem is kept (its first convolution re-made for the dataset's channels).
  ``stem_stride=2`` halves the small-image stem's resolution (the quick recipes: a 14x14 / 16x16 first
  stage costs a third of the 28x28 one on a CPU and loses little on these images).
  ``stem_patch=B`` makes the stem a B x B stride-B convolution (patchify, as a ViT's patch embedding):
  the CNN counterpart of the block-wise experiments (docs/blockwise.md).
  ``width`` < 1 (the quick experiment) builds the same layout with fewer channels from timm's ResNet
  class (torchvision has no width option), with the same stem rule.
- ``vit``: a small ViT for 28/32 inputs, timm ``vit_tiny_patch16_224`` re-made at the image size with
  4x4 patches (depth/width overridable through ``kwargs``).
- ``vit_b16``: ViT-B/16 at 224 (the paper's), timm ``vit_base_patch16_224``. ``pretrained`` loads
  ImageNet weights through timm (the patch embedding is adapted to the channels by timm, the head is
  re-initialised for the classes); off by default since weights cannot be downloaded everywhere.
  ``pretrained_file`` points timm at a local weights file instead.
- ``mlp``: a fully connected network on the flattened image (torchvision's ``ops.MLP``), blind to the
  order of pixels: any fixed permutation of the input is absorbed by its first layer, so it is the
  order-agnostic control of the information study (``hidden``: the widths of its hidden layers).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from torch import nn

from rvt.errors import RVTError

SMALL_INPUT = 64  # inputs up to this side get the small-image stem


def _resnet_stem(model: nn.Module, in_chans: int, img_size: int, stem_stride: int = 1,
                 stem_patch: int | None = None) -> nn.Module:
    out = model.bn1.num_features
    if stem_patch:  # patchify: one linear map per B x B block (docs/blockwise.md: absorbs in-block keys)
        if img_size % stem_patch:
            raise RVTError(f"model.stem_patch={stem_patch} does not divide the image size {img_size}")
        model.conv1 = nn.Conv2d(in_chans, out, kernel_size=stem_patch, stride=stem_patch, bias=False)
        model.maxpool = nn.Identity()
    elif img_size <= SMALL_INPUT:
        model.conv1 = nn.Conv2d(in_chans, out, kernel_size=3, stride=stem_stride, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(in_chans, out, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def _resnet18(in_chans: int, num_classes: int, img_size: int, pretrained: bool, width: float,
              stem_stride: int = 1, stem_patch: int | None = None) -> nn.Module:
    if stem_stride != 1 and img_size > SMALL_INPUT:
        raise RVTError(f"model.stem_stride applies to the small-image stem (inputs <= {SMALL_INPUT} px), "
                       f"not to {img_size} px inputs")
    if width == 1.0:
        import torchvision

        weights = None
        if pretrained:
            weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
        model = torchvision.models.resnet18(weights=weights)
        if num_classes != model.fc.out_features:
            model.fc = nn.Linear(model.fc.in_features, num_classes)
        if img_size <= SMALL_INPUT or in_chans != 3 or stem_patch:
            model = _resnet_stem(model, in_chans, img_size, stem_stride, stem_patch)
        return model
    if pretrained:
        raise RVTError("model.pretrained needs model.width=1 (no pretrained weights for narrow ResNets)")
    from timm.models.resnet import BasicBlock, ResNet

    channels = tuple(max(4, int(round(c * width))) for c in (64, 128, 256, 512))
    # a 'deep' stem of width c0/2 gives the stages c0 input channels; it is then replaced by our stem
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, in_chans=in_chans, channels=channels,
                   stem_type="deep", stem_width=channels[0] // 2, zero_init_last=False)
    return _resnet_stem(model, in_chans, img_size, stem_stride, stem_patch)


def _timm(arch: str, pretrained: bool, pretrained_file: str | None, **kwargs) -> nn.Module:
    import timm

    extra = {}
    if pretrained_file:
        extra["pretrained_cfg_overlay"] = dict(file=str(pretrained_file))
    try:
        return timm.create_model(arch, pretrained=pretrained, **extra, **kwargs)
    except (OSError, RuntimeError, ValueError) as e:
        if not pretrained:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RVTError(
            f"could not load pretrained weights for {arch} ({first}); put them in the Hugging Face cache, "
            f"give model.pretrained_file=/path/to/weights, or train from scratch with model.pretrained=false"
        ) from None


@dataclass(frozen=True)
class ModelSpec:
    """A registered network: its builder and what reports call it."""

    name: str
    builder: Callable[..., nn.Module]
    display: str
    #: the architecture family: a report compares like with like ("cnn", "vit", "mlp")
    family: str


_MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, *, display: str, family: str):
    """Decorator (timm's ``register_model``): ``builder(in_chans, num_classes, img_size, **settings)``
    becomes ``model=<name>`` (with one conf/model/<name>.yaml)."""
    def decorate(builder):
        _MODELS[name] = ModelSpec(name, builder, display, family)
        return builder
    return decorate


def list_models() -> list[str]:
    return list(_MODELS)


def model_spec(name: str) -> ModelSpec:
    if name not in _MODELS:
        raise RVTError(f"unknown model {name!r}; use one of {', '.join(_MODELS)}")
    return _MODELS[name]


def build_model(name: str, in_chans: int, num_classes: int, img_size: int, **settings) -> nn.Module:
    """A classifier for ``in_chans`` x ``img_size`` x ``img_size`` images and ``num_classes`` classes: the
    builder registered as ``name``, with the settings of its conf/model yaml (one ``create_*`` per axis).
    Smaller variants (the quick experiment's) are plain config overrides, not presets resolved here."""
    builder = model_spec(name).builder
    takes = list(inspect.signature(builder).parameters)[3:]
    unknown = sorted(set(settings) - set(takes))
    if unknown:
        raise RVTError(f"model {name} has no setting {', '.join(unknown)} (it takes {', '.join(takes)})")
    return builder(int(in_chans), int(num_classes), int(img_size), **settings)


@register_model("resnet", display="ResNet-18", family="cnn")
def _build_resnet(in_chans: int, num_classes: int, img_size: int, pretrained: bool = False, width: float = 1.0,
                  stem_stride: int = 1, stem_patch: int | None = None, pretrained_file: str | None = None,
                  kwargs: dict | None = None) -> nn.Module:
    if kwargs:
        raise RVTError(f"model resnet takes no kwargs, got {sorted(kwargs)}")
    if pretrained_file:
        raise RVTError("model resnet loads torchvision's weights (model.pretrained=true), not a file")
    return _resnet18(in_chans, num_classes, img_size, pretrained, float(width), int(stem_stride),
                     int(stem_patch) if stem_patch else None)


def _vit(name: str, default_arch: str, default_patch: int):
    def build(in_chans: int, num_classes: int, img_size: int, pretrained: bool = False, arch: str | None = None,
              patch_size: int | None = None, pretrained_file: str | None = None, kwargs: dict | None = None) -> nn.Module:
        patch = int(patch_size or default_patch)
        if img_size % patch:
            raise RVTError(f"model {name}: image size {img_size} is not a multiple of the patch size {patch}")
        return _timm(arch or default_arch, pretrained, pretrained_file, img_size=img_size, patch_size=patch,
                     in_chans=in_chans, num_classes=num_classes, **dict(kwargs or {}))
    return build


register_model("vit", display="ViT", family="vit")(_vit("vit", "vit_tiny_patch16_224", 4))
register_model("vit_b16", display="ViT-B/16", family="vit")(_vit("vit_b16", "vit_base_patch16_224", 16))


@register_model("mlp", display="MLP", family="mlp")
def _build_mlp(in_chans: int, num_classes: int, img_size: int, hidden: list | tuple = (), dropout: float = 0.0,
               pretrained: bool = False, pretrained_file: str | None = None) -> nn.Module:
    import torchvision

    if pretrained or pretrained_file:
        raise RVTError("model mlp has no pretrained weights")
    widths = [int(h) for h in hidden] + [int(num_classes)]
    if any(h < 1 for h in widths):
        raise RVTError(f"model.hidden takes positive widths, got {list(hidden)}")
    return nn.Sequential(nn.Flatten(), torchvision.ops.MLP(in_chans * img_size * img_size, widths,
                                                           dropout=float(dropout)))


MODELS = tuple(_MODELS)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["build_model", "count_parameters", "list_models", "model_spec", "register_model", "MODELS"]
