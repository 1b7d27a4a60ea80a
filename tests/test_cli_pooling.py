"""End to end with ``pooling.method=attention`` (issue 28): the real ``kedro run --pipeline=full`` on the
tiny demo with frames of mixed quality, in a copy of the project; the comparison's pooled rows and
pairs, the pooling files in the run, then ``predict`` and the served model answering with the heads
(and ``predict`` by the mean where a run left no pooling file)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import TINY_DEMO_PARAMS, make_project_copy
from .test_cli import kedro, logged_model, request_images

pytestmark = pytest.mark.slow

#: conf/base's variants, each followed by its pooled row.
ROWS = ["lr", "lr:attention", "bicubic", "bicubic:attention", "srgan", "srgan:attention", "hr", "hr:attention"]
POOLED_PAIRS = [("lr:attention", "lr"), ("srgan:attention", "srgan"), ("srgan:attention", "lr:attention")]


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    project = make_project_copy(tmp_path_factory.mktemp("pooling") / "project")
    result = kedro(project, "run", "--pipeline=full", "--params",
                   f"{TINY_DEMO_PARAMS},ingestion.demo.frame_corruption=0.5,pooling.method=attention,"
                   "pooling.steps=20,pooling.eval_every_steps=10")
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


def test_every_variant_has_its_attention_row_and_the_pooled_pairs_run(pooled_run) -> None:
    project, result = pooled_run
    reporting = project / "data" / "08_reporting"
    comparison = pd.read_csv(reporting / "comparison.csv").set_index("variant")
    assert list(comparison.index) == ROWS and comparison["note"].isna().all(), comparison["note"].tolist()
    for variant in ("lr", "bicubic", "srgan", "hr"):
        own, pooled = comparison.loc[variant], comparison.loc[f"{variant}:attention"]
        assert own["frame_top1"] == pooled["frame_top1"] and own["test_sequences"] == pooled["test_sequences"]
        assert pooled["sequence_top1_low"] <= pooled["sequence_top1"] <= pooled["sequence_top1_high"]
        assert pooled["train_seconds"] > own["train_seconds"]
    differences = pd.read_csv(reporting / "differences.csv").set_index(["variant", "baseline"])
    for pair in POOLED_PAIRS + [("srgan", "lr")]:
        row = differences.loc[pair]
        assert pd.isna(row["note"]) and row["sequence_top1_low"] <= row["sequence_top1_difference"] <= row[
            "sequence_top1_high"], pair
        assert row["sequence_top1_p"] <= row["sequence_top1_p_adjusted"] <= 1
    markdown = (reporting / "comparison.md").read_text()
    assert "| lr:attention |" in markdown and "| srgan:attention − lr:attention |" in markdown
    assert any(line.startswith("lr:attention ") for line in result.stdout.splitlines())
    # The pooling files and reports, and the run's MLflow record of them.
    report = json.loads((reporting / "pooling_report_srgan.json").read_text())
    assert report["method"] == "attention" and report["seeds"][0]["kept_step"] == 20
    assert (project / "data" / "06_models" / "pooling_srgan.pt").stat().st_size > 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("faceless").experiment_id])[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "classifier/lr/pooling/loss")] == [10, 20]
    assert "evaluation/lr:attention/sequence_top1_pct" in run.data.metrics
    assert "evaluation/srgan:attention_vs_lr:attention/sequence_top1_p_adjusted" in run.data.metrics
    assert "models/pooling_srgan.pt" in {a.path for a in client.list_artifacts(run.info.run_id, "models")}


def test_predict_and_the_served_model_answer_with_the_runs_heads(pooled_run) -> None:
    project, _ = pooled_run
    reporting = project / "data" / "08_reporting"
    result = kedro(project, "run", "--pipeline=predict")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((reporting / "predict_report.json").read_text())
    assert report["pooling"] == "attention" and report["variant"] == "srgan" and "challenge_score" in report
    serving = json.loads((reporting / "serving_report.json").read_text())
    assert serving["pooling"] == "attention"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("faceless").experiment_id],
                              order_by=["attributes.start_time ASC"])
    model = logged_model(project, runs[0].info.run_id)
    assert model.unwrap_python_model().pooling["method"] == "attention"
    images = request_images(np.load(project / "data" / "05_model_input" / "lr_test.npy")[:6])
    answer = model.predict(pd.DataFrame({"sequence": ["a"] * 3 + ["b"] * 3, "image": images}))
    assert list(answer["sequence"]) == ["a", "b"] and list(answer["frames"]) == [3, 3]
    # A project whose run left no pooling file (one from before them): predict pools by the mean.
    (project / "data" / "06_models" / "pooling_srgan.pt").unlink()
    result = kedro(project, "run", "--pipeline=predict")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((reporting / "predict_report.json").read_text())
    assert "pooling" not in report and report["sequences"] > 0
