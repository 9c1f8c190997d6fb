"""`rvt info`: the information measure on the command line (statistics of the loss rate, one-line errors)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

import rvt
from rvt.errors import InputError, RVTError
from rvt.information import information_loss

def _parser():
    from rvt.cli.info import register

    parser = argparse.ArgumentParser(prog="rvt")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_rvt_info_cli(tmp_path, capsys, mnist_test):
    path = tmp_path / "mnist.npy"
    np.save(path, mnist_test[0][:50])
    args = _parser().parse_args(["info", "--key", "authors:mnist", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "50 images 28x28x1" in out and "authors:mnist" in out
    row = next(line for line in out.splitlines() if line.startswith("loss rate"))
    mean = float(row.split()[2])
    x = torch.from_numpy(mnist_test[0][:50])[:, None]
    assert mean == pytest.approx(information_loss(x, rvt.RVT("authors:mnist")).mean().item(), abs=1e-4)
    for extra in (["--transform", "random"], ["--transform", "block", "--kernel", "power"],
                  ["--transform", "permutation", "--limit", "5"], ["--transform", "none"]):
        args = _parser().parse_args(["info", *extra, str(path)])
        assert args.func(args) == 0
    assert "5 images" in capsys.readouterr().out
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.random.default_rng(0).integers(0, 256, (3, 8, 8, 4), dtype=np.uint8))
    args = _parser().parse_args(["info", "--transform", "random", "--channels", "mean", str(rgb)])
    assert args.func(args) == 0
    assert "8x8x3" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--transform", "rvt"], "needs --key"),
    (["--key", "authors:cifar10"], "32x32"),
    (["--transform", "random", "--key", "authors:mnist"], "--key is for"),
    (["--transform", "block", "--block", "5"], "divisible"),
    (["--transform", "none", "--scale", "0"], "positive"),
    (["--transform", "none", "--limit", "0"], "--limit"),
])
def test_rvt_info_cli_errors(tmp_path, argv, match):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 28, 28), dtype=np.uint8))
    args = _parser().parse_args(["info", *argv, str(path)])
    with pytest.raises(RVTError, match=match):
        args.func(args)


def test_rvt_info_missing_input(tmp_path):
    args = _parser().parse_args(["info", str(tmp_path / "nope.npy")])
    with pytest.raises(InputError, match="not found"):
        args.func(args)
