"""The transform options every ``rvt`` subcommand shares, read from the registry (rvt.registry).

``--transform NAME`` takes any registered transform; the options below become its constructor arguments
when it takes them (``--key/--mode/--vortices`` for RVT, ``--seed`` for the seeded baselines, ``--block``
for block scrambling, ``--param NAME=VALUE`` for anything else). An option the chosen transform does not
take is one clear error, never silently ignored.
"""

from __future__ import annotations

import argparse
import inspect
import json

from rvt.errors import InputError
from rvt.registry import list_transforms, transform_spec

#: option attribute -> constructor parameter it sets
OPTIONS = {"key": "key", "mode": "mode", "vortices": "vortices", "seed": "seed", "block": "block",
           "allow_identity": "allow_identity"}


def add_transform_args(p: argparse.ArgumentParser, default: str | None, key_required: bool = False) -> None:
    names = list_transforms()
    p.add_argument("--transform", choices=names, default=default, metavar="NAME",
                   help=f"one of {', '.join(names)} (default: {default or 'rvt with --key, else none'})")
    p.add_argument("--key", required=key_required, metavar="SPEC",
                   help="RVT key: a key file (JSON) or authors:<name>[:<n>], e.g. authors:mnist, authors:cifar10")
    p.add_argument("--mode", choices=("authors", "bijective"), default=None,
                   help="RVT mode: authors (bit-exact, lossy; the default) or bijective (lossless, exact decryption)")
    p.add_argument("--vortices", type=int, metavar="N", help="RVT: use only the first N vortices of the key")
    p.add_argument("--allow-identity", action="store_true", default=None,
                   help="RVT: accept a key with no active vortex (it leaves images unchanged)")
    p.add_argument("--seed", type=int, default=None, help="seed of a seeded transform (random, permutation, block)")
    p.add_argument("--block", type=int, default=None, help="block side of --transform block")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other constructor argument of the transform (VALUE read as JSON if it parses)")


def _parse_params(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--param takes NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def transform_from_args(args, defaults: dict | None = None):
    """(transform, its one-line description) from the parsed options."""
    name = args.transform or ("rvt" if getattr(args, "key", None) else "none")
    spec = transform_spec(name)
    accepted = spec.parameters()
    kwargs = dict(defaults or {})
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    for option, param in OPTIONS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if param not in accepted:
            takers = [n for n in list_transforms() if param in transform_spec(n).parameters()]
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{flag} is for --transform {' / '.join(takers)}, not {name}")
        kwargs[param] = value
    kwargs.update(_parse_params(getattr(args, "param", [])))
    for param, default in accepted.items():
        if default is inspect.Parameter.empty and param not in kwargs:
            raise InputError(f"--transform {name} needs --{param} (see rvt {args.command} --help)")
    if "allow_identity" in accepted and "allow_identity" not in kwargs:
        kwargs["allow_identity"] = False  # a key that moves nothing is a mistake unless asked for
    transform = spec.create(**kwargs)
    return transform, f"{name}: {transform.extra_repr() or type(transform).__name__}"
