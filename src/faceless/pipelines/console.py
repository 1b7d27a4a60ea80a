"""What a run prints about its nodes: one line when a node starts, one when it ends, with its time.

Kedro's own lines (``Running node: name: func([every input]) -> [every output]``, ``Completed node``,
``Completed n out of m tasks``, the catalog's ``Loading data from ...`` / ``Saving data to ...``)
are turned down in ``conf/logging.yml``; these hooks say the same in two short lines per node.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import LOGGING

logger = logging.getLogger(__name__)

#: Libraries that set their own loggers' levels when imported, after Kedro applied the project's
#: logging configuration (kedro-mlflow: INFO; MLflow: INFO and a handler of its own).
SELF_CONFIGURED_LOGGERS = ("kedro_mlflow", "mlflow")


class ConsoleHooks:
    """Node starts and ends with durations, and the run's total."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._total = 0
        self._done = 0
        self._run_started = 0.0

    @hook_impl(tryfirst=True)
    def after_context_created(self) -> None:
        reapply_logger_levels(SELF_CONFIGURED_LOGGERS)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any) -> None:
        with self._lock:
            self._total, self._done, self._started = len(pipeline.nodes), 0, {}
            self._run_started = time.perf_counter()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        with self._lock:
            self._started[node.name] = time.perf_counter()
            position = self._done + len(self._started)
        logger.info("%s: started (%d/%d)", node.name, position, self._total, extra={"markup": False})

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        with self._lock:
            seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
            self._done += 1
            done = self._done
        logger.info("%s: done in %s (%d/%d)", node.name, duration(seconds), done, self._total,
                    extra={"markup": False})

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        with self._lock:
            seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        logger.error("%s: failed after %s", node.name, duration(seconds), extra={"markup": False})

    @hook_impl
    def after_pipeline_run(self) -> None:
        logger.info("all %d nodes done in %s", self._done, duration(time.perf_counter() - self._run_started))


def reapply_logger_levels(names: tuple[str, ...]) -> None:
    """The levels the project's logging configuration (conf/logging.yml) gives ``names``, again."""
    configured = (LOGGING.data or {}).get("loggers") or {}
    for name in names:
        level = (configured.get(name) or {}).get("level")
        if level is not None:
            logging.getLogger(name).setLevel(level)


def duration(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``1 h 02 min``."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
