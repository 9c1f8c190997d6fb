"""Keys: the authors' released keys, JSON round trip, schema validation, generation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import rvt
from rvt import RVT, VortexKey, load_key
from rvt.errors import KeyFormatError
from rvt.transforms.keys import authors_key_names


def test_authors_keys_are_the_released_files_bit_for_bit(tmp_path):
    from conftest import SHARED, missing

    src = SHARED / "keys" / "authors_keys.json"
    if not src.exists():
        missing("no ../shared/keys")
    released = json.loads(src.read_text())["keys"]
    assert sorted(released) == authors_key_names()
    for name, entry in released.items():
        key = load_key(f"authors:{name}:{len(entry['vortices'])}")
        assert key.divisor == entry["divisor_D"] and key.orientation == entry["orientation"]
        for v, raw in zip(key.vortices, entry["vortices"]):
            assert list(v.center) == raw["center"] and v.radius == raw["radius"]
            assert list(v.degree) == raw["degree"]  # exact float equality


@pytest.mark.parametrize("spec,n", [("authors:mnist", 10), ("authors:fashion_mnist", 10), ("authors:cifar10", 2),
                                    ("authors:mnist_sensitivity2:5", 5), ("authors:mnist:0", 0),
                                    ("authors:mnist_sensitivity3", 5)])
def test_authors_specs(spec, n):
    key = load_key(spec)
    assert len(key.vortices) == n
    assert load_key(spec.split(":")[0] + ":" + spec.split(":")[1], n).vortices == key.vortices


def test_zero_vortices_is_the_identity():
    assert torch.equal(RVT("authors:mnist:0").source_index, torch.arange(784))


@pytest.mark.parametrize("spec,match", [
    ("authors:nope", "unknown authors' key"),
    ("authors:mnist:30", "has 20 vortices; 30"),
    ("authors:mnist:x", "bad vortex count"),
    ("authors:", "bad key spec"),
    ("missing.json", "key file not found"),
])
def test_bad_specs(spec, match):
    with pytest.raises(KeyFormatError, match=match):
        load_key(spec)


def test_json_round_trip_is_exact(tmp_path):
    for key in (load_key("authors:fashion_mnist:15"), load_key("authors:cifar10"), rvt.generate(28, 28, 12, seed=3)):
        path = tmp_path / "k.json"
        key.save(path)
        again = load_key(path)
        assert again.vortices == key.vortices and again.image_size == key.image_size
        assert again.divisor == key.divisor and again.orientation == key.orientation
        for mode in ("authors", "bijective"):
            assert torch.equal(RVT(again, mode=mode).source_index, RVT(key, mode=mode).source_index)


def _valid():
    return load_key("authors:mnist:3").to_dict()


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("vortices"), "missing field"),
    (lambda d: d.update(image_size=[28]), "image_size"),
    (lambda d: d.update(image_size="28x28"), "image_size"),
    (lambda d: d.update(format="something-else"), "not an RVT key"),
    (lambda d: d.update(version=99), "unsupported key version"),
    (lambda d: d.update(orientation="diagonal"), "orientation"),
    (lambda d: d.update(divisor=0), "divisor"),
    (lambda d: d.update(divisor="x"), "divisor"),
    (lambda d: d["vortices"][0].update(center=[1]), "center"),
    (lambda d: d["vortices"][0].update(center=[1.5, 2]), "center"),
    (lambda d: d["vortices"][0].update(radius="3"), "radius"),
    (lambda d: d["vortices"][0].update(degree="fast"), "degree"),
    (lambda d: d["vortices"][0].update(degree=[1.0]), "degree values"),
    (lambda d: d["vortices"][0].update(center=[3, 14]), "does not fit"),
    (lambda d: d["vortices"][0].pop("radius"), "needs center, radius and degree"),
    (lambda d: d.update(vortices={"a": 1}), "must be a list"),
])
def test_schema_validation(tmp_path, mutate, match):
    d = _valid()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(KeyFormatError, match=match):
        load_key(path)


def test_non_finite_degree_rejected(tmp_path):
    text = json.dumps(_valid()).replace(str(_valid()["vortices"][0]["degree"][0]), "NaN", 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(KeyFormatError):
        load_key(path)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "\x00\x01binary"])
def test_corrupt_or_truncated_files(tmp_path, text):
    path = tmp_path / "k.json"
    path.write_text(text)
    with pytest.raises(KeyFormatError):
        load_key(path)


def test_truncated_key_file(tmp_path):
    path = tmp_path / "k.json"
    load_key("authors:mnist").save(path)
    path.write_text(path.read_text()[: 200])
    with pytest.raises(KeyFormatError, match="not valid JSON"):
        load_key(path)


# ---------------------------------------------------------------- generation

def test_generated_keys_are_deterministic_per_seed():
    a, b, c = rvt.generate(28, 28, 10, seed=7), rvt.generate(28, 28, 10, seed=7), rvt.generate(28, 28, 10, seed=8)
    assert a.vortices == b.vortices
    assert a.vortices != c.vortices
    assert not torch.equal(RVT(a).source_index, RVT(c).source_index)


@pytest.mark.parametrize("seed", range(10))
def test_generated_keys_follow_random_function(seed):
    h, w = (28, 28) if seed % 2 else (32, 32)
    key = rvt.generate(h, w, 15, seed=seed)
    s_default, d_default = rvt.transforms.keys.default_strength(h, w)
    assert key.divisor == d_default
    for k, v in enumerate(key.vortices, start=1):
        c1, c2 = v.center
        assert 0 <= c1 <= h and 0 <= c2 <= w
        assert v.radius == min(abs(c1 - h), abs(c2 - w), c1, c2) - 1
        if v.radius <= 0:
            continue
        assert len(v.degree) == v.radius + 1
        # |f_j| is bounded for weights in [-2, 0) and x in [0, 1]: a loose sanity bound on S * f
        assert max(abs(d) for d in v.degree) < s_default * 40
    assert key.meta["seed"] == seed


def test_generation_uses_the_five_families():
    """Vortex k uses family (k mod 5) + 1: family 1 (sin + cos) is bounded by |w1| + |w4| < 4."""
    key = rvt.generate(28, 28, 200, seed=0)
    for k, v in enumerate(key.vortices, start=1):
        if v.radius > 0 and k % 5 + 1 == 1:
            assert max(abs(d) for d in v.degree) <= 800 * 4


def test_generate_rejects_bad_arguments():
    with pytest.raises(KeyFormatError):
        rvt.generate(0, 28, 3)
    with pytest.raises(KeyFormatError):
        rvt.generate(28, 28, -1)
    with pytest.raises(KeyFormatError):
        rvt.generate(28, 28, 2, strength=math.inf)


def test_key_is_validated_when_built_in_code():
    with pytest.raises(KeyFormatError, match="does not fit"):
        VortexKey((10, 10), (rvt.transforms.keys.Vortex((5, 5), 6, tuple(np.ones(7))),))


def test_generated_key_specs():
    key = load_key("generated:28x28:5:2")
    assert key.vortices == rvt.generate(28, 28, 5, seed=2).vortices and key.label == "generated:28x28:5:2"
    assert load_key("generated:32x32:3").vortices == rvt.generate(32, 32, 3, seed=0).vortices
    # a longer key from the same seed extends the shorter one: the strength axis adds vortices
    assert load_key("generated:28x28:40:2").vortices[:5] == key.vortices
    for bad in ("generated:28:5", "generated:28x28", "generated:axb:5:1", "generated:28x28:5:1:9"):
        with pytest.raises(KeyFormatError, match="bad key spec"):
            load_key(bad)
    with pytest.raises(KeyFormatError, match="disagree"):
        load_key("generated:28x28:5", n_vortices=4)
