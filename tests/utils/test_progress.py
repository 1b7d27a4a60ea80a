"""Progress bars drawn by Rich on the log's console: log lines print above a live bar, never glued to
it; with no terminal there are no bars at all."""
from __future__ import annotations

import io
import logging
import re

import rich
import rich.logging
from rich.console import Console

from faceless.utils import progress
from faceless.utils.progress import tqdm


def use_console(monkeypatch, terminal: bool) -> io.StringIO:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=terminal, width=100, color_system=None)
    monkeypatch.setattr(rich, "_console", console)
    monkeypatch.delenv("FACELESS_PROGRESS", raising=False)
    return stream


def test_without_a_terminal_there_are_no_bars(monkeypatch):
    stream = use_console(monkeypatch, terminal=False)
    assert not progress.bars_enabled()
    total = sum(step for step in tqdm(range(5), desc="training"))
    assert total == 10 and stream.getvalue() == ""


def test_log_lines_print_above_live_bars_on_a_terminal(monkeypatch):
    stream = use_console(monkeypatch, terminal=True)
    assert progress.bars_enabled()
    log = logging.getLogger("test.progress")
    handler = rich.logging.RichHandler(console=rich.get_console(), show_time=False, show_path=False)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        with tqdm(total=4, desc="outer", unit="step") as outer:
            for step in range(4):
                inner = tqdm(range(3), desc="inner", unit="img")  # nested: one shared display
                for _ in inner:
                    pass
                inner.close()
                outer.set_postfix({"loss": f"{1 / (step + 1):.3g}"}, refresh=False)
                outer.update()
                log.info("step %d done", step)
    finally:
        log.removeHandler(handler)
    assert progress._display is None  # the last bar closed the display
    # What a terminal shows: a carriage return or a cursor move starts the line afresh.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", stream.getvalue())
    log_lines = [line for line in text.splitlines() if "step" in line and "done" in line]
    assert len(log_lines) == 4
    for line in log_lines:  # each log line stands alone: no bar text before or after it
        assert re.fullmatch(r"\s*INFO\s+step \d done\s*", line), line


def test_bars_can_be_forced_off_or_on(monkeypatch):
    use_console(monkeypatch, terminal=True)
    monkeypatch.setenv("FACELESS_PROGRESS", "0")
    assert not progress.bars_enabled()
    use_console(monkeypatch, terminal=False)
    monkeypatch.setenv("FACELESS_PROGRESS", "1")
    assert progress.bars_enabled()
