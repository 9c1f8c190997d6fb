"""The model factory: library networks with the stems, channels and classes the datasets need."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rvt.errors import RVTError
from rvt.training.models import build_model, count_parameters


@pytest.mark.parametrize("in_chans,size", [(1, 28), (3, 32)])
def test_resnet_small_stem(in_chans, size):
    m = build_model("resnet", in_chans, 10, size)
    assert isinstance(m.conv1, nn.Conv2d) and m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert m.conv1.in_channels == in_chans
    assert isinstance(m.maxpool, nn.Identity)
    assert m(torch.zeros(2, in_chans, size, size)).shape == (2, 10)
    # torchvision's ResNet-18 (11.2 M parameters with a 1000-way head and the 7x7 stem)
    assert 11_000_000 < count_parameters(m) < 11_300_000


def test_resnet_imagenet_stem_at_224():
    m = build_model("resnet", 1, 10, 224)
    assert m.conv1.kernel_size == (7, 7) and m.conv1.stride == (2, 2) and m.conv1.in_channels == 1
    assert isinstance(m.maxpool, nn.MaxPool2d)
    m3 = build_model("resnet", 3, 10, 224)
    import torchvision

    ref = torchvision.models.resnet18(num_classes=10)
    assert count_parameters(m3) == count_parameters(ref)


def test_resnet_width_of_the_quick_recipe():
    m = build_model("resnet", 1, 10, 28, width=0.25)  # conf/recipe/model/quick_resnet.yaml
    assert m.conv1.out_channels == 16 and m.conv1.stride == (1, 1) and isinstance(m.maxpool, nn.Identity)
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert count_parameters(m) < count_parameters(build_model("resnet", 1, 10, 28)) / 10


@pytest.mark.parametrize("in_chans,size", [(1, 28), (3, 32)])
def test_small_vit(in_chans, size):
    m = build_model("vit", in_chans, 10, size, patch_size=4, kwargs={"depth": 2})
    assert m.patch_embed.proj.kernel_size == (4, 4) and m.patch_embed.proj.in_channels == in_chans
    assert m.patch_embed.num_patches == (size // 4) ** 2
    assert m(torch.zeros(2, in_chans, size, size)).shape == (2, 10)


def test_vit_b16_shape():
    m = build_model("vit_b16", 1, 10, 224, kwargs={"depth": 1})
    assert m.patch_embed.proj.kernel_size == (16, 16) and m.embed_dim == 768
    assert m(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


def test_bad_arguments_are_user_errors():
    with pytest.raises(RVTError, match="unknown model"):
        build_model("alexnet", 1, 10, 28)
    with pytest.raises(RVTError, match="multiple of the patch size"):
        build_model("vit", 1, 10, 30, patch_size=4)
    with pytest.raises(RVTError, match="takes no kwargs"):
        build_model("resnet", 1, 10, 28, kwargs={"depth": 3})


def test_missing_pretrained_file_is_a_user_error(tmp_path):
    with pytest.raises(RVTError, match="pretrained"):
        build_model("vit", 1, 10, 28, pretrained=True, pretrained_file=str(tmp_path / "none.safetensors"),
                    kwargs={"depth": 1})


@pytest.mark.parametrize("width", [1.0, 0.25])
def test_resnet_stride_two_stem(width):
    m = build_model("resnet", 1, 10, 28, width=width, stem_stride=2)
    assert m.conv1.stride == (2, 2) and isinstance(m.maxpool, nn.Identity)
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(RVTError, match="small-image stem"):
        build_model("resnet", 3, 10, 224, stem_stride=2)


def test_channels_last_classifier_gives_the_same_logits():
    from functools import partial

    from rvt.training.lightning_module import ImageClassifier

    torch.manual_seed(0)
    net = build_model("resnet", 3, 10, 32, width=0.25, stem_stride=2).eval()
    x = torch.rand(4, 3, 32, 32)
    expected = net(x)
    clf = ImageClassifier(net, 10, optimizer=partial(torch.optim.SGD, lr=0.1), channels_last=True).eval()
    assert clf.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(clf(x), expected, atol=1e-5)


def test_resnet_patchify_stem():
    m = build_model("resnet", 1, 10, 28, width=0.25, stem_stride=2, stem_patch=7)
    assert m.conv1.kernel_size == (7, 7) and m.conv1.stride == (7, 7) and m.conv1.padding == (0, 0)
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(RVTError, match="does not divide the image size 28"):
        build_model("resnet", 1, 10, 28, stem_patch=8)


def test_compile_falls_back_to_eager_and_keeps_checkpoints_clean(monkeypatch, caplog):
    from functools import partial

    from rvt.training.lightning_module import ImageClassifier

    def broken_compile(module):
        def run(x):
            raise RuntimeError("no backend here")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    net = build_model("resnet", 1, 10, 28, width=0.25).eval()
    clf = ImageClassifier(net, 10, optimizer=partial(torch.optim.SGD, lr=0.1), compile=True).eval()
    assert all(k.startswith("net.") for k in clf.state_dict())  # no second copy of the weights
    x = torch.rand(2, 1, 28, 28)
    with caplog.at_level("WARNING", logger="train"):
        out = clf(x)
    assert torch.allclose(out, net(x)) and "torch.compile failed (RuntimeError: no backend here)" in caplog.text
    assert clf._compiled is None

