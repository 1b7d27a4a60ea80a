"""Write-then-rename, so a crash never leaves a half-written file under its final name; the small
JSON records (cache keys, progress, answer keys) written that way; the sweep of temporaries that
killed writers left; and whole folders built beside their place and swapped in, replacing only a
folder this project made.

What the project made is known only from its own records, never from a name or a pattern:

* a temporary file is named ``<final>.faceless-tmp-<pid>-<token>`` (``token`` random per process)
  and the process records each folder it writes temporaries in under
  ``<state>/temporaries/<pid>-<token>``; a sweep removes only files of that exact name in a recorded
  folder, once that process is gone;
* a folder it builds carries :data:`OWNED_MARKER` holding a random token, and ``<state>/owned.json``
  records that token under the folder's path; a file it writes (an answer key) holds its token and is
  recorded the same way. A folder or file whose token is not the recorded one (a user's, a copy) is
  never replaced.

``<state>`` is ``$FACELESS_STATE_DIR`` (the hooks set it to ``<project>/.faceless``), else
``./.faceless``.
"""
from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from faceless.utils.errors import ConfigError
from faceless.utils.lock import FileLock, pid_alive

#: The environment variable naming the folder of the project's records (the hooks set it).
STATE_ENV = "FACELESS_STATE_DIR"


def state_dir() -> Path:
    """Where the project records what it made: ``$FACELESS_STATE_DIR``, else ``./.faceless``."""
    return Path(os.environ.get(STATE_ENV) or Path.cwd() / ".faceless")


def use_state_dir(path: str | os.PathLike) -> None:
    """Record what this process (and the processes it starts) makes under ``path``."""
    os.environ[STATE_ENV] = str(Path(path).resolve())


def _key(path: str | os.PathLike) -> str:
    """A path as records name it: absolute, its parent's links resolved (the leaf itself is not)."""
    path = Path(os.path.abspath(path))
    return str(Path(os.path.realpath(path.parent)) / path.name)


class DiskFullError(ConfigError):
    """A write failed because the disk (or the user's quota) is full: one line naming the file."""


def disk_full_error(what: str | os.PathLike, needed: int | None = None) -> DiskFullError:
    """The one-line error for ENOSPC while writing ``what`` (``needed``: bytes, when known)."""
    target = Path(what)
    need = f"; about {_size(needed)} are needed" if needed else ""
    try:
        usage = shutil.disk_usage(next(p for p in [target, *target.parents] if p.exists()))
        free = f", {_size(usage.free)} free"
    except (OSError, StopIteration):
        free = ""
    return DiskFullError(f"no space left on the device writing '{what}' (ENOSPC{free}){need}; nothing was left "
                         "half-written: free some space (or point the output elsewhere) and run again")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


#: What torch (its C++ writer) says when a write fails: the errno is lost on the way.
_STREAM_WRITE_FAILED = re.compile(r"iostream error|PytorchStreamWriter failed|file write failed|unexpected pos")
#: Below this much free space, a stream writer's failure is taken for a full disk.
NEARLY_FULL_BYTES = 64 * 1024 * 1024


def is_disk_full(error: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Whether ``error`` (or what it was raised from) is ENOSPC / EDQUOT; or, for a write into
    ``folder``, torch's errno-less stream error while that disk is (nearly) full."""
    seen, current = 0, error
    while current is not None and seen < 10:
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(current):
            return True
        current, seen = current.__cause__ or current.__context__, seen + 1
    if folder is not None and _STREAM_WRITE_FAILED.search(str(error)):
        try:
            return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
        except OSError:
            return False
    return False


def reserve_space(path: str | os.PathLike, nbytes: int) -> None:
    """Allocate ``nbytes`` for the file ``path`` now (a memory-mapped write to a full disk is a
    SIGBUS, not an error): :class:`DiskFullError` naming it and the size if there is no room."""
    if not hasattr(os, "posix_fallocate") or nbytes <= 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path, nbytes) from error
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------
# Temporaries: named uniquely per process, their folders recorded
# ----------------------------------------------------------------------------------------------
class _Writer:
    pid: int | None = None
    token = ""
    noted: set[tuple[str, str]] = set()   # (record file, folder) already written
    records: set[str] = set()


def _writer_tag(directory: Path) -> str:
    """``<pid>-<token>`` of this process, after recording ``directory`` as one it writes temporaries in."""
    pid = os.getpid()
    if _Writer.pid != pid:  # first write of this process (or of a forked child)
        _Writer.pid, _Writer.token, _Writer.noted, _Writer.records = pid, secrets.token_hex(8), set(), set()
        atexit.register(_forget_writer, pid)
    tag = f"{pid}-{_Writer.token}"
    record = state_dir() / "temporaries" / tag
    folder = str(Path(os.path.realpath(directory)))
    if (str(record), folder) not in _Writer.noted:
        with contextlib.suppress(OSError):  # unrecorded, a killed write's file is only never swept
            record.parent.mkdir(parents=True, exist_ok=True)
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(folder) + "\n")
            _Writer.noted.add((str(record), folder))
            _Writer.records.add(str(record))
    return tag


def _forget_writer(pid: int) -> None:
    """At a normal exit every temporary of this process is gone: its records go too."""
    if _Writer.pid == pid == os.getpid():
        for record in _Writer.records:
            with contextlib.suppress(OSError):
                os.unlink(record)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "", needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it replaces ``final``, on error it is
    removed and ``final`` keeps what it had. ``suffix`` keeps writers that append their own
    extension (``np.save`` adds ``.npy``) from writing elsewhere. The pid and the process's token
    keep concurrent writers apart and name the file as the project's (see the module's notes).
    A full disk is one line naming ``final`` (and ``needed`` bytes, where the caller knows them):
    :class:`DiskFullError`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f"{final.name}.faceless-tmp-{_writer_tag(final.parent)}{suffix}")
    try:
        yield temporary
        os.replace(temporary, final)
    except Exception as error:
        if not isinstance(error, DiskFullError) and is_disk_full(error, final.parent):
            raise disk_full_error(final, needed) from error
        raise
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


#: What :func:`atomic_path` writes before the rename: ``<final>.faceless-tmp-<pid>-<token>[.<ext>]``.
_TEMPORARY_NAME = re.compile(r"^(?P<final>.+)\.faceless-tmp-(?P<tag>(?P<pid>\d+)-[0-9a-f]{16})(?:\.[A-Za-z0-9]+)?$")


def _stale_writers() -> dict[str, set[str]]:
    """The recorded writers whose process is gone: ``{<pid>-<token>: folders they wrote temporaries in}``."""
    writers: dict[str, set[str]] = {}
    folder = state_dir() / "temporaries"
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return writers
    for entry in entries:
        match = re.fullmatch(r"(\d+)-[0-9a-f]{16}", entry.name)
        if not match or pid_alive(int(match[1])) or not entry.is_file(follow_symlinks=False):
            continue
        folders = set()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(entry.path).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    folders.add(str(json.loads(line)))
        writers[entry.name] = folders
    return writers


def stale_temporary_folders() -> set[str]:
    """The folders in which writers of this project that are gone wrote temporaries."""
    return set().union(*_stale_writers().values())


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files in ``directory`` that killed writers of this project left: named
    as :func:`atomic_path` names them, by a writer whose record lists ``directory`` and whose process
    runs no more; returns them. Anything else (a live writer's file, a user's ``x.tmp-123``) stays."""
    removed: list[Path] = []
    writers = _stale_writers()
    if not writers:
        return removed
    folder = str(Path(os.path.realpath(directory)))
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY_NAME.match(entry.name)
        if (match and folder in writers.get(match["tag"], ()) and entry.is_file(follow_symlinks=False)
                and not pid_alive(int(match["pid"]))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    _forget_finished_writers(writers)
    return removed


def _forget_finished_writers(writers: dict[str, set[str]]) -> None:
    """Drop the record of each gone writer none of whose temporaries is left."""
    for tag, folders in writers.items():
        left = False
        for folder in folders:
            with contextlib.suppress(OSError):
                left = left or any(_temporary_of(name, tag) for name in os.listdir(folder))
        if not left:
            with contextlib.suppress(OSError):
                os.unlink(state_dir() / "temporaries" / tag)


def _temporary_of(name: str, tag: str) -> bool:
    match = _TEMPORARY_NAME.match(name)
    return bool(match and match["tag"] == tag)


# ----------------------------------------------------------------------------------------------
# Folders the project writes as a whole (the demo tree, the unlabeled export)
# ----------------------------------------------------------------------------------------------
#: The file that marks a folder as made by this project: it holds a random token, which
#: ``<state>/owned.json`` records under the folder's path (a copied marker vouches for nothing).
OWNED_MARKER = ".faceless-owned"
#: The key under which a JSON file the project writes (an answer key) holds its token.
TOKEN_KEY = "faceless_token"


def _owned_records() -> Path:
    return state_dir() / "owned.json"


@contextlib.contextmanager
def _records() -> Iterator[dict]:
    """The record of what the project made (path -> token), to change under its lock; entries for
    paths that are gone are dropped."""
    path = _owned_records()
    with FileLock(path.with_suffix(".lock"), f"the record of what this project made ({path})"):
        record = {k: v for k, v in read_json(path).items()
                  if isinstance(v, str) and os.path.lexists(k)}
        yield record
        write_json(path, record)


def recorded_token(path: str | os.PathLike) -> str | None:
    token = read_json(_owned_records()).get(_key(path))
    return token if isinstance(token, str) and token else None


def claim(path: str | os.PathLike, token: str) -> None:
    """Record ``path`` as made by this project with ``token``."""
    with _records() as record:
        record[_key(path)] = token


def forget(*paths: str | os.PathLike) -> None:
    with _records() as record:
        for path in paths:
            record.pop(_key(path), None)


def _marker_token(folder: Path) -> str | None:
    token = read_json(folder / OWNED_MARKER).get("token")
    return token if isinstance(token, str) and token else None


def is_owned(folder: Path) -> bool:
    """Whether ``folder`` is ours to replace: missing, empty, or carrying the marker whose token the
    project recorded for this very path."""
    if not folder.exists() and not folder.is_symlink():
        return True
    if folder.is_symlink() or not folder.is_dir():
        return False
    token = _marker_token(folder)
    if token is not None and token == recorded_token(folder):
        return True
    return not any(folder.iterdir())


def check_replaceable(folder: str | os.PathLike, param: str) -> Path:
    """``folder`` if the project may replace it, else a one-line ConfigError naming ``param``."""
    return _checked(Path(folder), is_owned, param, f"was not made by this project (no {OWNED_MARKER} recorded as "
                                                   "its own in it)", "folder")


def _checked(path: Path, ours, param: str, why: str, what: str) -> Path:
    if not ours(path):
        raise ConfigError(f"{param}: '{path}' exists and {why}; it is left untouched: move it away or choose "
                          f"another {what}")
    return path


def is_owned_file(path: str | os.PathLike) -> bool:
    """Whether the JSON file ``path`` is ours to overwrite: missing, or holding the token the project
    recorded for it."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink() or not path.is_file():
        return False
    token = read_json(path).get(TOKEN_KEY)
    return isinstance(token, str) and token == recorded_token(path)


def check_file_writable(path: str | os.PathLike, param: str) -> Path:
    """``path`` if the project may (over)write it, else a one-line ConfigError naming ``param``."""
    return _checked(Path(path), is_owned_file, param, "was not written by this project", "place")


def write_owned_json(path: str | os.PathLike, data: dict, param: str, indent: int = 2) -> None:
    """Write the JSON record ``path`` as the project's own (it holds a token the project records);
    a file there that the project did not write is refused, never overwritten."""
    path = check_file_writable(path, param)
    token = recorded_token(path) or secrets.token_hex(16)
    claim(path, token)  # first: a kill before the write leaves a claim on a file still ours or absent
    write_json(path, {**data, TOKEN_KEY: token}, indent=indent)


def fresh_folder(final: str | os.PathLike, param: str) -> Path:
    """An empty, marked temporary folder beside ``final`` to build it in (``<final>.partial``; one
    left by an interrupted run is ours and is cleared; a foreign one is refused)."""
    final = Path(final)
    for aside in final.parent.glob(glob_escape(final.name) + ".old-*"):  # from a run killed mid-swap
        if aside.is_dir() and not aside.is_symlink() and _marker_token(aside) is not None and is_owned(aside):
            shutil.rmtree(aside, ignore_errors=True)
            forget(aside)
    temporary = check_replaceable(final.with_name(final.name + ".partial"), param)
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    token = secrets.token_hex(16)
    claim(temporary, token)
    (temporary / OWNED_MARKER).write_text(json.dumps({"made_by": "faceless", "token": token,
                                                      "note": "the whole folder is replaced on the next build"}))
    return temporary


def glob_escape(name: str) -> str:
    return re.sub(r"([*?[])", r"[\\1]", name)


def publish_folder(temporary: Path, final: str | os.PathLike, param: str) -> None:
    """Put the finished ``temporary`` in ``final``'s place: the old folder (ours, checked again now) is
    renamed aside first, so ``final`` is at every moment either the old tree or the new one."""
    final = check_replaceable(final, param)
    token = _marker_token(temporary)
    if token is None or token != recorded_token(temporary):
        raise ConfigError(f"{param}: '{temporary}' is not the folder this project built")
    if final.exists():
        aside = final.with_name(f"{final.name}.old-{os.getpid()}")
        if aside.exists():
            check_replaceable(aside, param)
            shutil.rmtree(aside)
        old = _marker_token(final)
        if old is not None:
            claim(aside, old)
        os.replace(final, aside)
        claim(final, token)
        os.replace(temporary, final)
        shutil.rmtree(aside, ignore_errors=True)
        forget(aside, temporary)
    else:
        claim(final, token)
        os.replace(temporary, final)
        forget(temporary)
