"""The served model: logged as the catalog logs it, loaded back with ``mlflow.pyfunc.load_model``, it
gives ``predict``'s answer on the same frames; over HTTP with ``mlflow models serve`` too (slow)."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from faceless.distributed.launch import free_port
from faceless.models.classifier import FrameClassifier
from faceless.models.generator import LEGACY_LAYOUT, SRResNet
from faceless.pipelines.predict.nodes import load_unlabeled_frames, predict_input, predict_sequences, scan_unlabeled
from faceless.pipelines.serving.model import FacelessModel
from faceless.pipelines.serving.nodes import log_served_model, model_parts
from faceless.utils.errors import ConfigError

from ..conftest import base_params

SIZE = 8           # frames on disk; the generator makes them 32 px
NAMES = ["Ada", "Bob", "Cyd", "Dee", "Eve", "Fay"]
SKIPPED = {"variant": "x", "skipped": "no data for this variant (the sampled side has no frames)"}
VARIANTS = base_params("variants")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def models() -> tuple[dict, dict]:
    torch.manual_seed(0)
    generator = SRResNet(channels=8, blocks=1, scale=4, bicubic_skip=True, **LEGACY_LAYOUT)
    with torch.no_grad():
        torch.nn.init.normal_(generator.tail.weight, std=0.05)
    classifier = FrameClassifier(len(NAMES), input_size=4 * SIZE, width=8, depth=2, dropout=0.0, base_size=64)
    return ({"config": generator.config(), "state_dict": generator.state_dict()},
            {"variant": "srgan", "config": classifier.config(), "state_dict": classifier.state_dict(),
             "normalisation": {"mean": 0.5, "std": 0.25}, "class_names": NAMES})


def params(tmp_path: Path) -> tuple[dict, dict]:
    predict = base_params("predict", device="cpu", precision="fp32", variant="srgan", validate="full", workers=1,
                          batch_size=3, root=str(tmp_path / "test"))
    upscaling = base_params("upscaling", device="cpu", precision="fp32", batch_size=2, shard_size=4,
                            cache_dir=str(tmp_path / "cache"))
    return predict, upscaling


def write_test_tree(root: Path) -> None:
    """An unlabeled test set in OrCam's layout: JPEG frames, as predict reads them."""
    rng = np.random.default_rng(0)
    for sequence, count in (("seq_0003", 3), ("seq_0001", 2), ("seq_0010", 4)):
        (root / sequence).mkdir(parents=True)
        for frame in range(count):
            pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / sequence / f"frame_{frame:05d}.jpg", quality=90)


def predict_answer(tmp_path: Path, generator: dict, classifier: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """predict's own nodes on the tree: its predictions table, and the index (frame files, in order)."""
    predict, upscaling = params(tmp_path)
    index, _ = scan_unlabeled({"root": predict["root"]}, predict)
    frames = load_unlabeled_frames(index, predict)
    inputs = predict_input(frames, predict, upscaling, VARIANTS, generator)
    _, detail, _ = predict_sequences(inputs, index, {"answer_key": None}, pd.DataFrame(), classifier, predict)
    return detail, index


def request_table(index: pd.DataFrame) -> pd.DataFrame:
    """The documented input: one row per frame, its sequence id and the file base64-encoded."""
    return pd.DataFrame({"sequence": index["sequence_name"].tolist(),
                         "image": [base64.b64encode(Path(p).read_bytes()).decode() for p in index["path"]]})


def log_as_a_run_does(generator: dict, classifier: dict, tmp_path: Path) -> tuple[str, dict]:
    """The serving node inside an MLflow run; the run id and the node's report."""
    import mlflow

    predict, upscaling = params(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        report = log_served_model(classifier, pd.DataFrame(), predict, upscaling, base_params("serving"), VARIANTS,
                                  generator)
    return run.info.run_id, report


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    import mlflow.tracking._tracking_service.utils as tracking_utils

    # set_tracking_uri sets a module global and MLFLOW_TRACKING_URI; monkeypatch puts both back
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture
def logged(tracking) -> tuple[Path, str, pd.DataFrame, pd.DataFrame]:
    tmp_path = tracking
    write_test_tree(tmp_path / "test")
    generator, classifier = models()
    detail, index = predict_answer(tmp_path, generator, classifier)
    run_id, report = log_as_a_run_does(generator, classifier, tmp_path)
    assert report["model_uri"] == f"runs:/{run_id}/faceless" and report["variant"] == "srgan"
    return tmp_path, run_id, detail, index


def test_the_logged_model_gives_predicts_answer_on_the_same_frames(logged):
    import mlflow.pyfunc

    _, run_id, detail, index = logged
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/faceless")
    answer = loaded.predict(request_table(index))
    pd.testing.assert_frame_equal(answer.reset_index(drop=True), detail.reset_index(drop=True))
    assert list(answer["sequence"]) == ["seq_0001", "seq_0003", "seq_0010"]
    assert answer["probability_1"].gt(0).all() and set(answer["person_1"]) <= set(NAMES)
    # The decoded frames sent as PNG files, rows shuffled: the same answer.
    frames = load_unlabeled_frames(index, params(logged[0])[0])
    pngs = request_table(index).assign(image=[base64.b64encode(_png(frame)).decode() for frame in frames])
    shuffled = pngs.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(loaded.predict(shuffled).reset_index(drop=True), detail.reset_index(drop=True))


def test_bad_requests_are_one_line_naming_what_is_wrong(tmp_path):
    from mlflow.exceptions import MlflowException

    generator, classifier = models()
    predict, upscaling = params(tmp_path)
    parts = model_parts(classifier, pd.DataFrame(), predict, VARIANTS, generator)
    model = FacelessModel.from_parts(parts, {"predict": predict, "upscaling": upscaling})
    good = base64.b64encode(_png(np.zeros((SIZE, SIZE, 3), np.uint8))).decode()
    cases = {
        "columns \\['sequence', 'image'\\]": pd.DataFrame({"frame": [good]}),
        "row 1: 'image' is not a base64-encoded image": pd.DataFrame({"sequence": ["a", "a"], "image": [good, "nope"]}),
        "needs 32 px after its input step": pd.DataFrame({"sequence": ["a"], "image": [
            base64.b64encode(_png(np.zeros((SIZE * 2, SIZE * 2, 3), np.uint8))).decode()]}),
        "one size": pd.DataFrame({"sequence": ["a", "b"], "image": [
            good, base64.b64encode(_png(np.zeros((4, 4, 3), np.uint8))).decode()]}),
    }
    for message, table in cases.items():
        with pytest.raises(MlflowException, match=message) as error:
            model.predict(None, table)
        assert "\n" not in error.value.message


def test_a_model_logged_before_upscaling_distributed_existed_still_answers(tmp_path):
    """Settings saved by an earlier version lack upscaling.distributed; a served model upscales in
    its own process anyway, so it loads and answers as one with the key."""
    generator, classifier = models()
    predict, upscaling = params(tmp_path)
    parts = model_parts(classifier, pd.DataFrame(), predict, VARIANTS, generator)
    old = {k: v for k, v in upscaling.items() if k != "distributed"}
    assert "distributed" in upscaling and "distributed" not in old
    request = pd.DataFrame({"sequence": ["a", "a"], "image": [
        base64.b64encode(_png(np.full((SIZE, SIZE, 3), value, np.uint8))).decode() for value in (40, 200)]})
    answers = [FacelessModel.from_parts(parts, {"predict": predict, "upscaling": settings}).predict(None, request)
               for settings in (upscaling, old)]
    pd.testing.assert_frame_equal(answers[0], answers[1])


def test_a_variant_the_run_did_not_train_cannot_be_served(tmp_path):
    predict, upscaling = params(tmp_path)
    with pytest.raises(ConfigError, match="predict.variant=lr: that classifier was not trained"):
        model_parts(SKIPPED, pd.DataFrame(), {**predict, "variant": "lr"}, VARIANTS)
    with pytest.raises(ConfigError, match="predict.variant=hr: its input is made from the high-resolution truth"):
        model_parts(models()[1], pd.DataFrame(), {**predict, "variant": "hr"}, VARIANTS)


def test_any_variant_made_from_frames_is_served_with_its_input(tmp_path):
    """A variant declared in conf alone (an interpolation) is served: its parts say how its input is
    made, and a model logged before parts said so (srgan) still reads as a generator variant."""
    generator, classifier = models()
    predict, upscaling = params(tmp_path)
    variants = {**VARIANTS, "smooth": {"enabled": True, "input": "interpolate", "mode": "bicubic"}}
    parts = model_parts(classifier, pd.DataFrame(), {**predict, "variant": "smooth"}, variants, generator)
    assert parts["input"] == "interpolate" and parts["generator"] is None
    model = FacelessModel.from_parts(parts, {"predict": {**predict, "variant": "smooth"}, "upscaling": upscaling})
    assert model.input == "interpolate"
    legacy = {k: v for k, v in model_parts(classifier, pd.DataFrame(), predict, VARIANTS, generator).items()
              if k != "input"}
    assert FacelessModel.from_parts(legacy, {"predict": predict, "upscaling": upscaling}).input == "generator"


def test_without_an_mlflow_run_nothing_is_logged(tmp_path):
    import mlflow

    assert mlflow.active_run() is None
    generator, classifier = models()
    predict, upscaling = params(tmp_path)
    report = log_served_model(classifier, pd.DataFrame(), predict, upscaling, base_params("serving"), VARIANTS, generator)
    assert report == {"name": "faceless", "variant": "srgan", "people": len(NAMES), "model_uri": None}


def _png(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_http(logged):
    tmp_path, run_id, detail, index = logged
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run_id}/faceless", "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_ping(server, port)
        table = request_table(index)
        body = json.dumps({"dataframe_split": {"columns": list(table.columns), "data": table.values.tolist()}})
        request = urllib.request.Request(f"{base}/invocations", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = pd.DataFrame(json.loads(response.read())["predictions"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert list(answer["sequence"]) == list(detail["sequence"])
    for rank in range(1, 6):
        assert list(answer[f"person_{rank}"]) == list(detail[f"person_{rank}"])
        assert np.allclose(answer[f"probability_{rank}"], detail[f"probability_{rank}"])


def wait_for_ping(server, port: int, seconds: float = 180) -> None:
    """Until `mlflow models serve` on 127.0.0.1:``port`` answers /ping (bounded; the server's output
    if it exits first)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None, server.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, f"mlflow models serve did not answer /ping in {seconds:.0f} s"
        time.sleep(1)
