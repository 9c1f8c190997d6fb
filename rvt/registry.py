"""The transform registry, in the manner of timm's ``register_model`` / ``create_model``.

A transform is one class (a :class:`~rvt.transforms.base.PositionTransform`) registered under a name, plus
one ``conf/transform/<name>.yaml`` for training. Everything that offers a choice of transforms reads
this registry instead of keeping its own list: the ``rvt`` command (``--transform``), ``rvt info``,
``rvt bench``, ``train.py`` (the configs instantiate :func:`create_transform`) and the information,
security and report scripts of ``experiments/``. Adding a transform::

    from rvt import PositionTransform, register_transform

    @register_transform("mirror", label="mirror")
    class Mirror(PositionTransform):
        def __init__(self, seed: int = 0): ...
        def _build_index(self, h, w): ...

One class may be registered under several names with different default arguments (``rvt`` and
``rvt_bijective`` are both :class:`~rvt.RVT`, with ``mode`` authors and bijective).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from rvt.errors import InputError


@dataclass(frozen=True)
class TransformSpec:
    """One registered name: the class, the default arguments of this name, and how reports call it."""

    name: str
    cls: type
    defaults: dict = field(default_factory=dict)
    #: the label of the transform in tables and figures (results.json keeps ``run_name`` + its params)
    label: str = ""
    #: the ``transform.name`` its runs record (``rvt_bijective`` runs are ``rvt`` with mode bijective)
    run_name: str = ""
    description: str = ""
    #: how the information study's tables name it (default: the description)
    display: str = ""
    #: True when the augmentation order is moot (plain images; a fresh map per image): one run stands for both
    order_free: bool = False
    #: the family of maps a claim is about ("rvt": the paper's RVT keys and its per-image baseline)
    family: str = ""
    #: its column in the authors' README table (origin 0, vor 1, random 2), None when they did not run it
    authors_column: int | None = None

    def parameters(self) -> dict:
        """Constructor parameters: name -> default (this name's default where it sets one;
        ``inspect.Parameter.empty`` when required)."""
        sig = inspect.signature(self.cls.__init__)
        return {p.name: self.defaults.get(p.name, p.default) for p in list(sig.parameters.values())[1:]
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def create(self, **kwargs):
        """An instance with this name's defaults updated by ``kwargs`` (unknown names refused)."""
        allowed = self.parameters()
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            takes = ", ".join(allowed) or "no parameters"
            raise InputError(f"transform {self.name} has no parameter {', '.join(unknown)} (it takes {takes})")
        missing = [k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in kwargs]
        if missing:
            raise InputError(f"transform {self.name} needs {', '.join(missing)}")
        return self.cls(**{**self.defaults, **kwargs})

    def for_dataset(self, dataset: str, seed: int = 0):
        """The instance studies use for a dataset: the class's ``for_dataset(dataset, seed=..., **fixed)``
        when it has one (RVT: the authors' key of that dataset), else the class with ``seed`` if it takes
        one."""
        if hasattr(self.cls, "for_dataset"):
            return self.cls.for_dataset(dataset, seed=seed, **self.defaults)
        return self.create(**({"seed": seed} if "seed" in self.parameters() else {}))

    def matches(self, run_name: str, params: dict) -> bool:
        """Whether a run that recorded transform ``run_name`` with ``params`` is this entry."""
        return run_name == self.run_name and all(params.get(k, v) == v for k, v in self.defaults.items())


_REGISTRY: dict[str, TransformSpec] = {}


def register_transform(name: str, *, defaults: dict | None = None, label: str | None = None,
                       run_name: str | None = None, description: str | None = None, before: str | None = None,
                       display: str | None = None, order_free: bool = False, family: str = "",
                       authors_column: int | None = None):
    """Class decorator: register ``cls`` as transform ``name`` (see the module docstring and
    :class:`TransformSpec` for the metadata reports read); ``before``: the registered name it precedes in
    tables (default: after every name registered so far)."""
    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"transform {name!r} is already registered by {_REGISTRY[name].cls.__name__}")
        doc = (cls.__doc__ or "").strip().splitlines()
        description_ = description or (doc[0] if doc else "")
        _REGISTRY[name] = TransformSpec(name, cls, dict(defaults or {}), label or name, run_name or name,
                                        description_, display or description_, bool(order_free), family,
                                        authors_column)
        if before in _REGISTRY:
            order = [n for n in _REGISTRY if n != name]
            order.insert(order.index(before), name)
            for n in order:  # re-insert in the new order (dicts keep insertion order)
                _REGISTRY[n] = _REGISTRY.pop(n)
        return cls
    return decorate


def unregister_transform(name: str) -> None:
    """Remove ``name`` (for tests that register a toy transform)."""
    _REGISTRY.pop(name, None)


def list_transforms() -> list[str]:
    """Registered names, in registration order (the order of tables and figures)."""
    _load_builtin()
    return list(_REGISTRY)


def transform_spec(name: str) -> TransformSpec:
    _load_builtin()
    if name not in _REGISTRY:
        raise InputError(f"unknown transform {name!r}; use one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def create_transform(name: str, **kwargs):
    """The transform registered as ``name``, built with ``kwargs`` (the conf/transform/*.yaml target)."""
    return transform_spec(name).create(**kwargs)


def spec_for_run(run_name: str, params: dict | None = None) -> TransformSpec | None:
    """The registered entry a run belongs to, from the ``transform`` and parameters its results.json
    recorded; the most specific entry wins (``rvt`` + mode bijective -> ``rvt_bijective``)."""
    _load_builtin()
    found = [s for s in _REGISTRY.values() if s.matches(run_name, params or {})]
    return max(found, key=lambda s: len(s.defaults)) if found else None


def specs() -> list[TransformSpec]:
    """Every registered entry, in table order."""
    _load_builtin()
    return list(_REGISTRY.values())


def labels_where(**metadata) -> frozenset[str]:
    """The labels of the entries whose metadata match, e.g. ``labels_where(order_free=True)``."""
    return frozenset(s.label for s in specs() if all(getattr(s, k) == v for k, v in metadata.items()))


_LOADED = False


def _load_builtin() -> None:
    """Import every module of the rvt.transforms package (a new transform module registers itself: no
    package ``__init__`` to edit) and the ``rvt.transforms`` entry points of installed packages."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import pkgutil
    from importlib.metadata import entry_points

    import rvt.transforms

    for module in pkgutil.iter_modules(rvt.transforms.__path__):
        importlib.import_module(f"rvt.transforms.{module.name}")
    for ep in entry_points(group="rvt.transforms"):
        ep.load()


def transforms_table() -> str:
    """A markdown table of every registered transform (name, label, what it is, whether one map serves
    every image, its parameters and defaults): ``rvt transforms`` prints it, docs/training.md includes it."""

    rows = ["| name | label | what it is | map | parameters (defaults) |", "|---|---|---|---|---|"]
    for spec in specs():
        params = ", ".join(f"`{k}`" if v is inspect.Parameter.empty else f"`{k}={v!r}`"
                           for k, v in spec.parameters().items())
        fixed = getattr(spec.cls, "fixed", True)
        kind = "none" if spec.order_free and fixed else ("one per image" if not fixed else "one per key")
        rows.append(f"| `{spec.name}` | {spec.label} | {spec.description} | {kind} | {params or '-'} |")
    return "\n".join(rows) + "\n"
