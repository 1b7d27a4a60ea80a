"""Progress bars that share the console with the log.

A drop-in ``tqdm`` (same arguments, ``update``, ``set_postfix``, iteration, ``with``) drawn by Rich
on Rich's console, the one Kedro's ``RichHandler`` prints the log to: a log line printed while a bar
is live goes above the bars, never into one (tqdm writing ``\\r``-updates to stderr while Rich
writes lines to stdout glued them: ``...1.25s/step][11/30/26 18:40:23] INFO srgan step 3...``).
All live bars share one Rich display, so nested and consecutive bars stack rather than clash.

Where the console is no terminal (a pipe, a file, CI, a captured test) there is nothing to animate:
bars are off and the log's own lines say what was done. ``FACELESS_PROGRESS=0`` turns them off
everywhere, ``=1`` forces them on.

Why not ``tqdm.rich``: it opens one Rich display per bar (a second live bar raises ``LiveError``),
warns that it is experimental on every bar, and draws on a captured stream too.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import rich
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from tqdm.std import tqdm as std_tqdm

__all__ = ["tqdm", "bars_enabled"]

_lock = threading.Lock()
_display: Progress | None = None
_live_bars = 0


def bars_enabled() -> bool:
    """Bars are drawn only on an interactive terminal (or when ``FACELESS_PROGRESS=1``)."""
    forced = os.environ.get("FACELESS_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    console = rich.get_console()
    return console.is_terminal and not console.is_dumb_terminal


def _open_task(description: str, total: float | None, completed: float, unit: str) -> TaskID:
    global _display, _live_bars
    with _lock:
        if _display is None:
            _display = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(bar_width=None),
                MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("<"),
                TimeRemainingColumn(), TextColumn("{task.fields[postfix]}"),
                console=rich.get_console(), transient=True, refresh_per_second=4,
            )
            _display.start()
        _live_bars += 1
        return _display.add_task(description, total=total, completed=completed, unit=unit, postfix="")


def _close_task(task: TaskID) -> None:
    global _display, _live_bars
    with _lock:
        if _display is None:
            return
        _display.remove_task(task)
        _live_bars -= 1
        if _live_bars <= 0:
            _display.stop()
            _display, _live_bars = None, 0


class tqdm(std_tqdm):  # noqa: N801 (tqdm's name, so callers change only their import)
    """tqdm's counting and rates; Rich's drawing, on an interactive console only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = bool(kwargs.get("disable", False)) or not bars_enabled()
        kwargs["gui"] = True  # tqdm counts, never writes
        super().__init__(*args, **kwargs)
        if not self.disable:
            self._task = _open_task(self.desc or "", self.total, self.n, self.unit)

    def display(self, *_: Any, **__: Any) -> None:
        task = getattr(self, "_task", None)
        if task is not None and _display is not None:
            postfix = f" {self.postfix}" if self.postfix else ""
            _display.update(task, completed=self.n, total=self.total, description=self.desc or "", postfix=postfix)

    def clear(self, *_: Any, **__: Any) -> None:
        pass

    def close(self) -> None:
        if self.disable:
            return
        super().close()
        task = getattr(self, "_task", None)
        if task is not None:
            self._task = None
            _close_task(task)
