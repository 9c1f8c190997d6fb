"""Copy finished runs' results.json from Hydra multirun folders into experiments/results/, the committed record.

    python experiments/collect.py outputs/multirun            # every sweep under it
    make collect COLLECT_ARGS="outputs/multirun/cifar-vit-seeds"

Each run lands in one of three folders, as ``<folder>/<sweep>/<run>/results.json``:

- ``probes/`` when its sweep is named ``probe-*``: a setting tried on validation, not a result;
- ``superseded/`` when the recipe of its cell changed after the run's commit (:data:`RECIPE_CHANGES`);
- ``runs/`` otherwise: what the report, the table and the frontier read.

Runs already in ``runs/`` that an entry of :data:`RECIPE_CHANGES` makes old are moved to ``superseded/``, so
adding an entry and running this once keeps the report on current recipes only. Unfinished runs and runs
started from a modified tree (results.json ``git.dirty``) are left out: their numbers cannot be traced to a
commit. ``git`` is the tree at the run's start (``git.at == "start"``; a commit made while it ran shows in
``git_end`` and changes nothing here); older records have the tree at their end, without ``at``.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
from pathlib import Path

from experiments.common import RESULTS, ROOT
from rvt.errors import InputError
from rvt.io import atomic_write_text
from rvt.training.record import RunRecord, load_records

#: (experiment, dataset, model) -> the commit that changed that cell's recipe in a way that changes results.
#: Runs of the cell made before it are superseded. Add an entry when you change a recipe (chosen on validation).
RECIPE_CHANGES = {
    # the Fashion-MNIST ViT recipe dropped the 2-pixel random crop (probe-fashion-vit-pad0: val 84.96 -> 87.62)
    ("quick", "fashion_mnist", "vit"): "f760a59",
    # the CIFAR-10 ResNet recipe went from 7 to 14 epochs (probe-cifar-resnet-ep14: val 75.84 -> 81.06)
    ("quick", "cifar10", "resnet"): "12cadac",
}
FOLDERS = ("runs", "superseded", "probes")


@functools.cache  # a sweep shares a few commits, and committed runs are checked again on every collect
def is_ancestor(older: str, newer: str, repo: Path) -> bool:
    """Whether commit ``older`` is ``newer`` or one of its ancestors; a clear error when either is unknown."""
    done = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise InputError(f"cannot compare commits {older} and {newer} in {repo} (is the history there, "
                         f"not a shallow clone?): {done.stderr.strip()}")
    return done.returncode == 0


def folder_for(result: RunRecord, sweep: str, changes: dict, repo: Path) -> str:
    """Which of :data:`FOLDERS` a finished run belongs in, decided from the commit the run started from
    (results.json ``git``; runs written before 2026-12-07 recorded the commit at their end instead)."""
    if sweep.startswith("probe-"):
        return "probes"
    change = changes.get((result.experiment, result.dataset, result.model))
    if change is not None and not is_ancestor(change, result.git["commit"], repo):
        return "superseded"
    return "runs"


def traceable(result: RunRecord) -> bool:
    git = result.git or {}
    return result.status == "finished" and bool(git.get("commit")) and not git.get("dirty")


def collect(sources: list[Path], out: Path = RESULTS, changes: dict = RECIPE_CHANGES,
            repo: Path = ROOT) -> list[tuple[Path, Path]]:
    """Copy the traceable runs under ``sources`` into ``out``, re-sort ``out/runs``; return (from, to) pairs."""
    moves = []
    for source in sources:
        if not Path(source).is_dir():
            raise InputError(f"not a folder: {source}")
        for path, result in load_records(source, finished_only=False):
            if not traceable(result):
                print(f"left out (unfinished or from a modified tree): {path}", file=sys.stderr)
                continue
            run_dir = path.parent
            sweep = run_dir.parent.name
            dest = out / folder_for(result, sweep, changes, repo) / sweep / run_dir.name / "results.json"
            for other in FOLDERS:  # a run lives in one folder only
                stale = out / other / sweep / run_dir.name
                if stale != dest.parent and stale.is_dir():
                    shutil.rmtree(stale)
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(dest, path.read_text())
            moves.append((path, dest))
    # committed runs whose cell's recipe changed since
    for path in sorted((out / "runs").glob("*/*/results.json")):
        result = RunRecord.load(path)
        if folder_for(result, path.parent.parent.name, changes, repo) == "superseded":
            dest = out / "superseded" / path.parent.parent.name / path.parent.name
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path.parent), dest)
            moves.append((path, dest / "results.json"))
    return moves


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", type=Path, help="multirun folders (or a folder of them)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where runs/, superseded/, probes/ are")
    args = p.parse_args(argv)
    try:
        moves = collect(args.sources, args.out)
    except InputError as e:
        print(f"collect: {e}", file=sys.stderr)
        return 2
    for _, dest in moves:
        print(dest.relative_to(args.out))
    print(f"{len(moves)} runs collected into {args.out}; now `make table REPORT_ARGS=\"--runs "
          f"{args.out / 'runs'}\"`", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
