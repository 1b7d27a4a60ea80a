"""Typed configs from Kedro parameters: dataclasses whose fields have no defaults.

``conf/`` is the only source of default values. A stage's parameters (``params:srgan``, ...) are
turned into a frozen dataclass by :func:`from_params`, which checks every key before any work
starts: a key the dataclass does not know, a key it needs that is missing, or a value of the
wrong type is one :class:`ConfigError` line naming the parameter (``srgan.generator.blocks``).

Supported field types: ``int``, ``float`` (ints are accepted), ``bool``, ``str``, ``Literal[...]``,
``X | None``, unions of those (``int | Literal["auto"]``), ``list[X]`` / ``tuple[X, ...]``,
``dict[str, Any]``, ``Any`` and nested dataclasses. A field's class with a ``from_params(params, name)``
classmethod builds itself (a backbone's options depend on its ``arch``); its ``params()`` method is
what :func:`to_params` reports for it.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from faceless.utils.errors import ConfigError

T = TypeVar("T")


def from_params(cls: type[T], params: Mapping[str, Any] | None, name: str) -> T:
    """Build dataclass ``cls`` from ``params``; ``name`` is the parameter path for messages."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{name} must be a mapping of parameters, got {type(params).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        listed = ", ".join(f"{name}.{key}" for key in unknown)
        raise ConfigError(f"unknown parameter {listed}; {name} takes: {', '.join(sorted(fields))}")
    missing = [key for key, f in fields.items() if key not in params
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        listed = ", ".join(f"{name}.{key}" for key in missing)
        raise ConfigError(f"missing parameter {listed} (conf/base/parameters_*.yml holds every default)")
    values = {key: _convert(params[key], hints[key], f"{name}.{key}") for key in fields if key in params}
    return cls(**values)


def to_params(config: Any) -> Any:
    """The plain dict of a config dataclass (for reports, fingerprints and logs): the parameters it was built from."""
    if hasattr(config, "params") and hasattr(type(config), "from_params"):
        return config.params()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_params(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return type(config)(to_params(v) for v in config)
    if isinstance(config, dict):
        return {k: to_params(v) for k, v in config.items()}
    return copy.deepcopy(config)


def _convert(value: Any, hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if isinstance(hint, type) and hasattr(hint, "from_params"):
        return hint.from_params(value, name)
    if dataclasses.is_dataclass(hint):
        return from_params(hint, value, name)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(f"{name} must be set, got null")
        others = [option for option in options if option is not type(None)]
        if len(others) == 1:
            # ``X | None``: X's own message, which names the key deepest down (``a.b.c``, ``a.b[2]``).
            return _convert(value, others[0], name)
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name} must be {_describe(hint)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(hint)
        # True == 1 in Python: a bool only matches a bool literal.
        if not any(value == a and isinstance(value, bool) == isinstance(a, bool) for a in allowed):
            raise ConfigError(f"{name} must be one of {' | '.join(str(a) for a in allowed)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_convert(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if hint in _SCALARS:
        accepted, described = _SCALARS[hint]
        # bool is an int in Python, but true/false is never a number here (nor a number a bool).
        if not isinstance(value, accepted) or (isinstance(value, bool) and hint is not bool):
            raise ConfigError(f"{name} must be {described}, got {value!r}")
        return float(value) if hint is float else value
    raise TypeError(f"from_params: unsupported field type {hint!r} for {name}")  # a bug, not a user error


#: Scalar field types: the Python types a value may have, and how a message names the type.
_SCALARS = {bool: (bool, "true or false"), int: (int, "an integer"), float: ((int, float), "a number"),
            str: (str, "a string")}


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))
