"""The run record (results.json) and the identity of a cell, defined once for every reader.

:class:`RunRecord` is what a training run writes into its directory: at the start of fitting with
``status: running`` (what runs: the cell's axes, the config, the code and the machine) and again at the end
with ``status: finished`` (or ``interrupted``) and what came out (test accuracy of the validation-selected
checkpoint, of the last weights and of the best test epoch, the information loss, timings, history).
:class:`Cell` is what makes two runs the same experiment cell, their seeds averaged: experiment, dataset,
model (with a patchify stem named), the transform's registry label, the augmentation order and the
variant (another key, a changed parameter or recipe). collect, the report, the security study, the
frontier and the predictor read runs through :meth:`RunRecord.load` and :meth:`RunRecord.cell`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from rvt.training.results import ROOT, write_results

FILE = "results.json"
#: the record's status: written ``running`` when fitting starts, then ``finished`` (or ``interrupted``: a
#: Lightning run stopped by a signal); a run that crashed or was killed keeps ``running``
STATUSES = ("running", "finished", "interrupted")


@dataclass
class RunRecord:
    """One run's results.json (docs/training.md lists the fields). Every field is optional so that records
    written before a field existed still load; keys this class does not know are kept in ``extra``."""

    status: str = "finished"  # records written before the status existed were only written when finished
    experiment: Optional[str] = None
    dataset: Optional[str] = None
    model: Optional[str] = None
    model_size: Optional[dict] = None
    img_size: Optional[int] = None
    transform: Optional[str] = None
    transform_mode: Optional[str] = None
    transform_key: Optional[str] = None
    transform_params: Optional[dict] = None
    transform_map_sha1: Optional[str] = None
    key_label: Optional[str] = None
    active_vortices: Optional[int] = None
    eval_maps: Optional[str] = None
    augment: Optional[str] = None
    sweep: Optional[str] = None
    tags: Optional[list] = None
    ricap_beta: Optional[float] = None
    seed: Optional[int] = None
    augmentation: Optional[dict] = None
    overrides: Optional[list] = None
    epochs: Optional[int] = None
    max_epochs: Optional[int] = None
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    test_acc: Optional[float] = None  # the checkpoint selected on the validation split
    test_acc_last: Optional[float] = None  # the weights after the last epoch
    test_acc_best_epoch: Optional[float] = None  # the authors' protocol: the best test epoch
    test_best_epoch: Optional[int] = None
    val_acc_best: Optional[float] = None
    val_best_epoch: Optional[int] = None
    info_loss: Optional[float] = None
    info_loss_images: Optional[int] = None
    n_train: Optional[int] = None
    n_val: Optional[int] = None
    n_test: Optional[int] = None
    parameters: Optional[int] = None
    train_seconds: Optional[float] = None
    fit_seconds: Optional[float] = None
    images_per_s: Optional[float] = None
    accelerator: Optional[str] = None
    devices: Optional[int] = None
    world_size: Optional[int] = None
    resumed_from: Optional[str] = None
    best_checkpoint: Optional[str] = None
    run_dir: Optional[str] = None
    started: Optional[str] = None
    finished: Optional[str] = None
    git: Optional[dict] = None  # the tree at the start (``at: start``)
    git_end: Optional[dict] = None  # only when the tree changed while the run trained
    versions: Optional[dict] = None
    config: Optional[dict] = None
    history: Optional[list] = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def load(cls, path: str | Path) -> "RunRecord":
        """The record in ``path`` (a results.json or the run directory holding one); OSError or
        json.JSONDecodeError for an unreadable file."""
        path = Path(path)
        return cls.from_dict(json.loads((path / FILE if path.is_dir() else path).read_text()))

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        if out["git_end"] is None:
            del out["git_end"]
        return {**out, **self.extra}

    def write(self, run_dir: str | Path) -> Path:
        """Atomically (rvt.io.atomic_write_text): a reader never sees half a record."""
        return write_results(run_dir, self.to_dict(), FILE)

    def update(self, **values: Any) -> "RunRecord":
        return dataclasses.replace(self, **values)

    @property
    def is_finished(self) -> bool:
        """A run that ended and was tested: the only kind the report, collect and resume count."""
        return self.status == "finished" and self.test_acc is not None

    def cell(self) -> "Cell":
        return Cell.of(self)


@dataclass(frozen=True)
class Cell:
    """The identity of an experiment cell: runs with equal cells are seeds of one setting."""

    experiment: str
    dataset: str
    model: str
    transform: str
    augment: str
    variant: str

    @classmethod
    def of(cls, r: RunRecord) -> "Cell":
        label = transform_label(r)
        return cls(experiment=r.experiment or "none", dataset=r.dataset, model=model_label(r), transform=label,
                   # plain images are the same in either order: one plain cell per dataset x model
                   augment="-" if label == "none" else (r.augment or "after"), variant=variant_of(r))


#: the names of a cell's parts, in the order of its tuple (the report's cell keys)
CELL = tuple(f.name for f in fields(Cell))


def transform_label(r: RunRecord) -> str:
    """The registry label of a run's transform, from the name and parameters its record holds (``rvt``
    with mode bijective -> ``rvt-bijective``); the recorded name when no entry matches."""
    from rvt.registry import spec_for_run

    name = r.transform or "none"
    params = r.transform_params or {"mode": r.transform_mode}
    spec = spec_for_run(name, {k: v for k, v in params.items() if v is not None})
    return spec.label if spec else name


#: transform parameters variant_of reports its own way (the key, its vortex count) or through the label
#: (the mode); a keyed transform's literal seed is compared like any other parameter (seed=1: another key)
KEY_PARAMS = ("key", "mode", "vortices")


@functools.cache
def conf_defaults(name: str) -> dict:
    """The literal defaults of conf/transform/<name>.yaml (interpolations left out); {} without a file."""
    from omegaconf import OmegaConf

    path = ROOT / "conf" / "transform" / f"{name}.yaml"
    if not path.exists():
        return {}
    conf = OmegaConf.load(path)
    return {k: conf[k] for k in conf if k not in KEY_PARAMS and not OmegaConf.is_interpolation(conf, k)}


#: command-line overrides that do not change what a cell's run learns: the cell's own axes (experiment,
#: dataset, model, transform, seed, augmentation order; the transform's parameters and a ResNet's patchify
#: stem are named by variant_of and model_label) and where or how a run is done, logged and evaluated
RECIPE_FREE = {"experiment", "dataset", "model", "transform", "seed", "data.augment", "model.stem_patch",
               "trainer.accelerator", "trainer.devices", "trainer.num_nodes", "trainer.strategy", "logger",
               "paths", "progress", "progress_every_s", "sweep", "tags", "ckpt_path", "test", "grid",
               "test_every_epoch", "data.num_workers", "data.resident", "data.eval_batch_size", "data.data_dir",
               "dataset.download", "module.compile", "module.channels_last"}
RECIPE_FREE_PREFIXES = ("transform.", "hydra.", "logger.", "paths.", "info_loss.")
#: group choices that only pick the device (trainer=debug, which cuts the run short, is a recipe change)
RECIPE_FREE_CHOICES = {"trainer=cpu", "trainer=gpu", "trainer=ddp", "trainer=default"}


def recipe_overrides(r: RunRecord) -> list[str]:
    """The overrides a run recorded that change its recipe (e.g. ``optimizer.lr=1e-3``,
    ``dataset.augmentation.padding=0``), sorted; [] for a run of the experiment's recipe or one recorded
    before results.json kept its overrides."""
    out = []
    for o in r.overrides or []:
        key = o.lstrip("+~").split("=", 1)[0]
        if key not in RECIPE_FREE and o not in RECIPE_FREE_CHOICES and not key.startswith(RECIPE_FREE_PREFIXES):
            out.append(o)
    return sorted(out)


def variant_of(r: RunRecord) -> str:
    """What distinguishes a run from its transform's default for the dataset, '' for the default: a
    generated or other key (its label, e.g. generated:28x28:10:2) or a vortex count of the default key
    (v5), then every parameter that differs from the transform's config (e.g. scramble=false); for
    blockwise, a block other than the ViT patch the studies use on the dataset (PATCH_FOR); last, the
    command-line overrides that change the recipe (recipe_overrides: a probe with another learning rate
    is its own cell, never averaged into the recipe's)."""
    from rvt.transforms.blockwise import PATCH_FOR

    params = r.transform_params or {}
    key, vortices = params.get("key"), params.get("vortices")
    parts = []
    if key and key != f"authors:{r.dataset}":
        parts.append(r.key_label or str(key))
    elif vortices is not None:
        parts.append(f"v{vortices}")
    defaults = conf_defaults(r.transform or "none")
    if r.transform == "blockwise" and r.dataset in PATCH_FOR:
        defaults = {"block": PATCH_FOR[r.dataset], **defaults}
    for k, default in defaults.items():
        v = params.get(k)
        if v is not None and v != default:
            parts.append(f"{k}={str(v).lower() if isinstance(v, bool) else v}")
    return ",".join(parts + recipe_overrides(r))


def strength_of(variant: str) -> int | None:
    """The number of vortices a variant names (generated:HxW:<n>:seed, v<n>, first of its parts), else None."""
    variant = variant.split(",")[0]
    if variant.startswith("generated:"):
        return int(variant.split(":")[2])
    return int(variant[1:]) if variant.startswith("v") and variant[1:].isdigit() else None


def model_label(r: RunRecord) -> str:
    """The model's name, with ``-patch<B>`` for a ResNet with a B x B patchify stem (its own cell: the
    block-wise CNN counterpart of docs/blockwise.md, not the quick recipe's ResNet)."""
    patch = (r.model_size or {}).get("stem_patch")
    return f"{r.model}-patch{patch}" if patch else r.model


def load_records(root: str | Path, finished_only: bool = True) -> list[tuple[Path, RunRecord]]:
    """(path, record) of every results.json under ``root``, sorted by path; unreadable files are named on
    stdout and skipped; with ``finished_only`` only finished, tested runs (RunRecord.is_finished)."""
    out = []
    for path in sorted(Path(root).rglob(FILE)):
        try:
            record = RunRecord.load(path)
        except (OSError, json.JSONDecodeError, TypeError):
            print(f"skipping unreadable {path}")
            continue
        if record.is_finished or not finished_only:
            out.append((path, record))
    return out
