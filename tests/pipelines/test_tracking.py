"""The MLflow tracker nodes hand to the engines."""
from __future__ import annotations

import logging

import pytest

from faceless.pipelines.tracking import MlflowTracker
from faceless.training.loop import LoopConfig, run_loop


def test_without_an_active_run_it_is_a_silent_no_op(caplog):
    import mlflow

    assert mlflow.active_run() is None
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    MlflowTracker().log_metrics({"loss": 1.0, "nan": float("nan")}, step=3)
    assert [r for r in caplog.records if r.name.startswith("faceless")] == []


def test_metrics_land_in_the_active_mlflow_run_with_their_steps(tmp_path, monkeypatch):
    import mlflow
    import mlflow.tracking._tracking_service.utils as tracking_utils
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/m.db"
    # set_tracking_uri sets a module global and MLFLOW_TRACKING_URI; monkeypatch puts both back
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:
        MlflowTracker().log_metrics({"p.direct": 2.5, "p.skipped": float("inf")}, step=11)
        run_loop(LoopConfig(steps=4, eval_every=2, checkpoint_every=0, checkpoint_dir=None, resume=True, log_every=2,
                            metric_prefix="t."),
                 lambda step: {"loss": 1.0 / (step + 1)}, dict, lambda state: None,
                 lambda step: {"metric": step / 10}, tracker=MlflowTracker())
    client = MlflowClient(tracking_uri=uri)
    direct = client.get_metric_history(run.info.run_id, "p.direct")
    assert [(m.step, m.value) for m in direct] == [(11, 2.5)]
    assert client.get_metric_history(run.info.run_id, "p.skipped") == []
    losses = client.get_metric_history(run.info.run_id, "t.loss")
    assert sorted((m.step, m.value) for m in losses) == [(2, pytest.approx(0.5)), (4, pytest.approx(0.25))]
    evals = client.get_metric_history(run.info.run_id, "t.metric")
    assert sorted((m.step, m.value) for m in evals) == [(2, pytest.approx(0.2)), (4, pytest.approx(0.4))]
