"""Issue 29, item 3: the served model cannot be bombed. Sizes are read from each image's header
before anything is decoded; a frame over ``serving.max_pixels`` (413) or of another size than the
classifier was trained on (400) is refused before any upscaling; more than
``serving.max_frames_per_request`` frames are refused (413) before any decoding; every error body is
one line, with no stack trace, as ``mlflow models serve`` sends it."""
from __future__ import annotations

import base64
import json
import re
import struct
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceless.pipelines.serving import model as served_model
from faceless.pipelines.serving.model import FacelessModel
from faceless.pipelines.serving.nodes import model_parts

from .conftest import base_params
from .pipelines.test_serving import SIZE, SKIPPED, _png, logged, models, params, tracking  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG file that declares ``width`` x ``height`` and holds almost nothing (a few hundred bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def good_frame(value: int = 0) -> str:
    return b64(_png(np.full((SIZE, SIZE, 3), value, np.uint8)))


@pytest.fixture
def model(tmp_path, monkeypatch):
    """The model as a run logs it, with a spy on its upscaling and decoding."""
    generator, classifier = models()
    predict, upscaling = params(tmp_path)
    parts = model_parts(classifier, pd.DataFrame(), predict, base_params("variants"), generator)
    calls = {"upscaled": 0, "decoded": 0}
    real_upscale, real_decode = served_model.upscale_frames, served_model.decode_pixels

    def upscale(frames, *args, **kwargs):
        calls["upscaled"] += len(frames)
        return real_upscale(frames, *args, **kwargs)

    def decode(*args, **kwargs):
        calls["decoded"] += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(served_model, "upscale_frames", upscale)
    monkeypatch.setattr(served_model, "decode_pixels", decode)
    settings = {"predict": predict, "upscaling": upscaling,
                "serving": {**base_params("serving"), "max_frames_per_request": 50, "max_pixels": 100_000}}
    found = FacelessModel.from_parts(parts, settings)
    found.calls = calls
    return found


def refused(model, table: pd.DataFrame):
    from mlflow.exceptions import MlflowException

    started = time.perf_counter()
    with pytest.raises(MlflowException) as error:
        model.predict(None, table)
    assert time.perf_counter() - started < 10
    assert "\n" not in error.value.message and "Traceback" not in error.value.message
    return error.value


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_a_pixel_bomb_is_refused_from_its_header_before_decoding(model, side):
    table = pd.DataFrame({"sequence": ["a", "a"], "image": [good_frame(), b64(png_header_only(side, side))]})
    error = refused(model, table)
    assert error.get_http_status_code() == 413
    assert re.search(r"row 1: the image declares \S+ px, over serving\.max_pixels=100000; nothing was decoded",
                     error.message)
    assert model.calls == {"upscaled": 0, "decoded": 0}


def test_a_frame_larger_than_the_training_frames_is_refused_before_upscaling(model):
    table = pd.DataFrame({"sequence": ["a"], "image": [b64(_png(np.zeros((300, 300, 3), np.uint8)))]})
    error = refused(model, table)
    assert error.get_http_status_code() == 400
    assert f"the srgan classifier takes {SIZE}x{SIZE} px frames" in error.message
    assert model.calls == {"upscaled": 0, "decoded": 0}


def test_too_many_frames_are_refused_before_any_decoding(model):
    table = pd.DataFrame({"sequence": ["a"] * 51, "image": [good_frame()] * 51})
    error = refused(model, table)
    assert error.get_http_status_code() == 413
    assert "51 frames in one request, over serving.max_frames_per_request=50" in error.message
    assert model.calls == {"upscaled": 0, "decoded": 0}
    answer = model.predict(None, table.iloc[:50])  # at the cap: answered
    assert list(answer["sequence"]) == ["a"] and model.calls == {"upscaled": 50, "decoded": 50}


def test_an_unexpected_failure_is_one_line_without_a_stack_trace(model, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 4.47 GiB")

    monkeypatch.setattr(served_model, "upscale_frames", out_of_memory)
    error = refused(model, pd.DataFrame({"sequence": ["a"], "image": [good_frame()]}))
    assert error.get_http_status_code() == 500 and "MemoryError" in error.message
    assert "stack_trace" not in error.serialize_as_json()


def test_the_scoring_server_sends_one_line_bodies(logged, monkeypatch):  # noqa: F811
    """Through MLflow's own request handler (what `mlflow models serve` runs for /invocations): the
    body of a refusal is one JSON line, its message one line without the request's table in it."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # load_context sets the project's
    _, run_id, _, _ = logged
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/faceless")
    assert Image.MAX_IMAGE_PIXELS == base_params("serving")["max_pixels"]
    cases = {413: [good_frame(), b64(png_header_only(20_000, 20_000))],
             400: [b64(_png(np.zeros((4 * SIZE, 4 * SIZE, 3), np.uint8)))]}
    for status, images in cases.items():
        body = json.dumps({"dataframe_split": {"columns": ["sequence", "image"],
                                               "data": [["s", image] for image in images]}})
        with pytest.raises(MlflowException) as error:
            scoring_server.invocations(body, "application/json", loaded, loaded.metadata.get_input_schema())
        sent = error.value.serialize_as_json()
        assert error.value.get_http_status_code() == status
        assert "\n" not in sent and "stack_trace" not in json.loads(sent)
        assert json.loads(sent)["message"].startswith("faceless model: ")
        assert "Failed to predict data" not in sent and len(sent) < 600
