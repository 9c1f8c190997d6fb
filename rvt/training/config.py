"""The settings a user types on the command line, as structured configs (dataclasses) that validate them.

``validate(cfg)`` runs before anything is built: each section of the composed Hydra config is merged
into its dataclass (OmegaConf checks and converts the types), then the dataclass's ``__post_init__``
checks ranges and choices. Every bad value becomes one :class:`~rvt.errors.RVTError` line, which
train.py prints with exit status 2; nothing hangs (``data.batch_size=0``) or trains on nonsense
(``model.width=-1``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rvt.errors import RVTError
from rvt.information import CHANNEL_MODES, KERNELS
from rvt.training.pipeline import AUGMENT
from rvt.training.progress import MODES as PROGRESS_MODES


def _check(path: str, value: Any, ok, what: str) -> None:
    """Refuse ``value`` unless ``ok(value)``; a setting the composed config does not have (MISSING: the
    schema has no defaults, the yaml files hold them) is not checked."""
    if value is MISSING:
        return
    if not ok(value):
        raise RVTError(f"{path} must be {what}, got {value!r}")


def _positive(path, value):
    _check(path, value, lambda v: v > 0, "a positive integer" if isinstance(value, int) else "a positive number")


def _at_least_zero(path, value):
    _check(path, value, lambda v: v >= 0, "an integer >= 0" if isinstance(value, int) else "a number >= 0")


def _positive_or_null(path, value):
    if value is not None:
        _positive(path, value)


# The schemas of the settings: types and ranges only. Every default lives in the yaml files under conf/
# (a field is MISSING here), so a changed default is one edit.

@dataclass
class RunSettings:
    seed: int = MISSING
    progress: str = MISSING
    progress_every_s: float = MISSING

    def __post_init__(self):
        _at_least_zero("seed", self.seed)
        _check("progress", self.progress, lambda v: v in PROGRESS_MODES, f"one of {', '.join(PROGRESS_MODES)}")
        _positive("progress_every_s", self.progress_every_s)


@dataclass
class TrainerSettings:
    max_epochs: int = MISSING
    max_steps: int = MISSING

    def __post_init__(self):
        _positive("trainer.max_epochs", self.max_epochs)
        _check("trainer.max_steps", self.max_steps, lambda v: v == -1 or v > 0, "-1 (no limit) or a positive integer")


@dataclass
class DatasetSettings:
    val_size: int = MISSING
    train_subset: Optional[int] = MISSING
    test_subset: Optional[int] = MISSING

    def __post_init__(self):
        _positive("dataset.val_size", self.val_size)
        _positive_or_null("dataset.train_subset", self.train_subset)
        _positive_or_null("dataset.test_subset", self.test_subset)


@dataclass
class DataSettings:
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    num_workers: int = MISSING
    padding: int = MISSING
    augment: str = MISSING
    flip: bool = MISSING
    color_jitter: Optional[List[float]] = MISSING

    def __post_init__(self):
        _positive("data.batch_size", self.batch_size)
        _positive("data.eval_batch_size", self.eval_batch_size)
        _at_least_zero("data.num_workers", self.num_workers)
        _at_least_zero("data.padding", self.padding)
        _check("data.augment", self.augment, lambda v: v in AUGMENT, f"one of {', '.join(AUGMENT)}")
        if self.color_jitter is not None and self.color_jitter is not MISSING:
            _check("data.color_jitter", list(self.color_jitter), lambda v: len(v) == 4 and min(v) >= 0,
                   "null or 4 numbers >= 0 (brightness, contrast, saturation, hue)")


@dataclass
class ModelSettings:
    img_size: int = MISSING
    width: float = MISSING
    patch_size: Optional[int] = MISSING
    stem_stride: int = MISSING
    stem_patch: Optional[int] = MISSING

    def __post_init__(self):
        _positive("model.img_size", self.img_size)
        _check("model.stem_stride", self.stem_stride, lambda v: v in (1, 2), "1 or 2")
        _positive_or_null("model.stem_patch", self.stem_patch)
        _positive("model.width", self.width)
        _positive_or_null("model.patch_size", self.patch_size)


@dataclass
class ModuleSettings:
    ricap_beta: Optional[float] = MISSING
    label_smoothing: float = MISSING
    channels_last: bool = MISSING
    compile: bool = MISSING

    def __post_init__(self):
        _positive_or_null("module.ricap_beta", self.ricap_beta)
        _check("module.label_smoothing", self.label_smoothing, lambda v: 0 <= v < 1, "a number in [0, 1)")


@dataclass
class OptimizerSettings:
    lr: float = MISSING
    weight_decay: float = MISSING
    momentum: float = MISSING

    def __post_init__(self):
        _positive("optimizer.lr", self.lr)
        _at_least_zero("optimizer.weight_decay", self.weight_decay)
        _check("optimizer.momentum", self.momentum, lambda v: 0 <= v < 1, "a number in [0, 1)")


@dataclass
class SchedulerSettings:
    warmup_epochs: float = MISSING

    def __post_init__(self):
        _at_least_zero("scheduler.warmup_epochs", self.warmup_epochs)


@dataclass
class InfoLossSettings:
    enabled: bool = MISSING
    n_images: int = MISSING
    kernel: str = MISSING
    scale: float = MISSING
    alpha: float = MISSING
    channels: str = MISSING

    def __post_init__(self):
        _positive("info_loss.n_images", self.n_images)
        _check("info_loss.kernel", self.kernel, lambda v: v in KERNELS, f"one of {', '.join(KERNELS)}")
        _positive("info_loss.scale", self.scale)
        _at_least_zero("info_loss.alpha", self.alpha)
        _check("info_loss.channels", self.channels, lambda v: v in CHANNEL_MODES, f"one of {', '.join(CHANNEL_MODES)}")


#: config section ('' = the top level) -> the dataclass that validates the settings it names
SECTIONS = {"": RunSettings, "trainer": TrainerSettings, "dataset": DatasetSettings, "data": DataSettings,
            "model": ModelSettings, "module": ModuleSettings, "optimizer": OptimizerSettings,
            "scheduler": SchedulerSettings, "info_loss": InfoLossSettings}

_KIND = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _kind(schema, name: str) -> str:
    hint = {f.name: f.type for f in fields(schema)}[name]
    for t, text in _KIND.items():
        if t.__name__ in str(hint):
            return text
    return "a list of numbers" if "List" in str(hint) else "valid"


def check_paper_weights(cfg: DictConfig) -> None:
    """The paper's ViT cells name their weights: experiment=paper trains ViT-B/16 from scratch (its recipe,
    conf/recipe/model/paper_vit_b16.yaml, records experiment paper-scratch), experiment=paper_finetune
    fine-tunes ImageNet weights with the authors' SGD; each refuses the other's weights setting."""
    if "paper" not in cfg or cfg.model.get("name") != "vit_b16":
        return
    weights = bool(cfg.model.get("pretrained") or cfg.model.get("pretrained_file"))
    if cfg.get("experiment_name") == "paper-scratch" and weights:
        raise RVTError("experiment=paper trains ViT-B/16 from scratch (its own recipe); to fine-tune ImageNet "
                       "weights with the authors' settings use experiment=paper_finetune")
    if cfg.get("experiment_name") == "paper" and not weights:
        raise RVTError("experiment=paper_finetune fine-tunes ImageNet weights: give model.pretrained=true or "
                       "model.pretrained_file=...; without weights use experiment=paper (from scratch)")


def validate(cfg: DictConfig) -> None:
    """Raise one :class:`RVTError` line for the first bad setting of ``cfg`` (see the module docstring)."""
    for section, schema in SECTIONS.items():
        node = cfg if not section else OmegaConf.select(cfg, section, default=None)
        if node is None:
            continue
        prefix = f"{section}." if section else ""
        values = {}
        for f in fields(schema):
            if f.name in node:
                try:
                    value = OmegaConf.select(node, f.name, throw_on_resolution_failure=True)
                except OmegaConfBaseException as e:
                    raise RVTError(f"config error: {str(e).strip().splitlines()[0]}") from None
                values[f.name] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for name, value in values.items():
            try:  # OmegaConf checks the type and converts (e.g. "3" -> 3 for an int)
                values[name] = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(schema), {name: value}))[name]
            except OmegaConfBaseException:
                raise RVTError(f"{prefix}{name} must be {_kind(schema, name)}, got {value!r}") from None
        schema(**values)  # __post_init__: the ranges of the settings present (the types were checked above)
