"""experiments/collect.py: which folder a run lands in, against a throw-away git history with a recipe change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from experiments import collect


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def history(tmp_path):
    """A repository with two commits: ``old`` (the recipe before) and ``new`` (the recipe change)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    for name in ("old", "new"):
        (repo / "recipe").write_text(name)
        git(repo, "add", "recipe")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", name)
    return repo, git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")


def run(root: Path, sweep: str, name: str, commit: str, model="resnet", status="finished", dirty=False,
        end: str | None = None) -> Path:
    """A results.json started at ``commit``; ``end``: the commit at its end when one was made while it ran."""
    path = root / sweep / name / "results.json"
    path.parent.mkdir(parents=True)
    record = {"status": status, "experiment": "quick", "dataset": "cifar10", "model": model, "test_acc": 0.8,
              "git": {"commit": commit, "dirty": dirty, "at": "start"}}
    if end:
        record["git_end"] = {"commit": end, "dirty": False}
    path.write_text(json.dumps(record))
    return path


def test_runs_are_sorted_by_recipe_and_probe(history, tmp_path):
    repo, old, new = history
    changes = {("quick", "cifar10", "resnet"): new}
    multirun, out = tmp_path / "multirun", tmp_path / "results"
    run(multirun, "grid", "0-before-change", old)
    run(multirun, "grid", "1-after-change", new)
    run(multirun, "grid", "2-other-cell", old, model="vit")  # no change recorded for the ViT
    run(multirun, "probe-epochs", "0-probe", new)
    run(multirun, "grid", "3-crashed", new, status="failed")
    run(multirun, "grid", "4-modified-tree", new, dirty=True)
    run(multirun, "grid", "5-started-before-the-change", old, end=new)  # the recipe changed while it ran

    moves = collect.collect([multirun], out, changes, repo)

    placed = sorted(str(dest.relative_to(out).parent) for _, dest in moves)
    assert placed == ["probes/probe-epochs/0-probe", "runs/grid/1-after-change", "runs/grid/2-other-cell",
                      "superseded/grid/0-before-change", "superseded/grid/5-started-before-the-change"]
    copied = json.loads((out / "runs/grid/1-after-change/results.json").read_text())
    assert copied["git"]["commit"] == new


def test_a_new_recipe_change_moves_committed_runs(history, tmp_path):
    repo, old, new = history
    out = tmp_path / "results"
    run(out / "runs", "grid", "0-old", old)
    run(out / "runs", "grid", "1-new", new)
    collect.collect([], out, {}, repo)  # no change recorded: both stay
    assert sorted(p.parent.name for p in (out / "runs").rglob("results.json")) == ["0-old", "1-new"]

    collect.collect([], out, {("quick", "cifar10", "resnet"): new}, repo)
    assert [p.parent.name for p in (out / "runs").rglob("results.json")] == ["1-new"]
    assert (out / "superseded/grid/0-old/results.json").is_file()


def test_unknown_commit_is_one_clear_error(history, tmp_path, capsys):
    repo, _, new = history
    multirun = tmp_path / "multirun"
    run(multirun, "grid", "0-foreign", "0" * 40)
    with pytest.raises(collect.InputError, match="cannot compare commits"):
        collect.collect([multirun], tmp_path / "results", {("quick", "cifar10", "resnet"): new}, repo)
    assert collect.main([str(tmp_path / "missing")]) == 2
    assert "collect: not a folder" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
