"""End to end through the real ``kedro`` command, on a tiny demo, in a copy of the project."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import TINY_DEMO_PARAMS, make_project_copy

pytestmark = pytest.mark.slow


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env["COLUMNS"] = "250"  # wide enough that Rich does not wrap a log line (node names are checked)
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real `kedro run --pipeline=full` on the tiny demo, with srgan_id (recognition-aware SR) on,
    shared by the tests that inspect it."""
    project = make_project_copy(tmp_path_factory.mktemp("full") / "project")
    result = kedro(project, "run", "--pipeline=full", "--params", TINY_DEMO_PARAMS + ",srgan.id_variant=true")
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


def test_full_pipeline_runs_offline_and_logs_to_mlflow(full_run) -> None:
    project_copy, _ = full_run
    data = project_copy / "data"
    index = pd.read_parquet(data / "02_intermediate" / "frame_index.parquet")
    assert list(index.columns) == ["person", "video", "sequence", "frame", "label", "person_name", "path", "hr_path"]
    assert index["person"].nunique() == 4

    report = json.loads((data / "08_reporting" / "sampling_report.json").read_text())
    assert report["leakage_split"]["train_vs_test"]["videos"] == 0
    for side in ("train", "test"):
        counts = {p["frames"] for p in report["sides"][side]["per_person"].values()}
        assert len(counts) == 1, f"{side} per-person counts differ: {counts}"
    lr_train = np.load(data / "05_model_input" / "lr_train.npy", mmap_mode="r")
    hr_train = np.load(data / "05_model_input" / "hr_train.npy", mmap_mode="r")
    assert lr_train.dtype == np.uint8 and lr_train.shape[1:] == (32, 32, 3)
    assert hr_train.shape == (lr_train.shape[0], 128, 128, 3)
    assert lr_train.shape[0] == report["sides"]["train"]["frames"]

    # One MLflow run in the project's sqlite store, with the sampling parameters flattened.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faceless")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    params = runs[0].data.params
    assert params["sampling.split_by"] == "video"
    assert params["ingestion.demo.people"] == "4"
    assert runs[0].data.metrics["sampling.leakage.train_vs_test.shared_videos"] == 0.0
    # Training curves are metric histories; the comparison and plots are artifacts.
    assert len(client.get_metric_history(runs[0].info.run_id, "srgan.val_psnr")) >= 2
    assert client.get_metric_history(runs[0].info.run_id, "classifier.hr.val_sequence_top1")
    for name in ("srgan_id.val_psnr", "srgan_id.loss_identity", "srgan_id.recogniser.loss", "srgan_id.final.val_psnr"):
        assert client.get_metric_history(runs[0].info.run_id, name), name
    artifacts = {a.path for folder in ("reports", "plots", "models")
                 for a in client.list_artifacts(runs[0].info.run_id, folder)}
    assert {"reports/comparison.md", "reports/comparison.csv", "plots/confusion_matrices.png",
            "plots/sr_samples.png", "models/sr_generator.pt", "models/classifier_srgan.pt",
            "models/sr_generator_id.pt", "reports/sr_report_id.json", "models/classifier_srgan_id.pt"} <= artifacts


def test_full_run_compares_every_variant_and_prints_the_table(full_run) -> None:
    project, result = full_run
    reporting = project / "data" / "08_reporting"
    comparison = pd.read_csv(reporting / "comparison.csv")
    assert list(comparison["variant"]) == ["lr", "bicubic", "srgan", "srgan_self", "srgan_id", "clean64", "hr"]
    assert comparison["note"].isna().all(), comparison["note"].tolist()
    for column in ("frame_top1", "frame_top5", "sequence_top1", "sequence_top5"):  # fractions
        assert comparison[column].between(0, 1).all(), comparison[column].tolist()
    assert comparison["challenge_score"].between(0, 100).all()  # points, 100 - 10 * rank
    for name in ("confusion_matrices.png", "training_curves.png", "sr_samples.png", "metrics.json"):
        assert (reporting / name).stat().st_size > 0
    sr = np.load(project / "data" / "07_model_output" / "sr_test.npy", mmap_mode="r")
    lr = np.load(project / "data" / "05_model_input" / "lr_test.npy", mmap_mode="r")
    assert sr.shape == (lr.shape[0], 128, 128, 3) and sr.dtype == np.uint8
    assert "| srgan |" in result.stdout and "Leakage audit" in result.stdout
    # Every comparison carries its uncertainty: intervals per variant, paired differences with p.
    for column in ("sequence_top1_low", "sequence_top1_high", "challenge_score_low", "challenge_score_high"):
        assert comparison[column].notna().all(), column
    assert (comparison["sequence_top1_low"] <= comparison["sequence_top1"]).all()
    assert (comparison["sequence_top1"] <= comparison["sequence_top1_high"]).all()
    differences = pd.read_csv(reporting / "differences.csv")
    assert {"srgan vs lr", "srgan_self vs lr", "clean64 vs lr", "srgan_id vs srgan"} <= {
        f"{a} vs {b}" for a, b in zip(differences["variant"], differences["baseline"])}
    assert (reporting / "differences.png").stat().st_size > 0
    assert "Paired differences" in result.stdout and "| srgan − lr |" in result.stdout
    # srgan_id (recognition-aware SR): its own generator and arrays, its paired difference with srgan,
    # its SR PSNR/SSIM in the comparison.
    id_vs_srgan = differences[(differences["variant"] == "srgan_id") & (differences["baseline"] == "srgan")].iloc[0]
    assert pd.isna(id_vs_srgan["note"]) and id_vs_srgan["videos"] > 0
    assert id_vs_srgan["sequence_top1_low"] <= id_vs_srgan["sequence_top1_difference"] <= id_vs_srgan[
        "sequence_top1_high"]
    assert "| srgan_id − srgan |" in result.stdout and "srgan_id generator (with the identity loss)" in result.stdout
    sr_id = np.load(project / "data" / "07_model_output" / "sr_id_test.npy", mmap_mode="r")
    assert sr_id.shape == sr.shape and not np.array_equal(sr_id, sr)
    report_id = json.loads((reporting / "sr_report_id.json").read_text())
    assert {"val_psnr", "val_ssim", "val_recogniser_top1_sr"} <= set(report_id["val"])
    assert report_id["recogniser"]["source"] == "train"


def test_notebook_runs_top_to_bottom_on_a_finished_run(full_run) -> None:
    import nbformat
    from nbclient import NotebookClient

    project, _ = full_run
    notebook = nbformat.read(project / "notebooks" / "explore_run.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(project / "notebooks")}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_default_pipeline_and_new_spelling_are_full(project_copy: Path) -> None:
    # `kedro run` and `--pipelines=full` run the same nodes as `--pipeline=full`; the second run
    # finds the demo already rendered and says so.
    first = kedro(project_copy, "run", "--params", TINY_DEMO_PARAMS)
    assert first.returncode == 0, first.stderr[-3000:]
    second = kedro(project_copy, "run", "--pipelines=full", "--params", TINY_DEMO_PARAMS)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already matches the parameters" in second.stdout + second.stderr
    for out in (first, second):
        log = out.stdout + out.stderr
        assert "Completed node: evaluation.compare_variants" in log and "Completed node: ingestion.scan_frames" in log


def test_config_error_is_one_line_naming_the_parameter(project_copy: Path) -> None:
    result = kedro(project_copy, "run", "--pipeline=full", "--params", "ingestion.source=folder")
    assert result.returncode != 0
    log = (result.stdout + result.stderr).splitlines()
    errors = [line for line in log if "ConfigError:" in line]
    assert errors, log[-20:]
    # The whole message is on that line: the parameter and what to do are both on it.
    assert "ingestion.root" in errors[-1] and "ingestion.source=folder" in errors[-1], errors[-1]


def test_viz_build_shows_every_stage(project_copy: Path) -> None:
    result = kedro(project_copy, "viz", "build")
    assert result.returncode == 0, result.stderr[-3000:]
    main = json.loads((project_copy / "build" / "api" / "main").read_text())
    pipelines = {p["id"] for p in main["pipelines"]}
    assert {"ingestion", "sampling", "srgan", "upscaling", "classifier", "evaluation", "full",
            "__default__"} <= pipelines
    tasks = {n["full_name"] for n in main["nodes"] if n.get("type") == "task"}
    assert {"ingestion.prepare_source", "ingestion.scan_frames", "sampling.split_frames", "sampling.sample_splits",
            "sampling.load_test_frames", "srgan.train_srgan", "upscaling.upscale_sr_test",
            "classifier.train_classifier_srgan", "evaluation.compare_variants", "srgan.train_srgan_self",
            "upscaling.upscale_sr_self_test", "upscaling.make_clean64_test", "srgan.train_srgan_id",
            "upscaling.upscale_sr_id_test"} <= tasks
    # Each stage is a collapsible namespace, and datasets sit on the catalog's layers.
    assert {"ingestion", "sampling", "srgan", "upscaling", "classifier", "evaluation"} <= set(main["modular_pipelines"])
    layers = {n["name"]: n.get("layer") for n in main["nodes"] if n.get("type") == "data"}
    assert layers["lr_train"] == "primary" and layers["sr_test"] == "model_input"
    assert layers["sr_generator"] == "super_resolution" and layers["classifier_srgan"] == "models"
    assert layers["comparison"] == "reporting" and layers["sr_generator_self"] == "super_resolution"
    assert layers["sr_self_test"] == layers["clean64_test"] == "model_input"
    # Layers are shown only when data never flows back to an earlier one (kedro-viz sorts them).
    assert main["layers"] == ["raw", "intermediate", "primary", "super_resolution", "model_input", "models",
                              "model_output", "reporting"]
