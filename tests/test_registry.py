"""The transform registry: a toy transform registered in the test reaches the `rvt` command (--transform),
`rvt info`, `rvt bench` and training (tests/test_registry_experiments.py: the experiment scripts); bad
registrations and arguments are clear errors."""

from __future__ import annotations

import json
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
    from training_helpers import make_cfg

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


PLUGIN = '''
import torch
import rvt


@rvt.register_transform("toy_transpose", label="toy-transpose", order_free=False, family="toy",
                        display="transpose (a toy plugin)")
class ToyTranspose(rvt.PositionTransform):
    """Transpose square images (a toy plugin found through its entry point)."""

    def _build_index(self, h, w):
        return torch.arange(h * w).view(h, w).t().reshape(-1)
'''


def test_a_transform_module_is_found_without_editing_the_package(tmp_path, monkeypatch, capsys):
    """One module + its packaging entry point (group ``rvt.transforms``): the registry imports it, with its
    metadata, and the CLI and the report's metadata see it; no ``rvt/transforms/__init__`` edit."""
    import rvt.registry as registry

    (tmp_path / "toy_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[rvt.transforms]\ntoy_transpose = toy_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_LOADED", False)
    try:
        assert "toy_transpose" in registry.list_transforms()
        spec = transform_spec("toy_transpose")
        assert spec.family == "toy" and spec.display == "transpose (a toy plugin)" and not spec.order_free
        assert "toy-transpose" in registry.labels_where(family="toy")
        np.save(tmp_path / "x.npy", np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4))
        assert run("encrypt", "--transform", "toy_transpose", tmp_path / "x.npy", tmp_path / "e.npy") == 0
        assert np.array_equal(np.load(tmp_path / "e.npy"), np.load(tmp_path / "x.npy").transpose(0, 2, 1))
    finally:
        unregister_transform("toy_transpose")


def test_report_metadata_comes_from_the_registry():
    from experiments import common, report, report_stats

    assert common.ORDER_FREE == {"none", "random"}
    assert report.AUTHORS_COLUMN == {"none": 0, "rvt-authors": 1, "random": 2}
    assert set(report_stats.RVT_FAMILY) == {"rvt-authors", "rvt-bijective", "random"}


@pytest.mark.slow
def test_a_toy_dataset_is_one_yaml_that_reaches_training_and_the_report(tmp_path, data_dir):
    """A new dataset in a known file format is one yaml in the user's config folder (RVT_CONFIG_DIR): this
    toy reads the MNIST files under its own name, display name and place; train.py composes and trains it,
    the library knows its facts and the report tabulates it. (The `rvt` command encrypts .npy files and has no
    dataset option.)"""
    import os
    import subprocess
    import sys

    from training_helpers import ROOT, run_cli, tiny

    text = (ROOT / "conf" / "dataset" / "mnist.yaml").read_text()
    toy = (text.replace("name: mnist", "name: toy_digits").replace("display: MNIST ", "display: Toy digits ")
           .replace("order: 0 ", "order: 50 "))
    assert toy.count("toy_digits") == 1 and "Toy digits" in toy
    (tmp_path / "extra" / "dataset").mkdir(parents=True)
    (tmp_path / "extra" / "dataset" / "toy_digits.yaml").write_text(toy)
    env = {"RVT_CONFIG_DIR": str(tmp_path / "extra")}
    run_dir = tmp_path / "runs" / "toy"
    p = run_cli(tiny(data_dir) + ["dataset=toy_digits", "transform=rvt", "transform.key=authors:mnist",
                                  f"hydra.run.dir={run_dir}"], data_dir, tmp_path, extra_env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    record = json.loads((run_dir / "results.json").read_text())
    assert record["dataset"] == "toy_digits" and record["status"] == "finished" and record["n_train"] == 64
    assert record["info_loss"] > 0 and record["img_size"] == 28

    def python(*args, environ):
        return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, env=environ,
                              timeout=300)

    done = python("experiments/report.py", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                  "--no-examples", environ={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| toy_digits | resnet | rvt-authors | before |" in (tmp_path / "out" / "table.md").read_text()
    without = python("-c", "from rvt.training.datasets import DATASETS; print(list(DATASETS))",
                     environ={k: v for k, v in os.environ.items() if k != "RVT_CONFIG_DIR"})
    assert "toy_digits" not in without.stdout and "mnist" in without.stdout


def test_the_docs_transform_table_is_the_registry(capsys):
    """docs/training.md's table of transforms is what `rvt transforms` prints from the registry."""
    from training_helpers import ROOT

    from rvt.registry import transforms_table

    assert cli.main(["transforms"]) == 0
    printed = capsys.readouterr().out
    assert printed == transforms_table() and all(f"| `{n}` |" in printed for n in rvt.list_transforms())
    docs = (ROOT / "docs" / "training.md").read_text()
    section = docs.split("<!-- rvt transforms -->\n")[1].split("<!-- /rvt transforms -->")[0]
    assert section == printed, "docs/training.md's transform table is stale: paste `rvt transforms` into it"
