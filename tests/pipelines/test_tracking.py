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


def test_metrics_land_in_the_active_mlflow_run_with_their_steps(mlflow_uri):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = mlflow_uri
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


# --- the project's MLflow hooks ---------------------------------------------------------------
def test_runner_repr_becomes_its_class_name():
    from faceless.pipelines.tracking import runner_name

    assert runner_name("<kedro.runner.sequential_runner.SequentialRunner object at 0x7fded8b33ed0>") == \
        "SequentialRunner"
    assert runner_name("ThreadRunner") == "ThreadRunner"


def test_run_description_is_cut_at_a_line_within_the_tag_limit():
    from faceless.pipelines.tracking import MAX_TAG_LENGTH, run_description

    short = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert run_description(short) == short
    long = "".join(f"| row {i} | {'x' * 60} |\n" for i in range(400))
    cut = run_description(long)
    assert len(cut) <= MAX_TAG_LENGTH and cut.startswith("| row 0 |")
    assert cut.rstrip().endswith("reports/comparison.md)")
    body = cut.split("\n\n... (cut here")[0]
    assert all(line.endswith("|") for line in body.splitlines())  # whole lines only


def test_hooks_mark_the_experiment_rename_tags_and_describe_the_run(mlflow_uri):
    import mlflow
    from mlflow.tracking import MlflowClient

    from faceless.pipelines.tracking import MlflowRunHooks

    uri = mlflow_uri
    client = MlflowClient(uri)
    experiment = client.create_experiment("made_before")  # as an older kedro-mlflow run left it: no kind
    runner = "<kedro.runner.sequential_runner.SequentialRunner object at 0x7f00>"
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.set_tags({"run_id": "2026-11-30T21.59.41.981Z", "runner": runner, "env": "local"})  # as kedro-mlflow
        hooks = MlflowRunHooks()
        hooks.before_pipeline_run(run_params={"runner": runner})
        hooks.after_node_run(outputs={"comparison_md": "## table\n| a |\n"})
        hooks.after_node_run(outputs={"other": 1})
    assert client.get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    tags = client.get_run(run.info.run_id).data.tags
    assert "run_id" not in tags and "runner" not in tags
    assert tags["kedro.session_id"] == "2026-11-30T21.59.41.981Z" and tags["kedro.runner"] == "SequentialRunner"
    assert tags["env"] == "local" and tags["mlflow.note.content"] == "## table\n| a |\n"


def test_the_headline_metrics_become_a_saved_runs_view_and_its_url_opens_the_training_mode(mlflow_uri, caplog,
                                                                                            capsys):
    import json

    import mlflow
    from mlflow.tracking import MlflowClient

    from faceless.pipelines.tracking import MlflowRunHooks

    uri = mlflow_uri
    client = MlflowClient(uri)
    experiment = client.create_experiment("views")
    # As the evaluation saves them: variants in conf's order (not alphabetical), fractions in percent.
    saved = {"lr/sequence_top1_pct": {"value": 50.0, "step": 0}, "lr/frame_top1_pct": {"value": 40.0, "step": 0},
             "lr/challenge_score": {"value": 70.0, "step": 0}, "bicubic/sequence_top1_pct": {"value": 25.0, "step": 0},
             "srgan/challenge_score": {"value": 80.0, "step": 0},
             "srgan_vs_lr/sequence_top1_pct_difference": {"value": 10.0, "step": 0}}
    hooks = MlflowRunHooks()
    hooks._ui = "http://127.0.0.1:5000"  # as after_context_created reads it from mlflow.yml
    caplog.set_level(logging.INFO, logger="faceless")
    with mlflow.start_run(experiment_id=experiment):
        # as the catalog's StageMetricsDataset logs them, under evaluation/
        mlflow.log_metrics({f"evaluation/{k}": v["value"] for k, v in saved.items()}, step=0)
        hooks.before_pipeline_run(run_params={})  # no view yet: the plain runs URL
        hooks.after_dataset_saved(dataset_name="other", data=saved)
        assert not any(k.startswith("mlflow.sharedViewState.") for k in client.get_experiment(experiment).tags)
        hooks.after_dataset_saved(dataset_name="evaluation_metrics", data=saved)
        hooks.before_pipeline_run(run_params={})  # a later run: the URL opens the view
    envelope = json.loads(client.get_experiment(experiment).tags["mlflow.sharedViewState.faceless-headline"])
    assert envelope["name"] == "faceless: headline metrics" and isinstance(envelope["createdAt"], int)
    columns = ["metrics.`evaluation/lr/sequence_top1_pct`", "metrics.`evaluation/bicubic/sequence_top1_pct`",
               "metrics.`evaluation/lr/challenge_score`", "metrics.`evaluation/srgan/challenge_score`"]
    state = json.loads(envelope["state"])
    # MLflow's table would list them alphabetically: the view gives their order, each wide enough for its name.
    assert state["selectedColumns"] == state["columnOrder"] == columns
    assert list(state["columnWidths"]) == columns
    assert all(width >= 6.1 * len(c.split("`")[1]) + 24 for c, width in state["columnWidths"].items())
    logged = MlflowClient(uri).search_runs([experiment])[0].data.metrics
    assert all(logged[c.split("`")[1]] <= 100 for c in columns)
    # Each URL on a line of its own, whole (a log record would be wrapped at the terminal's width).
    assert not [m for m in caplog.messages if "http://" in m]
    urls = [line for line in capsys.readouterr().out.splitlines() if "http://" in line]
    base = f"http://127.0.0.1:5000/#/experiments/{experiment}/runs?workflowType=machine_learning"
    assert urls == [base, base + "&viewStateShareKey=faceless-headline", base + "&viewStateShareKey=faceless-headline"]


def test_a_url_is_printed_on_one_line_in_an_80_column_terminal(capsys, monkeypatch):
    import rich
    from rich.console import Console

    from faceless.pipelines.tracking import print_unbroken

    monkeypatch.setattr(rich, "_console", Console(width=80, force_terminal=True, color_system=None))
    url = "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=faceless-headline"
    print_unbroken(url)
    assert capsys.readouterr().out == url + "\n"


def test_the_ui_address_comes_from_mlflow_yml(tmp_path):
    from types import SimpleNamespace

    from faceless.pipelines.tracking import ui_address

    class Loader(dict):
        config_patterns: dict = {}

    def context(mlflow):
        return SimpleNamespace(project_path=tmp_path, config_loader=Loader(mlflow=mlflow))

    assert ui_address(context({"ui": {"host": "127.0.0.1", "port": "5000"}})) == "http://127.0.0.1:5000"
    assert ui_address(context({"server": {}})) is None


def test_without_an_active_run_the_hooks_do_nothing():
    import mlflow

    from faceless.pipelines.tracking import MlflowRunHooks

    assert mlflow.active_run() is None
    MlflowRunHooks().before_pipeline_run(run_params={})
    MlflowRunHooks().after_node_run(outputs={"comparison_md": "x"})
    MlflowRunHooks().after_dataset_saved(dataset_name="evaluation_metrics", data={"lr.sequence_top1": 1.0})


def test_a_new_sqlite_store_is_announced_an_existing_one_is_not(tmp_path):
    from types import SimpleNamespace

    from faceless.pipelines.tracking import new_sqlite_store

    class Loader(dict):
        config_patterns: dict = {}

    def context(uri):
        return SimpleNamespace(project_path=tmp_path, config_loader=Loader(mlflow={"server": {"mlflow_tracking_uri": uri}}))

    assert new_sqlite_store(context("sqlite:///mlflow.db")) == tmp_path / "mlflow.db"
    (tmp_path / "mlflow.db").touch()
    assert new_sqlite_store(context("sqlite:///mlflow.db")) is None
    assert new_sqlite_store(context("http://127.0.0.1:5000")) is None
