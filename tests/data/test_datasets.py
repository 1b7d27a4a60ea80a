"""Tests for faceless.data.datasets.NpyArrayDataset."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

try:
    import faceless  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from faceless.data.datasets import NpyArrayDataset


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_round_trip_is_memory_mapped_by_default(tmp_path):
    target = tmp_path / "nested" / "deeper" / "frames.npy"  # parents do not exist yet
    data = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    dataset = NpyArrayDataset(filepath=str(target))

    assert not dataset.exists()
    dataset.save(data)
    loaded = dataset.load()

    assert dataset.exists()
    assert isinstance(loaded, np.memmap)
    assert loaded.dtype == np.uint8 and loaded.shape == data.shape
    assert np.array_equal(loaded, data)
    assert files_in(target.parent) == ["frames.npy"]  # no temporary file left behind


def test_plain_load_and_overwrite(tmp_path):
    target = tmp_path / "labels.npy"
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode=None)
    dataset.save([1, 2, 3])  # array-likes are accepted
    dataset.save(np.array([4.5, 6.5]))

    loaded = dataset.load()
    assert not isinstance(loaded, np.memmap)
    assert loaded.tolist() == [4.5, 6.5]
    assert files_in(tmp_path) == ["labels.npy"]


def test_empty_array_round_trips_memory_mapped(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "none.npy"))
    dataset.save(np.empty((0, 8, 8, 3), dtype=np.uint8))
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap) and Path(loaded.filename) == tmp_path / "none.npy"
    assert loaded.shape == (0, 8, 8, 3) and loaded.dtype == np.uint8


def test_object_array_fails_and_leaves_no_file(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "bad.npy"))
    with pytest.raises(DatasetError):
        dataset.save(np.array([{"a": 1}, None], dtype=object))
    assert files_in(tmp_path) == []


def test_crash_mid_save_keeps_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "frames.npy"
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode=None)
    dataset.save(np.zeros(4))

    def write_half_then_crash(handle, array, allow_pickle=True):
        handle.write(b"\x93NUMPY half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", write_half_then_crash)
    with pytest.raises(DatasetError, match="disk full"):
        dataset.save(np.ones(4))

    assert files_in(tmp_path) == ["frames.npy"]
    assert dataset.load().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_crash_on_first_save_leaves_no_final_file(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "save", lambda *args, **kwargs: 1 / 0)
    dataset = NpyArrayDataset(filepath=str(tmp_path / "frames.npy"))
    with pytest.raises(DatasetError):
        dataset.save(np.ones(4))
    assert files_in(tmp_path) == []


def test_describe_and_catalog_config(tmp_path):
    target = tmp_path / "x.npy"
    catalog = DataCatalog.from_config(
        {
            "frames": {
                "type": "faceless.data.datasets.NpyArrayDataset",
                "filepath": str(target),
                "mmap_mode": "c",
                "metadata": {"owner": "ingestion"},
            }
        }
    )
    catalog.save("frames", np.eye(3))
    assert np.array_equal(catalog.load("frames"), np.eye(3))
    dataset = NpyArrayDataset(filepath=str(target), mmap_mode="c")
    assert "mmap_mode='c'" in repr(dataset) and "x.npy" in repr(dataset)


def test_invalid_mmap_mode_is_rejected():
    with pytest.raises(ValueError, match="mmap_mode"):
        NpyArrayDataset(filepath="x.npy", mmap_mode="w+")


# publishing a memory-mapped .npy by a hard link ----------------------------------------------
def saved_npy(path: Path, data: np.ndarray) -> Path:
    np.save(path, data)
    return path


def frames(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["r", "r+"])
def test_a_whole_memmapped_npy_is_published_by_a_hard_link(tmp_path, mode):
    source = saved_npy(tmp_path / "cache.npy", frames())
    target = tmp_path / "out" / "srgan_train.npy"
    dataset = NpyArrayDataset(filepath=str(target))
    dataset.save(np.load(source, mmap_mode=mode))

    assert target.stat().st_ino == source.stat().st_ino
    assert source.stat().st_nlink == 2
    assert np.array_equal(dataset.load(), frames())
    assert files_in(target.parent) == ["srgan_train.npy"]  # no temporary link left behind


def test_a_fortran_ordered_npy_is_linked_and_loads_equal(tmp_path):
    data = np.asfortranarray(np.arange(24, dtype=np.int32).reshape(4, 6))
    source = saved_npy(tmp_path / "f.npy", data)
    target = tmp_path / "linked.npy"
    NpyArrayDataset(filepath=str(target)).save(np.load(source, mmap_mode="r"))
    assert target.stat().st_ino == source.stat().st_ino
    assert np.array_equal(NpyArrayDataset(filepath=str(target)).load(), data)


@pytest.mark.parametrize("view", [lambda m: m[1:], lambda m: m[:, ::2], lambda m: m.reshape(4, 64, 3),
                                  lambda m: m[::-1]],
                         ids=["slice", "strided", "reshape", "reversed"])
def test_a_view_of_a_memmap_is_copied_not_linked(tmp_path, view):
    source = saved_npy(tmp_path / "cache.npy", frames())
    part = view(np.load(source, mmap_mode="r"))
    target = tmp_path / "part.npy"
    dataset = NpyArrayDataset(filepath=str(target))
    dataset.save(part)

    assert target.stat().st_ino != source.stat().st_ino and source.stat().st_nlink == 1
    assert np.array_equal(dataset.load(), view(frames()))


def test_a_raw_memmap_is_copied_as_a_real_npy(tmp_path):
    """np.memmap of a file with no .npy header: its bytes are not a .npy file to link."""
    raw = tmp_path / "frames.bin"
    frames().tofile(raw)
    mapped = np.memmap(raw, dtype=np.uint8, mode="r", shape=(4, 8, 8, 3))
    target = tmp_path / "frames.npy"
    NpyArrayDataset(filepath=str(target)).save(mapped)
    assert target.stat().st_ino != raw.stat().st_ino
    assert np.array_equal(NpyArrayDataset(filepath=str(target)).load(), frames())


def test_a_memmap_of_part_of_an_npy_is_copied(tmp_path):
    source = saved_npy(tmp_path / "cache.npy", frames())
    header = np.load(source, mmap_mode="r").offset
    first_two = np.memmap(source, dtype=np.uint8, mode="r", offset=header, shape=(2, 8, 8, 3))
    target = tmp_path / "two.npy"
    NpyArrayDataset(filepath=str(target)).save(first_two)
    assert target.stat().st_ino != source.stat().st_ino
    assert np.array_equal(NpyArrayDataset(filepath=str(target)).load(), frames()[:2])


def test_a_copy_on_write_map_is_copied_with_its_changes(tmp_path):
    source = saved_npy(tmp_path / "cache.npy", frames())
    changed = np.load(source, mmap_mode="c")
    changed[0] = 7  # lives in memory only, not in the file
    target = tmp_path / "changed.npy"
    NpyArrayDataset(filepath=str(target)).save(changed)
    assert target.stat().st_ino != source.stat().st_ino
    assert (NpyArrayDataset(filepath=str(target)).load()[0] == 7).all()
    assert np.array_equal(np.load(source), frames())  # the source keeps its content


def test_when_linking_fails_the_array_is_copied(tmp_path, monkeypatch):
    source = saved_npy(tmp_path / "cache.npy", frames())
    target = tmp_path / "out.npy"

    def no_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    dataset = NpyArrayDataset(filepath=str(target))
    dataset.save(np.load(source, mmap_mode="r"))

    assert target.stat().st_ino != source.stat().st_ino and source.stat().st_nlink == 1
    assert np.array_equal(dataset.load(), frames())
    assert files_in(tmp_path) == ["cache.npy", "out.npy"]


def test_saving_over_a_published_link_leaves_its_source_alone(tmp_path):
    source = saved_npy(tmp_path / "cache.npy", frames())
    dataset = NpyArrayDataset(filepath=str(tmp_path / "out.npy"))
    dataset.save(np.load(source, mmap_mode="r"))
    dataset.save(np.zeros((2, 8, 8, 3), np.uint8))  # written to a new file, renamed over the link
    assert np.array_equal(np.load(source), frames())
    assert source.stat().st_nlink == 1
    assert dataset.load().shape == (2, 8, 8, 3)


def test_saving_what_was_loaded_from_the_same_file_keeps_it(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "out.npy"))
    dataset.save(frames())
    inode = (tmp_path / "out.npy").stat().st_ino
    dataset.save(dataset.load())
    assert (tmp_path / "out.npy").stat().st_ino == inode
    assert np.array_equal(dataset.load(), frames()) and files_in(tmp_path) == ["out.npy"]


# ----------------------------------------------------------------------------------------------
# conf/base/catalog.yml: the variants' datasets by factory pattern
# ----------------------------------------------------------------------------------------------
def project_catalog() -> DataCatalog:
    from kedro.config import OmegaConfigLoader

    from faceless.pipelines.context import CONFIG_LOADER_ARGS

    conf = Path(__file__).resolve().parents[2] / "conf"
    return DataCatalog.from_config(OmegaConfigLoader(conf_source=str(conf), **CONFIG_LOADER_ARGS)["catalog"])


@pytest.mark.parametrize(("name", "kind", "path"), [
    ("lr_train", "NpyArrayDataset", "data/05_model_input/lr_train.npy"),  # not the {variant}_train pattern
    ("hr_test", "NpyArrayDataset", "data/05_model_input/hr_test.npy"),
    ("srgan_train", "NpyArrayDataset", "data/07_model_output/srgan_train.npy"),
    ("srgan_self_val", "NpyArrayDataset", "data/07_model_output/srgan_self_val.npy"),
    ("clean64_test", "NpyArrayDataset", "data/07_model_output/clean64_test.npy"),
    ("sr_generator_srgan", "TorchWeightsDataset", "data/06_models/sr_generator_srgan.pt"),
    ("sr_generator_srgan_self", "TorchWeightsDataset", "data/06_models/sr_generator_srgan_self.pt"),
    ("sr_report_srgan_id", "JSONDataset", "data/08_reporting/sr_report_srgan_id.json"),
    ("sr_samples_srgan_pretrained", "MatplotlibDataset", "data/08_reporting/sr_samples_srgan_pretrained.png"),
])
def test_the_catalog_names_each_variants_files_by_pattern(name, kind, path):
    dataset = project_catalog().get(name)
    assert dataset is not None, name
    assert kind in type(dataset).__name__ or kind in repr(dataset), repr(dataset)
    assert f"{path}'" in repr(dataset) or f"{path}')" in repr(dataset), repr(dataset)
    if kind == "NpyArrayDataset":  # the arrays are memory-mapped on load
        assert "mmap_mode='r'" in repr(dataset)


@pytest.fixture
def mlflow_run(mlflow_uri):
    """An active MLflow run in a sqlite store of the test's own."""
    import mlflow

    with mlflow.start_run() as run:
        yield run


def run_artifacts(run) -> set[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    return {a.path for folder in ("models", "plots") for a in client.list_artifacts(run.info.run_id, folder)}


def test_a_model_file_is_a_run_artifact_but_a_skipped_variants_marker_is_not(tmp_path, mlflow_run):
    import torch
    from matplotlib.figure import Figure

    from faceless.data.datasets import RunArtifactDataset, TorchWeightsDataset

    def model(name: str) -> RunArtifactDataset:
        return RunArtifactDataset({"type": "faceless.data.datasets.TorchWeightsDataset",
                                   "filepath": str(tmp_path / "06_models" / f"{name}.pt")}, artifact_path="models")

    model("classifier_lr").save({"config": {"width": 8}, "state_dict": {"w": torch.ones(2)}})
    skipped = {"variant": "hr", "skipped": "no data for this variant (the source has no truth)"}
    model("classifier_hr").save(skipped)
    plot = RunArtifactDataset({"type": "matplotlib.MatplotlibDataset", "filepath": str(tmp_path / "grid.png")},
                              artifact_path="plots")
    placeholder = Figure()
    placeholder.set_label("skipped")
    plot.save(placeholder)
    # Kept locally (the next stages read the reason), but the run gets no placeholder files.
    assert TorchWeightsDataset(str(tmp_path / "06_models" / "classifier_hr.pt")).load() == skipped
    assert model("classifier_hr").load() == skipped and (tmp_path / "grid.png").is_file()
    assert run_artifacts(mlflow_run) == {"models/classifier_lr.pt"}
    plot.save(Figure())
    assert run_artifacts(mlflow_run) == {"models/classifier_lr.pt", "plots/grid.png"}


def test_without_an_mlflow_run_a_run_artifact_is_only_saved(tmp_path):
    import mlflow

    from faceless.data.datasets import RunArtifactDataset

    assert mlflow.active_run() is None
    dataset = RunArtifactDataset({"type": "json.JSONDataset", "filepath": str(tmp_path / "r.json")}, "reports")
    dataset.save({"a": 1})
    assert dataset.exists() and dataset.load() == {"a": 1}


@pytest.mark.parametrize("name", ["sampling_metrics", "evaluation_metrics", "predict_metrics"])
def test_metrics_datasets_put_their_metrics_under_their_stage(name):
    dataset = project_catalog().get(name)
    assert type(dataset).__name__ == "StageMetricsDataset" and dataset._describe()["prefix"] == name.split("_")[0]


def test_stage_metrics_are_logged_as_stage_slash_name_and_read_back(mlflow_run):
    import mlflow

    from faceless.data.datasets import StageMetricsDataset

    dataset = StageMetricsDataset(prefix="evaluation")
    dataset.save({"lr/sequence_top1_pct": {"value": 37.5, "step": 0},
                  "lr/challenge_score": [{"value": 80.0, "step": 0}, {"value": 85.0, "step": 1}]})
    mlflow.log_metric("evaluation_other", 1.0)  # not under evaluation/: not this dataset's
    logged = mlflow.MlflowClient().get_run(mlflow_run.info.run_id).data.metrics
    assert logged == {"evaluation/lr/sequence_top1_pct": 37.5, "evaluation/lr/challenge_score": 85.0,
                      "evaluation_other": 1.0}
    assert dataset.exists() and set(dataset.load()) == {"evaluation/lr/sequence_top1_pct", "evaluation/lr/challenge_score"}
    with pytest.raises(DatasetError, match="evaluation/lr/x"):
        dataset.save({"lr/x": 1.0})


def every_variant_on(**overrides) -> dict:
    from tests.conftest import base_params

    switches = {"srgan_self__enabled": True, "srgan_id__enabled": True, "clean64__enabled": True,
                "srgan_pretrained__import": "MSRResNet_x4.pth", **overrides}
    return {"variants": base_params("variants", **switches), "predict": base_params("predict")}


def unresolved(parameters: dict) -> set[str]:
    """The datasets of ``full`` (built from ``parameters``) that the project's catalog does not declare."""
    from faceless.pipeline_registry import build_pipelines

    full, catalog = build_pipelines(parameters)["full"], project_catalog()
    return {n for n in full.all_inputs() | full.all_outputs() if not n.startswith("params:") and n not in catalog}


def test_every_dataset_of_full_with_the_variants_on_is_declared():
    """Nothing of a variant is a silent MemoryDataset (lost before predict reads it) or an input no one makes."""
    assert unresolved(every_variant_on()) == set()


def test_srgan_other_switched_on_reads_datasets_the_catalog_declares():
    assert unresolved(every_variant_on(srgan_other__enabled=True)) == set()
