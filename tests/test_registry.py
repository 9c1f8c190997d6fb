"""The transform registry: a toy transform registered in the test reaches the `rvt` command (--transform),
`rvt info`, `rvt bench` and training (tests/test_registry_experiments.py: the experiment scripts); bad
registrations and arguments are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rvt
from rvt import cli
from rvt.errors import InputError
from rvt.registry import spec_for_run, transform_spec, unregister_transform


class ToyFlip(rvt.PositionTransform):
    """Mirror every image left to right (a toy keyed transform: ``shift`` rolls the rows too)."""

    def __init__(self, shift: int = 0):
        super().__init__()
        self.shift = int(shift)

    def _build_index(self, h, w):
        grid = torch.arange(h * w).view(h, w).flip(1).roll(self.shift, 0)
        return grid.reshape(-1)

    def extra_repr(self):
        return f"shift={self.shift}"


@pytest.fixture
def toy():
    rvt.register_transform("toy_flip", label="toy-flip")(ToyFlip)
    try:
        yield "toy_flip"
    finally:
        unregister_transform("toy_flip")


def test_builtin_registry_in_table_order():
    assert rvt.list_transforms() == ["none", "rvt", "rvt_bijective", "permutation", "block", "blockwise", "random"]
    assert transform_spec("rvt_bijective").create(key="authors:mnist").mode == "bijective"
    assert spec_for_run("rvt", {"mode": "bijective"}).label == "rvt-bijective"
    assert spec_for_run("rvt", {"mode": "authors"}).label == "rvt-authors"
    assert spec_for_run("nothing", {}) is None


def test_registry_errors():
    with pytest.raises(InputError, match="unknown transform 'spiral'"):
        rvt.create_transform("spiral")
    with pytest.raises(InputError, match="has no parameter colour"):
        rvt.create_transform("permutation", colour=3)
    with pytest.raises(InputError, match="needs key"):
        rvt.create_transform("rvt")
    with pytest.raises(ValueError, match="already registered"):
        rvt.register_transform("rvt")(ToyFlip)


def run(*args) -> int:
    return cli.main([str(a) for a in args])


def test_toy_transform_reaches_the_cli_info_and_bench(toy, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, (5, 6, 8), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert run("encrypt", "--transform", toy, "--param", "shift=1", tmp_path / "x.npy", tmp_path / "e.npy") == 0
    assert np.array_equal(np.load(tmp_path / "e.npy"), np.roll(x[:, :, ::-1], 1, axis=1))
    assert run("decrypt", "--transform", toy, "--param", "shift=1", tmp_path / "e.npy", tmp_path / "d.npy") == 0
    assert np.array_equal(np.load(tmp_path / "d.npy"), x)
    # an option the toy does not take is refused, not ignored
    assert run("encrypt", "--transform", toy, "--key", "authors:mnist", tmp_path / "x.npy", tmp_path / "f.npy") == 2
    assert "--key is for --transform rvt / rvt_bijective / blockwise, not toy_flip" in capsys.readouterr().err
    assert not (tmp_path / "f.npy").exists()

    assert run("info", "--transform", toy, tmp_path / "x.npy") == 0
    out = capsys.readouterr().out
    assert "transform toy_flip: shift=0" in out and "loss rate" in out

    assert run("bench", "--quick", "--repeats", "1", "--only", "transforms", "--transforms", toy) == 0
    out = capsys.readouterr().out
    assert out.count("toy_flip (shift=0)") == 4  # forward and inverse, MNIST- and CIFAR-sized


def test_toy_transform_reaches_training(toy, tmp_path):
    from rvt.training import run as train_script
    from test_train import make_cfg

    cfg = make_cfg(["transform=none", f"transform.name={toy}", "+transform.shift=2"], tmp_path)
    transform = train_script.build_transform(cfg.transform)
    assert isinstance(transform, ToyFlip) and transform.shift == 2


def test_keys_without_an_active_vortex_are_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    assert run("encrypt", "--key", "authors:mnist:0", tmp_path / "x.npy", tmp_path / "e.npy") == 2
    err = capsys.readouterr().err
    assert "no active vortex" in err and err.count("\n") == 1 and not (tmp_path / "e.npy").exists()
    assert run("encrypt", "--key", "authors:mnist:0", "--allow-identity", tmp_path / "x.npy", tmp_path / "e.npy") == 0
    with pytest.raises(rvt.KeyFormatError, match="no active vortex"):
        rvt.create_transform("rvt", key="authors:mnist:0", allow_identity=False)
    assert rvt.RVT("authors:mnist:0").key.vortices == ()  # the Python API keeps accepting it
