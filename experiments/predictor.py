"""Validate predict.py's predictor against every committed run: probe each cell, fit leave-one-dataset-out,
compare with the paper's information loss.

    python experiments/predictor.py probe      # probes every committed cell not yet probed (resumable)
    python experiments/predictor.py report     # experiments/results/prediction.{md,csv,png}, rvt/training/predictor.json

A cell is (dataset, model, transform and its map, augmentation order, variant) of experiments/results/runs;
its measured accuracy loss is the report's (val-selected test accuracy, mean over seeds, against the plain
cell's mean). Each cell is probed once (seed 0) with the overrides its run recorded, and the plain cell of
its dataset x model once; the probes read the training and validation splits only. Probe records are kept
in experiments/results/predictor_probes.jsonl (one line per probe, the overrides as key), so the fit can be redone
without probing again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.common import RESULTS, ROOT
from rvt.training.record import RunRecord

PROBES = RESULTS / "predictor_probes.jsonl"
CALIBRATION = ROOT / "rvt" / "training" / "predictor.json"


def cell_overrides(r: RunRecord) -> list[str]:
    """The train.py overrides that rebuild a committed run's cell (seed 0), from its results.json."""
    from rvt.registry import spec_for_run

    params = dict(r.transform_params or {})
    spec = spec_for_run(r.transform, params)
    out = [f"dataset={r.dataset}", f"model={r.model}", f"transform={spec.name}",
           f"data.augment={r.augment or 'after'}", "seed=0"]
    for k, v in params.items():
        if k in ("name", "seed"):
            continue
        out.append(f"transform.{k}={'null' if v is None else json.dumps(v) if isinstance(v, bool) else v}")
    for k, v in (r.model_size or {}).items():
        if k in ("stem_patch",) and v:
            out.append(f"model.{k}={v}")
    recipe = [o for o in (r.overrides or []) if o.split("=")[0].startswith(("optimizer.", "data.padding",
                                                                                    "dataset.augmentation"))]
    return out + recipe


def plain_overrides(overrides: list[str]) -> list[str]:
    keep = [o for o in overrides if o.startswith(("dataset=", "model=", "seed=", "model.", "optimizer."))]
    return keep + ["transform=none"]


def committed_cells(runs: Path = RESULTS / "runs") -> dict:
    """{cell key: (overrides of its seed-0 run, measured accuracy loss in points, the plain cell's accuracy (%),
    info_loss, fixed)}."""
    from experiments.report_runs import load_runs, plain_cell, summarise

    rows = [r for r in load_runs(runs) if r["experiment"] == "quick"]
    cells = summarise(rows)
    out = {}
    for key, c in cells.items():
        _, ds, model, t, order, variant = key
        base = plain_cell(cells, "quick", ds, model)
        if base is None or t == "none" or c["test_acc"][0] is None:
            continue
        seed0 = min((r for r in rows if all(r[f] == v for f, v in zip(("experiment", "dataset", "model", "transform",
                                                                         "augment", "variant"), key))),
                    key=lambda r: r["seed"])
        result = RunRecord.load(seed0["run_dir"])
        out[key] = dict(overrides=cell_overrides(result), loss=100 * (base["test_acc"][0] - c["test_acc"][0]),
                        plain_acc=100 * base["test_acc"][0],
                        info_loss=c["info_loss"][0], fixed=t != "random", n_seeds=c["n"])
    return out


def read_probes() -> dict:
    """{overrides: probe record} of the probes run under the current budget rule (rvt.training.probe.budget)."""
    from rvt.training.probe import budget

    if not PROBES.exists():
        return {}
    records = (json.loads(line) for line in PROBES.read_text().splitlines() if line.strip())
    return {tuple(rec["overrides"]): rec for rec in records if rec.get("budget") == budget()}


def probe_cells(data_dir: str) -> None:
    from hydra import compose, initialize_config_dir

    from rvt.training.probe import probe, probe_config, probe_steps

    done = read_probes()
    todo = []  # overrides of the plain and the encrypted probe of every cell, each once
    for _, cell in sorted(committed_cells().items()):
        for ovs in (plain_overrides(cell["overrides"]), cell["overrides"]):
            if tuple(ovs) not in done and ovs not in todo:
                todo.append(ovs)
    print(f"{len(todo)} probes to run ({len(done)} done)", file=sys.stderr)
    for ovs in todo:
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train", overrides=ovs + [f"paths.data_dir={data_dir}", "dataset.download=false",
                                                    "paths.run_dir=outputs/probe-run", "trainer=cpu"])
        rec = probe(probe_config(cfg), probe_steps(cfg))
        rec["overrides"] = ovs
        with PROBES.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"{' '.join(ovs)}: val acc {100 * rec['val_acc']:.2f} in {rec['seconds']:.0f} s", file=sys.stderr)


def main(argv=None) -> int:
    from experiments.common import default_data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("probe", "report"))
    p.add_argument("--data-dir", default=str(default_data_dir()))
    args = p.parse_args(argv)
    if args.command == "probe":
        probe_cells(args.data_dir)
        return 0
    from experiments.prediction_report import write_report

    write_report(committed_cells(), read_probes(), RESULTS, CALIBRATION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
