"""Frozen config dataclasses loaded from YAML, overridable with ``key=value`` strings.

    cfg = load_config(TrainConfig, "configs/othello6_az.yaml", ["simulations=16", "workers=2"])

Every entry point owns one frozen dataclass whose fields carry a docstring each (the string literal
right after the field). Unknown keys, wrong types and unreadable files raise ``ValueError`` with one
line naming the file and the key, so the command line can print it without a traceback.
"""

import dataclasses
import json
import typing

import yaml


def _coerce(name, typ, value, where):
    """Convert ``value`` (from YAML or a ``--set`` string) to the field's declared type."""
    origin = typing.get_origin(typ)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, dict):  # a YAML mapping becomes key=value items, in order
            value = [f"{k}={v}" for k, v in value.items()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: {name} must be a list, got {value!r}")
        (inner,) = set(typing.get_args(typ)) - {Ellipsis} or {str}
        return tuple(_coerce(name, inner, v, where) for v in value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"{where}: {name} must be true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{where}: {name} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{where}: {name} must be an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be a string, got {value!r}")
        return str(value)
    return value


def load_config(cls, path=None, sets=(), **fixed):
    """An instance of the frozen dataclass ``cls`` from a YAML mapping at ``path`` (optional),
    ``sets``: ``["key=value", ...]`` applied over it, and ``fixed``, typed values applied last (a
    command's own flags), all before the config checks itself."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    if path is not None:
        try:
            with open(path) as f:
                data = yaml.safe_load(f)
        except OSError as e:
            raise ValueError(f"cannot read config {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ValueError(f"malformed YAML in {path}: {str(e).splitlines()[0]}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping of key: value, got {type(data).__name__}")
        for k, v in data.items():
            if k not in fields:
                raise ValueError(f"{path}: unknown key {k!r}; known keys: {', '.join(sorted(fields))}")
            values[k] = _coerce(k, hints[k], v, str(path))
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in fields:
            raise ValueError(f"--set: unknown key {k!r}; known keys: {', '.join(sorted(fields))}")
        values[k] = _coerce(k, hints[k], yaml.safe_load(v) if v.strip() else v, "--set")
    return cls(**{**values, **fixed})


def to_dict(cfg):
    return dataclasses.asdict(cfg)


def dumps(cfg):
    """The config as indented JSON, for printing at start and writing to the run directory."""
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
