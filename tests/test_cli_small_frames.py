"""`kedro run --pipeline=full` on generated OrCam trees unlike the demo: frames of 8 to 97 px (odd
sides, sides not divisible by the scale), grey and colour, 2 or 3 videos a person, with and without
high-resolution truth (``ingestion.hr_root``); tiny models. Six runs cover every value of each."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import TINY_MODEL_PARAMS, base_params, make_project_copy
from .test_cli import kedro, logged_model, request_images
from .trees import orcam_tree

pytestmark = pytest.mark.slow

SCALE = 4
#: Variants that need the truth; the ones no default run trains (srgan_id also runs in the 8 px case).
TRUTH_VARIANTS = {"srgan_self", "clean64", "hr"}
UPSCALED = {"bicubic", "srgan", "srgan_self", "srgan_id", "hr"}

# (frame px, grey, videos a person, truth, srgan_id on)
CASES = [
    (8, True, 2, False, True),
    (13, False, 3, True, False),
    (25, True, 2, True, False),
    (31, False, 2, True, False),
    (64, True, 3, False, False),
    (97, False, 3, False, False),  # the largest without truth: its 388 px truth would cost the most
]


def case_id(case: tuple) -> str:
    px, grey, videos, truth, with_id = case
    return f"{px}px-{'grey' if grey else 'colour'}-{videos}videos-{'truth' if truth else 'notruth'}" + (
        "-id" if with_id else "")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_full_runs_on_small_odd_frames_and_few_videos(case, tmp_path: Path) -> None:
    px, grey, videos, truth, with_id = case
    lr_root, hr_root = orcam_tree(tmp_path / "tree", px, people=3, videos=videos, sequences=2, frames=3, grey=grey)
    project = make_project_copy(tmp_path / "project")
    params = f"ingestion.source=folder,ingestion.root={lr_root},{TINY_MODEL_PARAMS},variants.srgan_id.enabled={with_id}"
    if truth:
        params += f",ingestion.hr_root={hr_root}"
    # --env controls: every variant the source allows, the controls too (conf/base trains four).
    result = kedro(project, "run", "--pipeline=full", "--env", "controls", "--params", params)
    assert result.returncode == 0, result.stderr[-3000:]
    data = project / "data"
    reporting = data / "08_reporting"

    # Ingestion: grey frames become 3-channel, at their own size.
    lr_test = np.load(data / "05_model_input" / "lr_test.npy")
    assert lr_test.shape[1:] == (px, px, 3)
    if grey:
        assert np.array_equal(lr_test[..., 0], lr_test[..., 2])

    # Sampling: the test side is video-disjoint; 2 videos validate on the training videos' sequences.
    sampling = json.loads((reporting / "sampling_report.json").read_text())
    expected_policy = "video" if videos == 3 else "video_test_sequence_val"
    assert set(sampling["split_policy"]["per_person"].values()) == {expected_policy}
    assert sampling["leakage_split"]["train_vs_test"] == {"videos": 0, "sequences": 0, "frames": 0}
    markdown = (reporting / "comparison.md").read_text()  # the full table (the console prints its headline)
    assert f"Split policy: {sampling['split_policy']['summary']}." in markdown

    # SR: self pairs are mod-cropped, the crop adapts, PSNR/SSIM are numbers.
    sr = json.loads((reporting / "sr_report_srgan.json").read_text())
    lr_side = px if truth else px // SCALE
    assert sr["pairs"] == ("truth" if truth else "self")
    assert sr["lr_size"] == [lr_side, lr_side] and sr["hr_size"] == [lr_side * SCALE] * 2
    crop = base_params("srgan")["crop"]
    assert sr["crop"] == {"asked": crop, "used": min(crop, lr_side)}
    assert all(isinstance(v, float) for v in sr["val"].values()), sr["val"]
    assert (reporting / "sr_samples_srgan.png").stat().st_size > 0

    # The comparison: every variant with data has numbers; the others say why not.
    table = pd.read_csv(reporting / "comparison.csv").set_index("variant")
    with_data = {"lr", "bicubic", "srgan"} | (TRUTH_VARIANTS if truth else set()) | ({"srgan_id"} if with_id else set())
    for variant, row in table.iterrows():
        if variant in with_data:
            assert pd.isna(row["note"]), (variant, row["note"])
            assert 0 <= row["sequence_top1"] <= 1 and row["test_sequences"] > 0
            assert row["input_px"] == (px * SCALE if variant in UPSCALED else px), variant
            assert f"| {variant} | {int(row['input_px'])} |" in markdown
        else:
            assert row["note"].startswith("skipped: ") and len(row["note"]) > 20, (variant, row["note"])
    assert_no_artifact_for_what_did_not_run(project, set(table.index) - with_data, with_data)
    # Upscaled arrays have the documented size: the frame side x 4.
    for name in ("srgan_test", "bicubic_test"):
        assert np.load(data / "07_model_output" / f"{name}.npy", mmap_mode="r").shape[1:] == (px * SCALE,) * 2 + (3,)

    if px == 8:
        assert_the_served_model_answers(project, lr_test[:4])


def assert_no_artifact_for_what_did_not_run(project: Path, skipped: set[str], ran: set[str]) -> None:
    """A variant that is on but did not run keeps its row (above), and the MLflow run gets no
    placeholder model file or sample grid for it; one that ran has its model there."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("faceless").experiment_id])[0]
    logged = {a.path for folder in ("models", "plots") for a in client.list_artifacts(run.info.run_id, folder)}
    for variant in skipped:
        assert not {f"models/classifier_{variant}.pt", f"models/sr_generator_{variant}.pt",
                    f"plots/sr_samples_{variant}.png"} & logged, (variant, sorted(logged))
    assert {f"models/classifier_{variant}.pt" for variant in ran} <= logged


def assert_the_served_model_answers(project: Path, frames: np.ndarray) -> None:
    """The logged pyfunc model (the predict path) on a few of the run's own small frames."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("faceless").experiment_id])[0]
    images = request_images(frames)
    answer = logged_model(project, run.info.run_id).predict(pd.DataFrame({"sequence": ["a", "a", "b", "b"], "image": images}))
    assert list(answer["sequence"]) == ["a", "b"] and list(answer["frames"]) == [2, 2]
