"""A transform registered in the test reaches every experiment script that offers a choice of transforms:
the information study, the security study and the report (rvt.registry is their one list)."""

from __future__ import annotations

import json

import pytest
import torch

import rvt
from experiments import information, report, report_runs, security
from rvt.registry import unregister_transform


@pytest.fixture
def toy_flip():
    """'toy_flip' (label 'toy-flip'): a fixed map that mirrors every image left to right."""

    @rvt.register_transform("toy_flip", label="toy-flip")
    class ToyFlip(rvt.PositionTransform):
        """Mirror left to right (a test transform)."""

        def _build_index(self, h, w):
            return torch.arange(h * w).view(h, w).flip(1).reshape(-1)

    try:
        yield ToyFlip
    finally:
        unregister_transform("toy_flip")
    assert "toy_flip" not in rvt.list_transforms()


def test_a_registered_transform_reaches_every_study(toy_flip, tmp_path):
    builtins = ["none", "rvt-authors", "rvt-bijective", "permutation", "block", "blockwise", "random"]

    # information.py: one case with the registry label, and one row of its tables
    cases = information.transforms_for("mnist", 28, 28, counts=[1], seeds=[0])
    toy = [c for c in cases if c[0] == "toy-flip"]
    assert len(toy) == 1 and isinstance(toy[0][-1], toy_flip)
    assert [c[0] for c in cases[:8]] == builtins + ["toy-flip"]
    assert ("toy-flip", "Mirror left to right (a test transform).") in information.named()

    # security.py: in the list, and in the sections of keyed maps (synthetic images, no dataset read)
    names = [name for name, _ in security.transforms_for("mnist")]
    assert names == builtins + ["toy-flip"]
    images = torch.randint(0, 256, (4, 1, 28, 28), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    facts = {r.transform: r for r in security.key_facts({"mnist": (images, images)})}
    assert set(facts) == {"rvt-authors", "rvt-bijective", "permutation", "block", "blockwise", "toy-flip"}
    assert facts["toy-flip"]["fixed_points"] == 0.0 and facts["toy-flip"]["histogram_kept"] == 1.0

    # report.py: a run of the toy transform gets its label and sorts after the built-ins
    assert report_runs.transform_order() == builtins + ["toy-flip"]
    runs = tmp_path / "runs"
    for i, (name, params) in enumerate([("toy_flip", {}), ("random", {"seed": 0}), ("none", {}),
                                        ("rvt", {"key": "authors:mnist", "mode": "bijective"})]):
        (runs / str(i)).mkdir(parents=True)
        (runs / str(i) / "results.json").write_text(json.dumps({
            "dataset": "mnist", "model": "resnet", "experiment": "quick", "transform": name,
            "transform_params": params, "seed": 0, "test_acc": 0.5, "info_loss": 0.1}))
    rows = report_runs.load_runs(runs)
    assert {r["transform"] for r in rows} == {"toy-flip", "random", "none", "rvt-bijective"}
    table = report.table_markdown(report_runs.summarise(rows), "test")
    order = [line.split("|")[3].strip() for line in table.splitlines() if line.startswith("| mnist |")]
    assert order == ["none", "rvt-bijective", "random", "toy-flip"]
