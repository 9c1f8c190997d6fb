"""The `rvt` command end to end on a temporary directory, and every bad input it must refuse cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import rvt
from rvt import cli
from rvt.errors import InputError

from conftest import golden


def run(*args) -> int:
    return cli.main([str(a) for a in args])


def leftovers(directory, *expected):
    return sorted(p.name for p in directory.iterdir() if p.name not in expected)


def test_encrypt_matches_golden_and_decrypt_bijective_round_trip(tmp_path, mnist_test):
    g = golden("cifar10_v2")
    np.save(tmp_path / "c.npy", g["input"])
    assert run("encrypt", "--key", "authors:cifar10", tmp_path / "c.npy", tmp_path / "ce.npy") == 0
    assert np.array_equal(np.load(tmp_path / "ce.npy"), g["output"])

    plain = mnist_test[0][:500]
    np.save(tmp_path / "m.npy", plain)
    assert run("keygen", "--size", 28, 28, "--vortices", 10, "--seed", 4, "--output", tmp_path / "k.json") == 0
    assert run("encrypt", "--key", tmp_path / "k.json", "--mode", "bijective", tmp_path / "m.npy", tmp_path / "e.npy") == 0
    enc = np.load(tmp_path / "e.npy")
    assert enc.shape == plain.shape and enc.dtype == np.uint8 and not np.array_equal(enc, plain)
    assert run("decrypt", "--key", tmp_path / "k.json", "--mode", "bijective", tmp_path / "e.npy", tmp_path / "d.npy") == 0
    assert np.array_equal(np.load(tmp_path / "d.npy"), plain)
    assert leftovers(tmp_path, "c.npy", "ce.npy", "m.npy", "k.json", "e.npy", "d.npy") == []


def test_streaming_in_chunks_equals_one_batch(tmp_path, monkeypatch, mnist_test):
    plain = mnist_test[0][:1000]
    np.save(tmp_path / "m.npy", plain)
    monkeypatch.setattr(cli, "CHUNK", 77)
    assert run("encrypt", "--key", "authors:mnist", tmp_path / "m.npy", tmp_path / "e.npy") == 0
    expected = rvt.RVT("authors:mnist")(torch.from_numpy(plain)[:, None])[:, 0].numpy()
    assert np.array_equal(np.load(tmp_path / "e.npy"), expected)


def test_channels_last_npy_and_vortex_count(tmp_path, cifar_test):
    plain = cifar_test[0][:20]
    np.save(tmp_path / "c.npy", plain)
    assert run("encrypt", "--key", "authors:cifar10", "--vortices", 1, tmp_path / "c.npy", tmp_path / "e.npy") == 0
    expected = rvt.RVT("authors:cifar10:1")(torch.from_numpy(plain).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert np.array_equal(np.load(tmp_path / "e.npy"), expected.numpy())


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_png_in_png_out(tmp_path, mode, mnist_test, cifar_test):
    arr = mnist_test[0][0] if mode == "L" else cifar_test[0][0]
    Image.fromarray(arr).save(tmp_path / "in.png")
    key = "authors:mnist" if mode == "L" else "authors:cifar10"
    assert run("encrypt", "--key", key, "--mode", "bijective", tmp_path / "in.png", tmp_path / "out.png") == 0
    assert run("decrypt", "--key", key, "--mode", "bijective", tmp_path / "out.png", tmp_path / "back.png") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), arr)
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), arr)


def test_authors_decrypt_warns_that_it_is_lossy(tmp_path, capsys, mnist_test):
    np.save(tmp_path / "m.npy", mnist_test[0][:10])
    run("encrypt", "--key", "authors:mnist", tmp_path / "m.npy", tmp_path / "e.npy")
    assert run("decrypt", "--key", "authors:mnist", tmp_path / "e.npy", tmp_path / "d.npy") == 0
    assert "68 of 784" in capsys.readouterr().err


def test_show_writes_a_three_column_picture(tmp_path, mnist_test):
    np.save(tmp_path / "m.npy", mnist_test[0][:3])
    assert run("show", "--key", "authors:mnist", "--zoom", 2, tmp_path / "m.npy", tmp_path / "grid.png") == 0
    im = np.asarray(Image.open(tmp_path / "grid.png"))
    # make_grid: 3 columns and 3 rows of 28 px tiles with 2 px padding, zoomed 2x
    assert im.shape[:2] == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))


def test_keygen_refuses_to_overwrite_a_key(tmp_path, capsys):
    path = tmp_path / "k.json"
    assert run("keygen", "--size", 32, 32, "--vortices", 5, "--output", path) == 0
    before = path.read_text()
    assert run("keygen", "--size", 32, 32, "--vortices", 5, "--seed", 1, "--output", path) == 2
    assert "without --force" in capsys.readouterr().err
    assert path.read_text() == before
    assert run("keygen", "--size", 32, 32, "--vortices", 5, "--seed", 1, "--output", path, "--force") == 0
    assert path.read_text() != before
    assert json.loads(path.read_text())["image_size"] == [32, 32]


def _bad_inputs(tmp):
    np.save(tmp / "ok.npy", np.zeros((4, 28, 28), np.uint8))
    np.save(tmp / "float.npy", np.zeros((4, 28, 28), np.float32))
    np.save(tmp / "two_d.npy", np.zeros((28, 28), np.uint8))
    np.save(tmp / "five_ch.npy", np.zeros((2, 28, 28, 5), np.uint8))
    np.save(tmp / "cifar.npy", np.zeros((2, 32, 32, 3), np.uint8))
    np.save(tmp / "empty.npy", np.zeros((0, 28, 28), np.uint8))
    (tmp / "garbage.npy").write_bytes(b"not numpy at all")
    (tmp / "garbage.png").write_bytes(b"not a png")
    (tmp / "bad.json").write_text("{ not json")
    (tmp / "schema.json").write_text(json.dumps({"format": "rvt-key", "image_size": [28, 28]}))
    ok = tmp / "ok.npy"
    return [
        (["encrypt", "--key", "authors:mnist", tmp / "missing.npy", tmp / "o.npy"], "not found"),
        (["encrypt", "--key", "authors:mnist", tmp / "float.npy", tmp / "o.npy"], "uint8"),
        (["encrypt", "--key", "authors:mnist", tmp / "two_d.npy", tmp / "o.npy"], "shape"),
        (["encrypt", "--key", "authors:mnist", tmp / "five_ch.npy", tmp / "o.npy"], "shape"),
        (["encrypt", "--key", "authors:mnist", tmp / "empty.npy", tmp / "o.npy"], "no images"),
        (["encrypt", "--key", "authors:mnist", tmp / "garbage.npy", tmp / "o.npy"], "not a readable .npy"),
        (["encrypt", "--key", "authors:mnist", tmp / "garbage.png", tmp / "o.png"], "not a readable image"),
        (["encrypt", "--key", "authors:mnist", tmp / "cifar.npy", tmp / "o.npy"], "key authors:mnist:10 is for 28x28"),
        (["encrypt", "--key", tmp / "bad.json", ok, tmp / "o.npy"], "not valid JSON"),
        (["encrypt", "--key", tmp / "schema.json", ok, tmp / "o.npy"], "missing field"),
        (["encrypt", "--key", "authors:imagenet", ok, tmp / "o.npy"], "unknown authors' key"),
        (["encrypt", "--key", "authors:mnist", "--vortices", 21, ok, tmp / "o.npy"], "has 20 vortices; 21"),
        (["encrypt", "--key", "authors:mnist", ok, tmp / "o.txt"], "unsupported file type"),
        (["encrypt", "--key", "authors:mnist", ok, tmp / "nodir" / "o.npy"], "output directory does not exist"),
        (["encrypt", "--key", "authors:mnist", ok, tmp / "o.png"], "holds 4 images"),
        (["encrypt", "--key", "authors:mnist", ok, ok], "same file"),
        (["decrypt", "--key", tmp / "missing.json", ok, tmp / "o.npy"], "key file not found"),
        (["show", "--key", "authors:mnist", ok, tmp / "o.npy"], "PNG"),
    ]


def test_every_bad_input_is_one_clear_line_and_no_output(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    before = set(p.name for p in tmp_path.iterdir())
    for args, message in cases:
        assert run(*args) == 2, args
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert err.count("\n") == 1 and err.startswith("rvt: error: ") and "Traceback" not in err
        assert set(p.name for p in tmp_path.iterdir()) == before, f"{args} left files behind"


def test_argument_errors_exit_non_zero(capsys):
    for args in (["encrypt"], ["keygen", "--size", "28", "--vortices", "3"], ["frobnicate"],
                 ["encrypt", "--key", "authors:mnist", "--vortices", "-1", "a.npy", "b.npy"]):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_subprocess_entry_points_exit_cleanly(tmp_path):
    """`python -m rvt` really is the CLI: a user error is one stderr line, exit 2, no traceback."""
    np.save(tmp_path / "f.npy", np.zeros((2, 28, 28), np.float64))
    proc = subprocess.run([sys.executable, "-m", "rvt", "encrypt", "--key", "authors:mnist",
                           str(tmp_path / "f.npy"), str(tmp_path / "o.npy")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"rvt: error: {tmp_path / 'f.npy'}: expected uint8 pixels, got float64"]
    assert not (tmp_path / "o.npy").exists()


def test_failure_mid_stream_leaves_no_partial_output(tmp_path, monkeypatch, mnist_test):
    np.save(tmp_path / "m.npy", mnist_test[0][:100])
    monkeypatch.setattr(cli, "CHUNK", 10)
    calls = {"n": 0}
    real = cli._from_nchw

    def failing(t, ndim):
        calls["n"] += 1
        if calls["n"] == 3:
            raise InputError("simulated failure in the middle of the stream")
        return real(t, ndim)

    monkeypatch.setattr(cli, "_from_nchw", failing)
    assert run("encrypt", "--key", "authors:mnist", tmp_path / "m.npy", tmp_path / "e.npy") == 2
    assert leftovers(tmp_path, "m.npy") == []


def test_bench_quick_runs(capsys):
    assert run("bench", "--quick", "--repeats", "1", "--only", "transforms") == 0
    out = capsys.readouterr().out
    assert "RVT authors:mnist authors" in out and "x clone" in out


def test_bench_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert run("bench", "--quick", "--repeats", "1", "--only", "transforms", "--transforms", "rvt",
               "blockwise", "--json", out) == 0
    result = json.loads(out.read_text())
    assert result["machine"]["threads"] >= 1 and result["machine"]["torch"] == torch.__version__
    rows = result["transforms"]
    assert {r["transform"].split(" ")[0] for r in rows} >= {"clone()", "RVT", "blockwise"}
    assert all(r["images_per_s"] > 0 for r in rows) and "pipeline" not in result


@pytest.mark.parametrize("args,message", [
    (["--transform", "blockwise", "--block", "0"], "block size must be a positive integer, got 0"),
    (["--transform", "blockwise", "--channels", "0"], "channels must be >= 1"),
    (["--vortices", "3", "--block", "0"], "--block is for --transform blockwise keys"),
    (["--vortices", "3", "--divisor", "0"], "divisor must be a non-zero number"),
])
def test_keygen_reads_a_zero_as_given(tmp_path, capsys, args, message):
    """A 0 is a value the user typed, never 'not given': refused with one line, and no key is written."""
    assert run("keygen", "--size", 28, 28, *args, "--output", tmp_path / "k.json") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "k.json").exists()
