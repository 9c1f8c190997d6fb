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

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rvt.errors import RVTError
from rvt.information import CHANNEL_MODES, KERNELS
from rvt.training.pipeline import AUGMENT
from rvt.training.progress import MODES as PROGRESS_MODES


def _require(path: str, ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise RVTError(f"{path} must be {what}, got {value!r}")


def _positive(path, value):
    _require(path, value > 0, "a positive integer" if isinstance(value, int) else "a positive number", value)


def _at_least_zero(path, value):
    _require(path, value >= 0, "an integer >= 0" if isinstance(value, int) else "a number >= 0", value)


@dataclass
class RunSettings:
    seed: int = 3407
    progress: str = "auto"
    progress_every_s: float = 30.0

    def __post_init__(self):
        _at_least_zero("seed", self.seed)
        _require("progress", self.progress in PROGRESS_MODES, f"one of {', '.join(PROGRESS_MODES)}", self.progress)
        _positive("progress_every_s", self.progress_every_s)


@dataclass
class TrainerSettings:
    max_epochs: int = 30
    max_steps: int = -1

    def __post_init__(self):
        _positive("trainer.max_epochs", self.max_epochs)
        _require("trainer.max_steps", self.max_steps == -1 or self.max_steps > 0,
                 "-1 (no limit) or a positive integer", self.max_steps)


@dataclass
class DatasetSettings:
    val_size: int = 5000
    train_subset: Optional[int] = None
    test_subset: Optional[int] = None

    def __post_init__(self):
        _positive("dataset.val_size", self.val_size)
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None:
                _positive(f"dataset.{name}", value)


@dataclass
class DataSettings:
    batch_size: int = 128
    eval_batch_size: int = 512
    num_workers: int = 0
    padding: int = 4
    augment: str = "after"
    flip: bool = True
    color_jitter: Optional[List[float]] = None

    def __post_init__(self):
        _positive("data.batch_size", self.batch_size)
        _positive("data.eval_batch_size", self.eval_batch_size)
        _at_least_zero("data.num_workers", self.num_workers)
        _at_least_zero("data.padding", self.padding)
        _require("data.augment", self.augment in AUGMENT, f"one of {', '.join(AUGMENT)}", self.augment)
        if self.color_jitter is not None:
            _require("data.color_jitter", len(self.color_jitter) == 4 and min(self.color_jitter) >= 0,
                     "null or 4 numbers >= 0 (brightness, contrast, saturation, hue)", list(self.color_jitter))


@dataclass
class ModelSettings:
    img_size: int = 28
    width: float = 1.0
    patch_size: Optional[int] = None
    stem_stride: int = 1
    stem_patch: Optional[int] = None

    def __post_init__(self):
        _positive("model.img_size", self.img_size)
        _require("model.stem_stride", self.stem_stride in (1, 2), "1 or 2", self.stem_stride)
        if self.stem_patch is not None:
            _positive("model.stem_patch", self.stem_patch)
        _positive("model.width", self.width)
        if self.patch_size is not None:
            _positive("model.patch_size", self.patch_size)


@dataclass
class ModuleSettings:
    ricap_beta: Optional[float] = None
    label_smoothing: float = 0.0
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.ricap_beta is not None:
            _positive("module.ricap_beta", self.ricap_beta)
        _require("module.label_smoothing", 0 <= self.label_smoothing < 1, "a number in [0, 1)",
                 self.label_smoothing)


@dataclass
class OptimizerSettings:
    lr: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.0

    def __post_init__(self):
        _positive("optimizer.lr", self.lr)
        _at_least_zero("optimizer.weight_decay", self.weight_decay)
        _require("optimizer.momentum", 0 <= self.momentum < 1, "a number in [0, 1)", self.momentum)


@dataclass
class SchedulerSettings:
    warmup_epochs: float = 0.0

    def __post_init__(self):
        _at_least_zero("scheduler.warmup_epochs", self.warmup_epochs)


@dataclass
class InfoLossSettings:
    enabled: bool = True
    n_images: int = 1000
    kernel: str = "exp"
    scale: float = 2.0
    alpha: float = 1.0
    channels: str = "mean"

    def __post_init__(self):
        _positive("info_loss.n_images", self.n_images)
        _require("info_loss.kernel", self.kernel in KERNELS, f"one of {', '.join(KERNELS)}", self.kernel)
        _positive("info_loss.scale", self.scale)
        _at_least_zero("info_loss.alpha", self.alpha)
        _require("info_loss.channels", self.channels in CHANNEL_MODES, f"one of {', '.join(CHANNEL_MODES)}",
                 self.channels)


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
    conf/recipe/paper_vit_b16_scratch.yaml, records experiment paper-scratch), experiment=paper_finetune
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
            try:
                OmegaConf.merge(OmegaConf.structured(schema), {name: value})
            except OmegaConfBaseException:
                raise RVTError(f"{prefix}{name} must be {_kind(schema, name)}, got {value!r}") from None
        OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
