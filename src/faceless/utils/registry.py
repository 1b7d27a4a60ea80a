"""Registration by class decorator: the one way a loss term or a network is made known by name."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


def registrar(registry: dict[str, Any], name: str, attribute: str, what: str) -> Callable[[T], T]:
    """A class decorator adding the class to ``registry`` under ``name`` and setting its ``attribute``
    to ``name`` (the name its YAML or saved files use); a second class under one name is refused
    (``what`` names the kind in the message)."""

    def add(cls: T) -> T:
        if name in registry and registry[name] is not cls:
            raise ValueError(f"{what} {name!r} is registered twice")
        setattr(cls, attribute, name)
        registry[name] = cls
        return cls

    return add
