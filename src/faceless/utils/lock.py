"""Advisory file locks (``flock``) that name their holder.

The OS drops an ``flock`` when its holder exits, however it exits (kill -9 included), so a lock is
never left stale: the file stays, but a new holder can take it at once. The holder writes its pid,
host, start time and command into the file, which is what a second process's message quotes.

``fcntl`` is POSIX-only; where it is missing (Windows) the locks are no-ops with a warning.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from faceless.utils.errors import ConfigError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class LockBusyError(ConfigError):
    """Another process holds the lock (a user error: one line, no traceback)."""


class FileLock:
    """An exclusive lock on ``path`` (created if missing). ``acquire(wait=0)`` fails at once with
    :class:`LockBusyError` when another process holds it; ``wait`` > 0 retries for that many seconds.
    Re-entrant within one object: acquiring a lock this object holds is a no-op."""

    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.path = Path(path)
        self.what = what  # how messages name the thing locked ("the project /x")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0, busy_hint: str = "") -> FileLock:
        if self._fd is not None or fcntl is None:
            if fcntl is None:
                logger.warning("no file locks on this platform: %s is not protected", self.what)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    raise LockBusyError(f"{self.what} is busy: {describe_holder(holder)} holds {self.path}"
                                        f"{'; ' + busy_hint if busy_hint else ''}") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)  # the file stays (removing a locked file races with a new holder)
        finally:
            os.close(fd)  # closing drops the flock

    def holder(self) -> dict:
        """What the current holder wrote (empty when unknown)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def describe_holder(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process"
    where = f" on {holder['host']}" if holder.get("host") and holder["host"] != socket.gethostname() else ""
    command = f" ({holder['command']})" if holder.get("command") else ""
    return f"process {holder['pid']}{where} started {holder.get('started', '?')}{command}"


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this machine (a pid may be reused: 'alive' can be wrong)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True
