"""Issue 29, item 6 (the issue's item 7): a run killed mid-way is not left RUNNING in MLflow: each
run records its pid and host as tags; the next run marks the RUNNING runs of this host whose process
is gone as KILLED. A live one, or one of another host, is left alone."""
from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest

from faceless.hooks import PID_TAG, HOST_TAG, ProjectHooks, mark_killed_runs

from .test_hardening_files import dead_pid


@pytest.fixture
def client(tmp_path, monkeypatch):
    import mlflow.tracking._tracking_service.utils as tracking_utils
    from mlflow.tracking import MlflowClient

    # a URI an earlier test set with mlflow.set_tracking_uri would outrank the environment: none here
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_runs_whose_process_is_gone_are_marked_killed(client):
    experiment = client.create_experiment("faceless")
    here = socket.gethostname()
    runs = {name: client.create_run(experiment, tags={PID_TAG: str(pid), HOST_TAG: host}).info.run_id
            for name, pid, host in [("killed", dead_pid(), here), ("alive", os.getpid(), here),
                                    ("elsewhere", dead_pid(), "another-host"), ("untagged", None, None)]}
    client.set_tag(runs["untagged"], "note", "from an older version")
    assert mark_killed_runs(client) == [runs["killed"]]
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {"killed": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING"}
    assert client.get_run(runs["killed"]).info.end_time is not None
    assert mark_killed_runs(client) == []  # once


def test_a_run_records_its_pid_and_host_at_its_first_node(client, tmp_path):
    import mlflow

    hooks = ProjectHooks()
    with mlflow.start_run() as run:
        hooks.before_node_run()
        hooks.before_node_run()
    tags = client.get_run(run.info.run_id).data.tags
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname()


def test_the_run_start_marks_killed_runs_before_its_own(client, tmp_path):
    from .test_hardening_hooks import catalog_with, conf_parameters, hooks_in, needs

    experiment = client.create_experiment("faceless")
    killed = client.create_run(experiment, tags={PID_TAG: str(dead_pid()), HOST_TAG: socket.gethostname()})
    (tmp_path / "project").mkdir()
    project_hooks = hooks_in(tmp_path / "project")
    project_hooks.before_pipeline_run({}, needs("params:srgan"), catalog_with(conf_parameters()))
    project_hooks.after_pipeline_run()
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
