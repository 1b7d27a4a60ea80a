"""Write-then-rename, so a crash never leaves a half-written file under its final name; the small
JSON records (cache keys, progress, answer keys) written that way; the sweep of temporaries that
killed writers left; and whole folders built beside their place and swapped in, replacing only a
folder this project made (it carries :data:`OWNED_MARKER`)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from faceless.utils.errors import ConfigError
from faceless.utils.lock import pid_alive


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
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):  # missing, a folder, unreadable, not UTF-8, not JSON
        return {}
    return record if isinstance(record, dict) else {}


def write_json(path: str | os.PathLike, data: dict, indent: int = 2) -> None:
    """Write a JSON record atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=indent))


#: ``<name>.tmp-<pid>`` (and ``<name>.tmp-<pid>.npy``): what :func:`atomic_path` writes before the rename.
_TEMPORARY_NAME = re.compile(r"^(?P<final>.+)\.tmp-(?P<pid>\d+)(?:\.[A-Za-z0-9]+)?$")


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files in ``directory`` that killed writers left (their pid runs no more);
    returns them. A live writer's file is left alone."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY_NAME.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not pid_alive(int(match["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


# ----------------------------------------------------------------------------------------------
# Folders the project writes as a whole (the demo tree, the unlabeled export)
# ----------------------------------------------------------------------------------------------
#: The file that marks a folder as made by this project (so it may be replaced).
OWNED_MARKER = ".faceless-owned"


def is_owned(folder: Path, also: tuple[Path, ...] = ()) -> bool:
    """Whether ``folder`` is ours to replace: missing, empty, or carrying the marker (or one of the
    older markers ``also`` names)."""
    if not folder.exists() and not folder.is_symlink():
        return True
    if folder.is_symlink() or not folder.is_dir():
        return False
    if (folder / OWNED_MARKER).is_file() or any(path.is_file() for path in also):
        return True
    return not any(folder.iterdir())


def check_replaceable(folder: str | os.PathLike, param: str, also: tuple[Path, ...] = ()) -> Path:
    """``folder`` if the project may replace it, else a one-line ConfigError naming ``param``."""
    folder = Path(folder)
    if not is_owned(folder, also):
        raise ConfigError(f"{param}: '{folder}' exists and was not made by this project (no {OWNED_MARKER} "
                          "in it); it is left untouched: move it away or choose another folder")
    return folder


def fresh_folder(final: str | os.PathLike, param: str) -> Path:
    """An empty, marked temporary folder beside ``final`` to build it in (``<final>.partial``; one
    left by an interrupted run is ours and is cleared; a foreign one is refused)."""
    final = Path(final)
    for aside in final.parent.glob(glob_escape(final.name) + ".old-*"):  # from a run killed mid-swap
        if (aside / OWNED_MARKER).is_file() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
    temporary = check_replaceable(final.with_name(final.name + ".partial"), param)
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    (temporary / OWNED_MARKER).write_text("made by faceless; the whole folder is replaced on the next build\n")
    return temporary


def glob_escape(name: str) -> str:
    return re.sub(r"([*?[])", r"[\\1]", name)


def publish_folder(temporary: Path, final: str | os.PathLike, param: str, also: tuple[Path, ...] = ()) -> None:
    """Put the finished ``temporary`` in ``final``'s place: the old folder (ours, checked again now) is
    renamed aside first, so ``final`` is at every moment either the old tree or the new one."""
    final = check_replaceable(final, param, also)
    if final.exists():
        aside = final.with_name(f"{final.name}.old-{os.getpid()}")
        if aside.exists():
            shutil.rmtree(aside)
        os.replace(final, aside)
        os.replace(temporary, final)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temporary, final)
