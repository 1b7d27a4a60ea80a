"""Configuration errors and small helpers for checking parameter values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A configuration value is wrong; the message is always a single line.

    One line so that it reads cleanly at the bottom of a Kedro traceback and in logs.
    """

    def __init__(self, message: object) -> None:
        one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        super().__init__(one_line)


def choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ConfigError naming ``name``."""
    allowed = list(choices)
    if value not in allowed:
        listed = " | ".join(str(option) for option in allowed)
        raise ConfigError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_at_least(config: Any, names: Iterable[str], minimum: float, param: str) -> None:
    """Raise ConfigError naming ``<param>.<name>`` for the first of ``names`` whose value (an
    attribute of ``config``) is below ``minimum``: the range check every typed config makes."""
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            raise ConfigError(f"{param}.{name} must be >= {minimum}, got {value}")
