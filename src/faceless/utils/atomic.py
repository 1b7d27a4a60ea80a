"""Write-then-rename, so a crash never leaves a half-written file under its final name; and the small
JSON records (cache keys, progress, answer keys) written that way."""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final``, on error it is
    removed and ``final`` keeps what it had. ``suffix`` keeps writers that append their own
    extension (``np.save`` adds ``.npy``) from writing elsewhere. The pid keeps concurrent writers
    (e.g. ParallelRunner) apart."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f"{final.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def read_json(path: str | os.PathLike) -> dict:
    """A JSON record, or ``{}`` where there is none or it is unreadable (then it vouches for nothing)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_json(path: str | os.PathLike, data: dict, indent: int = 2) -> None:
    """Write a JSON record atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=indent))
