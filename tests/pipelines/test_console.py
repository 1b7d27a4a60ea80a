"""The console hooks: one line when a node starts, one when it ends with its time; and the levels of
libraries that reset their loggers on import put back to conf/logging.yml's."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import yaml

from faceless.pipelines import console
from faceless.pipelines.console import ConsoleHooks, duration, reapply_logger_levels

from ..conftest import PROJECT_ROOT


def test_durations_read_as_a_person_would_write_them():
    assert duration(0.4213) == "0.42 s"
    assert duration(12.34) == "12.3 s"
    assert duration(245) == "4 min 05 s"
    assert duration(3720) == "1 h 02 min"


def test_each_node_starts_and_ends_with_its_duration(caplog):
    hooks = ConsoleHooks()
    nodes = [SimpleNamespace(name="ingestion.scan_frames"), SimpleNamespace(name="sampling.split_frames")]
    caplog.set_level(logging.INFO, logger="faceless.pipelines.console")
    hooks.before_pipeline_run(run_params={}, pipeline=SimpleNamespace(nodes=nodes))
    for node in nodes:
        hooks.before_node_run(node=node)
        hooks.after_node_run(node=node)
    hooks.after_pipeline_run()
    lines = [r.getMessage() for r in caplog.records if r.name == "faceless.pipelines.console"]
    assert lines[0] == "ingestion.scan_frames: started (1/2)"
    assert lines[1].startswith("ingestion.scan_frames: done in ") and lines[1].endswith(" s (1/2)")
    assert lines[2] == "sampling.split_frames: started (2/2)"
    assert lines[4].startswith("all 2 nodes done in ")


def test_logger_levels_come_back_from_the_project_logging_config(monkeypatch):
    config = yaml.safe_load((PROJECT_ROOT / "conf" / "logging.yml").read_text())
    monkeypatch.setattr(console, "LOGGING", SimpleNamespace(data=config))
    library = logging.getLogger("kedro_mlflow")
    before = library.level
    try:
        library.setLevel(logging.INFO)  # what kedro_mlflow/__init__.py does on import
        reapply_logger_levels(("kedro_mlflow", "not_configured"))
        assert library.level == logging.getLevelName(config["loggers"]["kedro_mlflow"]["level"]) == logging.WARNING
    finally:
        library.setLevel(before)
