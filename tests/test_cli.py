"""End to end through the real ``kedro`` command, on a tiny demo, in a copy of the project."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from .conftest import FULL_RUN_PARAMS, TINY_DEMO_PARAMS, kedro_cli
from .models.pretrained_files import basicsr_state, write_basicsr_pth

pytestmark = pytest.mark.slow


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    return kedro_cli(project, *args, timeout=600)


# full_run: the session's one tiny `full` run (tests/conftest.py).


def test_full_pipeline_runs_offline_and_logs_to_mlflow(full_run) -> None:
    project_copy, _ = full_run
    data = project_copy / "data"
    index = pd.read_parquet(data / "02_intermediate" / "frame_index.parquet")
    assert list(index.columns) == ["person", "video", "sequence", "frame", "label", "person_name", "path", "hr_path",
                                   "test_only"]  # the demo's extra test videos, forced to the test side
    assert index["person"].nunique() == 6

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
    assert params["ingestion.demo.people"] == "6"
    metrics = runs[0].data.metrics
    assert metrics["sampling/leakage/train_vs_test_shared_videos"] == 0.0
    # Every name is <stage>/<variant or group>/<metric>: MLflow's charts show a section per stage and
    # variant (the part before the last "/"), and each variant's sections are there.
    stages = {"sampling", "srgan", "upscaling", "classifier", "evaluation"}
    assert {name.split("/")[0] for name in metrics} == stages
    assert all(name.count("/") >= 2 for name in metrics), [n for n in metrics if n.count("/") < 2]
    sections = {name.rsplit("/", 1)[0] for name in metrics}
    variants = ["lr", "bicubic", "srgan", "srgan_other", "srgan_self", "srgan_id", "srgan_pretrained", "clean64", "hr"]
    assert {f"classifier/{v}" for v in variants} | {f"evaluation/{v}" for v in variants} <= sections
    assert {"srgan/srgan", "srgan/srgan_id", "srgan/srgan_id/recogniser", "upscaling/bicubic", "evaluation/srgan_vs_lr",
            "sampling/leakage", "sampling/train"} <= sections
    # The evaluation's numbers on one 0-100 scale: fractions in percent (_pct), the challenge score.
    assert 0 <= metrics["evaluation/lr/sequence_top1_pct"] <= 100 and 0 <= metrics["evaluation/hr/challenge_score"] <= 100
    assert not [n for n in metrics if n.startswith("evaluation/") and "top1" in n and "_pct" not in n and "_p_" not in n]
    # Training curves are metric histories; the comparison and plots are artifacts.
    assert len(client.get_metric_history(runs[0].info.run_id, "srgan/srgan/val_psnr")) >= 2
    assert client.get_metric_history(runs[0].info.run_id, "classifier/hr/val_sequence_top1")
    for name in ("srgan/srgan_id/val_psnr", "srgan/srgan_id/loss_identity", "srgan/srgan_id/recogniser/loss"):
        assert client.get_metric_history(runs[0].info.run_id, name), name
    artifacts = {a.path for folder in ("reports", "plots", "models")
                 for a in client.list_artifacts(runs[0].info.run_id, folder)}
    assert {"reports/comparison.md", "reports/comparison.csv", "plots/confusion_matrices.png",
            "plots/sr_samples_srgan.png", "models/sr_generator_srgan.pt", "models/classifier_srgan.pt",
            "models/sr_generator_srgan_id.pt", "reports/sr_report_srgan_id.json", "models/classifier_srgan_id.pt",
            "models/sr_generator_srgan_other.pt", "models/classifier_srgan_other.pt"} <= artifacts


def test_full_run_compares_every_variant_and_prints_the_table(full_run) -> None:
    project, result = full_run
    reporting = project / "data" / "08_reporting"
    comparison = pd.read_csv(reporting / "comparison.csv")
    assert list(comparison["variant"]) == ["lr", "bicubic", "srgan", "srgan_other", "srgan_self", "srgan_id",
                                           "srgan_pretrained", "clean64", "hr"]
    assert comparison["note"].isna().all(), comparison["note"].tolist()
    for column in ("frame_top1", "frame_top5", "sequence_top1", "sequence_top5"):  # fractions
        assert comparison[column].between(0, 1).all(), comparison[column].tolist()
    assert comparison["challenge_score"].between(0, 100).all()  # points, 100 - 10 * rank
    for name in ("confusion_matrices.png", "training_curves.png", "sr_samples_srgan.png", "metrics.json"):
        assert (reporting / name).stat().st_size > 0
    sr = np.load(project / "data" / "07_model_output" / "srgan_test.npy", mmap_mode="r")
    lr = np.load(project / "data" / "05_model_input" / "lr_test.npy", mmap_mode="r")
    assert sr.shape == (lr.shape[0], 128, 128, 3) and sr.dtype == np.uint8
    # The full table is the markdown file; the console gets its headline (test_full_run_output_is_quiet...).
    markdown = (reporting / "comparison.md").read_text()
    assert "| srgan |" in markdown and "Leakage audit" in markdown
    assert re.search(r"^srgan +\d+\.\d \[", result.stdout, re.M), result.stdout[-3000:]
    # Every comparison carries its uncertainty: intervals per variant, paired differences with p.
    for column in ("sequence_top1_low", "sequence_top1_high", "challenge_score_low", "challenge_score_high"):
        assert comparison[column].notna().all(), column
    assert (comparison["sequence_top1_low"] <= comparison["sequence_top1"]).all()
    assert (comparison["sequence_top1"] <= comparison["sequence_top1_high"]).all()
    differences = pd.read_csv(reporting / "differences.csv")
    assert {"srgan vs lr", "srgan_self vs lr", "clean64 vs lr", "srgan_id vs srgan", "srgan_pretrained vs lr",
            "srgan_pretrained vs bicubic", "srgan_other vs lr", "srgan_other vs bicubic"} <= {f"{a} vs {b}" for a, b in zip(differences["variant"],
                                                                            differences["baseline"])}
    assert (reporting / "differences.png").stat().st_size > 0
    assert "Paired differences" in markdown and "| srgan − lr |" in markdown
    assert re.search(r"^srgan − lr +[+-]\d+\.\d \[", result.stdout, re.M)
    # srgan_id (recognition-aware SR): its own generator and arrays, its paired difference with srgan,
    # its SR PSNR/SSIM in the comparison.
    id_vs_srgan = differences[(differences["variant"] == "srgan_id") & (differences["baseline"] == "srgan")].iloc[0]
    assert pd.isna(id_vs_srgan["note"]) and id_vs_srgan["videos"] > 0
    assert id_vs_srgan["sequence_top1_low"] <= id_vs_srgan["sequence_top1_difference"] <= id_vs_srgan[
        "sequence_top1_high"]
    assert "| srgan_id − srgan |" in markdown and "srgan_id generator (with the identity loss)" in markdown
    sr_id = np.load(project / "data" / "07_model_output" / "srgan_id_test.npy", mmap_mode="r")
    assert sr_id.shape == sr.shape and not np.array_equal(sr_id, sr)
    report_id = json.loads((reporting / "sr_report_srgan_id.json").read_text())
    assert {"val_psnr", "val_ssim", "val_recogniser_top1_sr"} <= set(report_id["val"])
    assert report_id["recogniser"]["source"] == "train"


def test_full_run_output_is_quiet_and_says_what_runs(full_run) -> None:
    from importlib.metadata import entry_points

    assert any(ep.value == "faceless.settings:quiet_library_warnings" for ep in entry_points(group="kedro.init")), \
        "the kedro.init entry point is not installed: reinstall the project (pip install -e .)"
    _, result = full_run
    lines = (result.stdout + result.stderr).splitlines()
    # No warning at all: Kedro's notice about `--pipeline` (the mission's command) is filtered too
    # (faceless.settings.LIBRARY_WARNINGS, through the kedro.init entry point).
    assert not [line for line in lines if "Warning" in line or "WARNING" in line or "warnings.warn" in line]
    # The run ends with the comparison's headline, every line of it within 100 columns (the full
    # table is comparison.md); the MLflow URLs are printed whole, each on a line of its own.
    start = max(i for i, line in enumerate(lines) if line.startswith("faceless: the answer"))
    end = next((i for i, line in enumerate(lines[start:], start)
                if re.search(r"\b(INFO|WARNING|ERROR)\b|http://", line)), len(lines))
    table = lines[start:end]
    assert any(line.startswith("srgan ") for line in table) and any("Holm p" in line for line in table)
    assert max(len(line) for line in table) <= 100, max(table, key=len)
    urls = [line for line in lines if "http://127.0.0.1:5000/#/experiments/" in line]
    assert urls and all(re.fullmatch(r"http://127\.0\.0\.1:5000/#/experiments/\d+/runs\?\S+", url) for url in urls), urls
    # Progress text is never glued to a log line: every record starts its line (after Rich's time
    # column), and no bar text is left in a captured run.
    for line in lines:
        if re.search(r"\b(INFO|WARNING|ERROR)\b", line):
            assert re.match(r"^(\[[\d/: ]+\])?\s*(INFO|WARNING|ERROR)\b", line), line
        assert not re.search(r"\d+%\||it/s|step/s|img/s\]", line), line
    text = "\n".join(lines)
    assert "Loading data from" not in text and "Saving data to" not in text  # catalog chatter: DEBUG level
    assert re.search(r"srgan\.srgan\.train: done in [\d.]+ s \(\d+/\d+\)", text)
    assert "MLflow: creating its tracking store mlflow.db" in text and "Creating initial MLflow database" not in text


def logged_model(project: Path, run_id: str):
    """The run's logged pyfunc model (the predict path), loaded from the project's MLflow store."""
    import mlflow.pyfunc

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        return mlflow.pyfunc.load_model(f"runs:/{run_id}/faceless")
    finally:
        mlflow.set_tracking_uri(previous)


def request_images(frames: np.ndarray) -> list[str]:
    """The documented request input: each frame as a PNG file, base64."""
    images = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        images.append(base64.b64encode(buffer.getvalue()).decode())
    return images


def test_full_run_logs_a_servable_model_and_a_run_that_reads_well(full_run) -> None:
    from mlflow.tracking import MlflowClient

    project, _ = full_run
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("faceless")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on the runs table
    run = client.search_runs([experiment.experiment_id])[0]
    tags = run.data.tags
    assert "run_id" not in tags and tags["kedro.runner"] == "SequentialRunner" and "kedro.session_id" in tags
    assert "| srgan |" in tags["mlflow.note.content"]  # the comparison is the run's description
    model = logged_model(project, run.info.run_id)
    images = request_images(np.load(project / "data" / "05_model_input" / "lr_test.npy")[:6])
    answer = model.predict(pd.DataFrame({"sequence": ["a", "a", "a", "b", "b", "b"], "image": images}))
    people = set(pd.read_parquet(project / "data" / "02_intermediate" / "frame_index.parquet")["person_name"])
    assert list(answer["sequence"]) == ["a", "b"] and list(answer["frames"]) == [3, 3]
    assert set(answer[[f"person_{r}" for r in range(1, 5)]].to_numpy().ravel()) <= people


def test_the_pretrained_variant_is_the_imported_generator_as_it_is(full_run) -> None:
    """srgan_pretrained from the .h5: imported (not trained), its frames upscaled and classified."""
    project, result = full_run
    report = json.loads((project / "data" / "08_reporting" / "sr_report_srgan_pretrained.json").read_text())
    assert report["source"]["format"] == "keras_h5" and report["generator"]["arch"] == "krasserm_srresnet"
    assert report["trained_here"] is False and report["val"]["val_psnr"] > 0
    sr = np.load(project / "data" / "07_model_output" / "srgan_pretrained_test.npy", mmap_mode="r")
    assert sr.shape[1:] == (128, 128, 3)
    markdown = (project / "data" / "08_reporting" / "comparison.md").read_text()
    assert "| srgan_pretrained |" in markdown and "| srgan_pretrained − bicubic |" in markdown
    assert re.search(r"^srgan_pretrained − bicubic +[+-]\d", result.stdout, re.M)


def test_a_basicsr_pth_takes_the_pretrained_row_rerunning_only_what_depends_on_it(full_run, tmp_path) -> None:
    """The same finished run with a BasicSR .pth instead: from the import node on, nothing else retrained."""
    done, _ = full_run
    project = tmp_path / "project"
    shutil.copytree(done, project, ignore=shutil.ignore_patterns("mlflow.db", "mlruns"))
    pth = write_basicsr_pth(project / "data" / "06_models" / "MSRResNet_x4.pth", basicsr_state(4, 1, 4, seed=0))
    result = kedro(project, "run", "--pipeline=full", "--from-nodes=srgan.srgan_pretrained.import", "--env",
                   "controls", "--params", f"{FULL_RUN_PARAMS},variants.srgan_pretrained.import={pth}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "srgan.srgan.train" not in result.stderr + result.stdout and "classifier.lr.train" not in result.stderr
    report = json.loads((project / "data" / "08_reporting" / "sr_report_srgan_pretrained.json").read_text())
    assert report["source"]["format"] == "basicsr_pth" and report["generator"]["arch"] == "msrresnet"
    comparison = pd.read_csv(project / "data" / "08_reporting" / "comparison.csv").set_index("variant")
    row = comparison.loc["srgan_pretrained"]
    assert pd.isna(row["note"]) and row["sequence_top1_low"] <= row["sequence_top1"] <= row["sequence_top1_high"]
    assert "| srgan_pretrained |" in (project / "data" / "08_reporting" / "comparison.md").read_text()
    assert re.search(r"^srgan_pretrained +\d", result.stdout, re.M)


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
    # Quiet: loading the project prints no log record; no stray store: the project's own is read.
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert first.get("outputs", []) == [], first.get("outputs")
    assert not (project / "notebooks" / "mlflow.db").exists() and not (project / "notebooks" / "mlruns").exists()
    # The classifier curves are drawn over the epochs each validation followed.
    curves = next(cell for cell in notebook.cells if "validation sequence top-1" in cell.source)
    assert 'xlabel="epoch (validated after it)"' in curves.source and "steps_per_epoch" in curves.source


def test_default_pipeline_and_new_spelling_are_full(project_copy: Path) -> None:
    # `kedro run` runs full (its nodes are full's: tests/pipelines/test_classifier.py); the new
    # spelling `--pipelines=` selects a registered pipeline, here one that finds the demo already
    # rendered and says so (a second full run would add minutes and test nothing more).
    first = kedro(project_copy, "run", "--params", TINY_DEMO_PARAMS)
    assert first.returncode == 0, first.stderr[-3000:]
    log = first.stdout + first.stderr
    assert "evaluation.compare_variants: done in" in log and "ingestion.scan_frames: done in" in log
    second = kedro(project_copy, "run", "--pipelines=ingestion", "--params", TINY_DEMO_PARAMS)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "already matches the parameters" in log and "ingestion.scan_frames: done in" in log
    assert "classifier." not in log and "evaluation.compare_variants" not in log


def test_config_error_is_one_line_naming_the_parameter(project_copy: Path) -> None:
    result = kedro(project_copy, "run", "--pipeline=full", "--params", "ingestion.source=folder")
    assert result.returncode != 0
    log = (result.stdout + result.stderr).splitlines()
    # One line, no traceback (faceless.hooks): the parameter and what to do are both on it.
    assert log[-1].startswith("Error: ") and not any("Traceback" in line for line in log), log[-20:]
    assert "ingestion.root" in log[-1] and "ingestion.source=folder" in log[-1], log[-1]


def test_viz_build_shows_every_stage(project_copy: Path) -> None:
    """kedro-viz draws the pipelines of the project's conf: conf/local switching variants on adds
    their namespaces (kedro viz build has no --env; conf/local is the default environment)."""
    (project_copy / "conf" / "local" / "parameters.yml").write_text(
        "variants:\n  srgan_self: {enabled: true}\n  clean64: {enabled: true}\n  srgan_id: {enabled: true}\n")
    result = kedro(project_copy, "viz", "build")
    assert result.returncode == 0, result.stderr[-3000:]
    main = json.loads((project_copy / "build" / "api" / "main").read_text())
    pipelines = {p["id"] for p in main["pipelines"]}
    assert {"ingestion", "sampling", "srgan", "upscaling", "classifier", "evaluation", "full",
            "__default__"} <= pipelines
    tasks = {n["full_name"] for n in main["nodes"] if n.get("type") == "task"}
    assert {"ingestion.prepare_source", "ingestion.scan_frames", "sampling.split_frames", "sampling.sample_splits",
            "sampling.load_test_frames", "srgan.srgan.train", "upscaling.srgan.upscale_test",
            "classifier.srgan.train", "evaluation.compare_variants", "srgan.srgan_self.train",
            "upscaling.srgan_self.upscale_test", "upscaling.clean64.downscale_test", "srgan.srgan_id.train",
            "upscaling.srgan_id.upscale_test"} <= tasks
    assert not [name for name in tasks if "srgan_other" in name or "srgan_pretrained" in name]  # off: no node
    # Each stage is a collapsible namespace (each variant one inside it), and datasets sit on the
    # catalog's layers.
    assert {"ingestion", "sampling", "srgan", "upscaling", "classifier", "evaluation",
            "classifier.srgan"} <= set(main["modular_pipelines"])
    layers = {n["name"]: n.get("layer") for n in main["nodes"] if n.get("type") == "data"}
    assert layers["lr_train"] == "primary" and layers["srgan_test"] == "model_input"
    assert layers["sr_generator_srgan"] == "super_resolution" and layers["classifier_srgan"] == "models"
    assert layers["comparison"] == "reporting" and layers["sr_generator_srgan_self"] == "super_resolution"
    assert layers["srgan_self_test"] == layers["clean64_test"] == "model_input"
    # Layers are shown only when data never flows back to an earlier one (kedro-viz sorts them), in
    # every registered pipeline (predict's too: the classifier's input comes after the classifier).
    assert main["layers"] == ["raw", "intermediate", "primary", "super_resolution", "model_input", "models",
                              "model_output", "reporting"]
    assert "circular" not in result.stdout + result.stderr
    for pipeline in pipelines:
        assert json.loads((project_copy / "build" / "api" / "pipelines" / pipeline).read_text())["layers"], pipeline
    predict_layers = json.loads((project_copy / "build" / "api" / "pipelines" / "predict").read_text())["layers"]
    # Its flow: test_index and the source (primary) and the classifier and pooling files (models) both
    # feed the classifier's input (model_output), which feeds the answers (reporting); primary and
    # models are both roots, so kedro-viz may order them either way.
    position = predict_layers.index
    assert max(position("primary"), position("models")) < position("model_output") < position("reporting")
    assert_stages_keep_their_own_datasets(main)


def assert_stages_keep_their_own_datasets(main: dict) -> None:
    """Collapsed, a stage shows outside it only the datasets that cross stages, and its results
    (datasets nothing reads: kedro-viz draws a namespace's free outputs outside it); a dataset made and
    read within one stage is inside that stage's group."""
    nodes = {n["id"]: n for n in main["nodes"]}
    stage = {i: n["full_name"].split(".")[0] for i, n in nodes.items() if n["type"] == "task"}
    producers: dict[str, set[str]] = {}
    consumers: dict[str, set[str]] = {}
    for edge in main["edges"]:
        source, target = edge["source"], edge["target"]
        if source in stage and nodes.get(target, {}).get("type") == "data":
            producers.setdefault(target, set()).add(stage[source])
        if target in stage and nodes.get(source, {}).get("type") == "data":
            consumers.setdefault(source, set()).add(stage[target])
    data = {i for i, n in nodes.items() if n["type"] == "data"}
    crossing = {i for i in data if len(producers.get(i, set()) | consumers.get(i, set())) > 1}
    results = {i for i in data if i not in consumers}
    tree = main["modular_pipelines"]
    outside = {c["id"] for c in tree["__root__"]["children"] if c["type"] == "data"}
    assert outside == crossing | results, sorted(nodes[i]["name"] for i in outside ^ (crossing | results))

    def inside(group: str) -> set[str]:
        children = tree[group]["children"]
        return {c["id"] for c in children} | {i for c in children if c["type"] == "modularPipeline" for i in inside(c["id"])}

    own = data - outside
    assert {nodes[i]["name"] for i in own} >= {"source_info", "split_index", "split_info", "evaluation_lr"}
    for i in own:
        (home,) = producers[i]
        assert i in inside(home), (nodes[i]["name"], home)


def test_a_variant_added_by_conf_alone_gets_its_row(project_copy: Path) -> None:
    """srgan_l1: srgan's recipe with an L1 pixel loss and no adversarial stage, declared in conf/local
    alone (the copy's src/ is empty: the package is the installed one, unchanged), trains its
    generator, upscales every side, trains its classifier and gets its row with numbers and its
    declared comparisons."""
    (project_copy / "conf" / "local" / "parameters.yml").write_text(
        "variants:\n"
        "  bicubic: {enabled: false}\n"
        "  hr: {enabled: false}\n"
        "  srgan_l1:\n"
        "    enabled: true\n"
        "    input: generator\n"
        "    pairs: auto\n"
        "    recipe: {pretrain_losses: [{type: l1, weight: 1.0}], gan_steps: 0}\n"
        "evaluation:\n"
        "  comparisons: [[srgan, lr], [srgan_l1, lr], [srgan_l1, srgan]]\n")
    result = kedro(project_copy, "run", "--params", TINY_DEMO_PARAMS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list((project_copy / "src").iterdir())
    log = result.stdout + result.stderr
    assert "srgan.srgan_l1.train: done in" in log and "classifier.srgan_l1.train: done in" in log
    assert "classifier.bicubic" not in log and "classifier.hr" not in log  # switched off: no node at all
    reporting = project_copy / "data" / "08_reporting"
    comparison = pd.read_csv(reporting / "comparison.csv").set_index("variant")
    assert list(comparison.index) == ["lr", "srgan", "srgan_l1"]
    row = comparison.loc["srgan_l1"]
    assert pd.isna(row["note"]) and 0 <= row["sequence_top1"] <= 1 and row["test_sequences"] > 0
    differences = pd.read_csv(reporting / "differences.csv")
    assert [f"{a} - {b}" for a, b in zip(differences["variant"], differences["baseline"])] == [
        "srgan - lr", "srgan_l1 - lr", "srgan_l1 - srgan"]
    report = json.loads((reporting / "sr_report_srgan_l1.json").read_text())
    assert report["params"]["pretrain_losses"] == [{"type": "l1", "weight": 1.0}]
    assert report["params"]["gan_steps"] == 0 and report["steps"]["gan"] == 0
    srgan = json.loads((reporting / "sr_report_srgan.json").read_text())
    assert srgan["params"]["gan_steps"] == 2 and srgan["params"]["pretrain_losses"][0]["type"] == "mse"
    assert "| srgan_l1 |" in (reporting / "comparison.md").read_text()
    assert re.search(r"^srgan_l1 +\d", result.stdout, re.M)
