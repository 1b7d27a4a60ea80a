"""The served model: frames of sequences in, each sequence's five most likely people out.

It bundles what ``predict`` uses (the generator where ``predict.variant`` needs one, that variant's
classifier, its class names, the ``predict`` and ``upscaling`` settings) and answers through the same
functions of :mod:`faceless.inference` (:func:`~faceless.inference.upscale_frames` computes what the
upscaling cache holds, frame for frame), so on the same frames it gives ``predictions.csv``'s rows.

Input: a table (pandas, or JSON ``dataframe_split`` / ``dataframe_records`` over HTTP), one row per
frame: ``sequence`` (any id; the frames of a sequence are pooled) and ``image`` (a base64-encoded
JPEG or PNG file, as the test set's ``frame_NNNNN.jpg``).
Output: one row per sequence, by sequence id: ``sequence, frames, person_1, probability_1, ...,
person_k, probability_k``, best first.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from PIL import Image

from faceless.inference import UpscaleConfig, classify_sequences, name_sequences, upscale_frames
from faceless.data.predict_config import PredictConfig
from faceless.utils.config import from_params

#: The input table's columns.
INPUT_COLUMNS = ("sequence", "image")


class FacelessModel(mlflow.pyfunc.PythonModel):
    """``predict``'s answer for frames sent in a table (see the module's docstring).

    Logged as code (``served.py``), not pickled: its state is read from the model's artifacts
    (``model.pt``: variant, classifier, generator, class names; ``settings.json``: the ``predict``
    and ``upscaling`` parameters) by :meth:`load_context`, or given to :meth:`from_parts`."""

    variant: str
    input: str                       # how its input is made from a frame (faceless.variants)
    classifier: dict[str, Any]
    generator: dict[str, Any] | None
    class_names: list[str]
    predict_config: PredictConfig
    upscaling: UpscaleConfig

    @classmethod
    def from_parts(cls, parts: dict[str, Any], settings: dict[str, Any]) -> "FacelessModel":
        model = cls()
        model._set(parts, settings)
        return model

    def load_context(self, context: Any) -> None:
        parts = torch.load(context.artifacts["model"], map_location="cpu", weights_only=True)
        self._set(parts, json.loads(Path(context.artifacts["settings"]).read_text()))

    def _set(self, parts: dict[str, Any], settings: dict[str, Any]) -> None:
        self.variant, self.classifier, self.generator = parts["variant"], parts["classifier"], parts["generator"]
        self.input = input_kind(parts)
        self.class_names = list(parts["class_names"])
        self.predict_config = from_params(PredictConfig, settings["predict"], "predict")
        # The served model upscales in its own process, whatever the training run's
        # upscaling.distributed was (and models logged before that key existed lack it).
        one_process = {**settings["upscaling"], "distributed": {"nproc": 1}}
        self.upscaling = from_params(UpscaleConfig, one_process, "upscaling")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frames, sequences = decode_input(model_input)
        factor = 1 if self.input == "frames" else None  # the frames as they are, as in predict
        inputs = upscale_frames(frames, self.generator if self.input == "generator" else None, self.upscaling, factor)
        expected = int(self.classifier["config"]["input_size"])
        if inputs.shape[1] != expected:
            raise _bad_input(f"frames are {frames.shape[2]}x{frames.shape[1]} px: the {self.variant} classifier "
                             f"needs {expected} px after its input step ({inputs.shape[1]} px here)")
        codes, names = pd.factorize(sequences, sort=True)
        config = self.predict_config
        scores, counts, _ = classify_sequences(self.classifier, inputs, codes, config.device, config.precision,
                                               config.batch_size, config.flip_tta)
        _, detail = name_sequences(scores, counts, [str(n) for n in names], self.class_names, config.top_k)
        return detail


#: How the inputs of models logged before they said so were made (only these three could be served).
LEGACY_INPUTS = {"lr": "frames", "bicubic": "interpolate", "srgan": "generator"}


def input_kind(parts: dict[str, Any]) -> str:
    """How the served variant's input is made from a frame: frames | interpolate | generator."""
    return parts.get("input") or LEGACY_INPUTS[parts["variant"]]


def encode_image(frame: np.ndarray) -> str:
    """A uint8 H x W x 3 frame as the input's ``image``: a PNG file, base64 (lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def input_example(parts: dict[str, Any], factor: int) -> pd.DataFrame:
    """One grey frame of the size the model takes (its classifier's input size before the variant's
    ``factor``x upscaling), as one sequence: the example MLflow stores with the model and checks."""
    side = int(parts["classifier"]["config"]["input_size"]) // (1 if input_kind(parts) == "frames" else factor)
    return pd.DataFrame({"sequence": ["seq_0001"], "image": [encode_image(np.full((side, side, 3), 128, np.uint8))]})


def decode_input(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) frames and each frame's sequence id, from the input table."""
    if not isinstance(table, pd.DataFrame) or not set(INPUT_COLUMNS) <= set(table.columns):
        columns = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise _bad_input(f"the input needs the columns {list(INPUT_COLUMNS)}, got {columns}")
    if table.empty:
        raise _bad_input("the input has no frames")
    frames = [decode_image(value, row) for row, value in enumerate(table["image"])]
    sizes = {frame.shape for frame in frames}
    if len(sizes) != 1:
        raise _bad_input(f"all frames must have one size, got {sorted(sizes)}")
    return np.stack(frames), table["sequence"].astype(str).to_numpy()


def decode_image(value: Any, row: int) -> np.ndarray:
    """A base64 image file (as ``predict`` reads the file: RGB, alpha dropped), or a uint8 array."""
    if isinstance(value, (str, bytes)):
        try:
            data = base64.b64decode(value, validate=True)
            with Image.open(io.BytesIO(data)) as image:
                return np.asarray(image.convert("RGB"))
        except (binascii.Error, ValueError, OSError) as exc:
            raise _bad_input(f"row {row}: 'image' is not a base64-encoded image file ({exc})") from exc
    array = np.asarray(value)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) or array.size == 0 or array.min() < 0 or array.max() > 255:
            raise _bad_input(f"row {row}: an 'image' array must hold uint8 values, got {array.dtype}")
        array = array.astype(np.uint8)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise _bad_input(f"row {row}: an 'image' array must be H x W x 3, got {array.shape}")
    return array


def _bad_input(message: str) -> MlflowException:
    return MlflowException(f"faceless model: {message}", error_code=INVALID_PARAMETER_VALUE)
