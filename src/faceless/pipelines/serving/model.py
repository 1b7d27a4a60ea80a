"""The served model: frames of sequences in, each sequence's five most likely people out.

It bundles what ``predict`` uses (the generator where ``predict.variant`` needs one, that variant's
classifier and pooling file (its attention heads where the run trained them; a model logged before
pooling files pools by the mean), its class names, the ``predict`` and ``upscaling`` settings) and
answers through the same functions of :mod:`faceless.inference` (:func:`~faceless.inference.upscale_frames`
computes what the upscaling cache holds, frame for frame), so on the same frames it gives
``predictions.csv``'s rows.

Input: a table (pandas, or JSON ``dataframe_split`` / ``dataframe_records`` over HTTP), one row per
frame: ``sequence`` (any id; the frames of a sequence are pooled) and ``image`` (a base64-encoded
JPEG or PNG file, as the test set's ``frame_NNNNN.jpg``).
Output: one row per sequence, by sequence id: ``sequence, frames, person_1, probability_1, ...,
person_k, probability_k``, best first.

Limits (``serving.max_frames_per_request``, ``serving.max_pixels``, saved with the model): a request
of more frames is refused (413) before any image is decoded; each image's size is read from its
header first, and one over ``max_pixels`` is refused (413), one of another size than the frames the
classifier was trained on (400), before any image is decoded or upscaled; Pillow's own bomb limit
is ``max_pixels`` in the serving process. Every refusal and failure is one line (a
:class:`ServingError`: no stack trace, and MLflow's "Failed to predict data '<the whole table>'"
prefix is not added), its traceback only in the server's log.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from PIL import Image

from faceless.inference import UpscaleConfig, attention_head, classify_sequences, name_sequences, upscale_frames
from faceless.data.predict_config import PredictConfig
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: The input table's columns.
INPUT_COLUMNS = ("sequence", "image")
#: The limits of models logged before ``serving.max_frames_per_request`` / ``max_pixels`` existed.
DEFAULT_LIMITS = {"max_frames_per_request": 512, "max_pixels": 1_048_576}


class ServingError(MlflowException):
    """A refused request or a failure, as one line. MLflow's scoring server rewrites an exception's
    ``message`` to ``Failed to predict data '<the request's table>'. \\nError: ...`` (many lines, the
    data included); this one keeps its own. ``status``: the HTTP status sent (413: too large)."""

    def __init__(self, message: str, error_code: int = INVALID_PARAMETER_VALUE, status: int | None = None) -> None:
        self._line = " ".join(str(message).split())
        self._status = status
        super().__init__(self._line, error_code=error_code)

    @property
    def message(self) -> str:  # type: ignore[override]
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        pass  # the scoring server's prefix (the whole input table, a newline) is not taken

    def get_http_status_code(self) -> int:
        return self._status or super().get_http_status_code()


def serving_limits(settings: dict[str, Any]) -> dict[str, int]:
    """``serving.max_frames_per_request`` and ``serving.max_pixels`` from the model's settings
    (defaults for a model logged before they existed); each a positive integer."""
    given = settings.get("serving") or {}
    limits = {key: given.get(key, default) for key, default in DEFAULT_LIMITS.items()}
    for key, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"serving.{key} must be an integer >= 1, got {value!r}")
    return limits


class FacelessModel(mlflow.pyfunc.PythonModel):
    """``predict``'s answer for frames sent in a table (see the module's docstring).

    Logged as code (``served.py``), not pickled: its state is read from the model's artifacts
    (``model.pt``: variant, classifier, generator, class names, pooling; ``settings.json``: the ``predict``
    and ``upscaling`` parameters) by :meth:`load_context`, or given to :meth:`from_parts`."""

    variant: str
    input: str                       # how its input is made from a frame (faceless.variants)
    classifier: dict[str, Any]
    generator: dict[str, Any] | None
    pooling: dict[str, Any] | None   # the variant's pooling file; None: the mean
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
        # The serving process decodes requests only: Pillow's own bomb limit is the model's.
        Image.MAX_IMAGE_PIXELS = self.limits["max_pixels"]

    def _set(self, parts: dict[str, Any], settings: dict[str, Any]) -> None:
        self.variant, self.classifier, self.generator = parts["variant"], parts["classifier"], parts["generator"]
        self.pooling = parts.get("pooling")  # absent from models logged before pooling files: the mean
        # Checked now, not at the first request: a pooling of other weights is one line.
        attention_head(self.pooling, self.classifier, self.classifier["state_dict"])
        self.input = input_kind(parts)
        self.class_names = list(parts["class_names"])
        self.predict_config = from_params(PredictConfig, settings["predict"], "predict")
        # The served model upscales in its own process, whatever the training run's
        # upscaling.distributed was (and models logged before that key existed lack it).
        one_process = {**settings["upscaling"], "distributed": {"nproc": 1}}
        self.upscaling = from_params(UpscaleConfig, one_process, "upscaling")
        self.limits = serving_limits(settings)

    def frame_side(self) -> int:
        """The side of the frames the classifier was trained on, before the variant's upscaling."""
        factor = 1 if self.input == "frames" else int(self.upscaling.factor)
        return int(self.classifier["config"]["input_size"]) // factor

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            return self._predict(model_input)
        except ServingError:
            raise
        except MlflowException as error:
            raise ServingError(error.message, error_code=INVALID_PARAMETER_VALUE) from error
        except Exception as error:  # a bug or the machine (MemoryError): one line out, the traceback logged
            logger.exception("faceless model: the request failed")
            first = str(error).splitlines()[0] if str(error) else ""
            raise ServingError(f"faceless model: the request failed ({type(error).__name__}: {first[:200]}); "
                               "the server's log has the traceback", error_code=INTERNAL_ERROR) from error

    def _predict(self, model_input: pd.DataFrame) -> pd.DataFrame:
        side = self.frame_side()
        frames, sequences = decode_input(model_input, self.limits, (side, side), self.variant,
                                         int(self.classifier["config"]["input_size"]))
        factor = 1 if self.input == "frames" else None  # the frames as they are, as in predict
        inputs = upscale_frames(frames, self.generator if self.input == "generator" else None, self.upscaling, factor)
        expected = int(self.classifier["config"]["input_size"])
        if inputs.shape[1] != expected:
            raise _bad_input(f"frames are {frames.shape[2]}x{frames.shape[1]} px: the {self.variant} classifier "
                             f"needs {expected} px after its input step ({inputs.shape[1]} px here)")
        codes, names = pd.factorize(sequences, sort=True)
        config = self.predict_config
        scores, counts, _ = classify_sequences(self.classifier, inputs, codes, config.device, config.precision,
                                               config.batch_size, config.flip_tta, pooling=self.pooling)
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


def decode_input(table: pd.DataFrame, limits: dict[str, int] | None = None, size: tuple[int, int] | None = None,
                 variant: str = "", input_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) frames and each frame's sequence id, from the input table. With ``limits``
    and ``size`` (width, height): the frame count, then every image's size from its header, are
    checked before any image is decoded."""
    limits = limits or DEFAULT_LIMITS
    if not isinstance(table, pd.DataFrame) or not set(INPUT_COLUMNS) <= set(table.columns):
        columns = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise _bad_input(f"the input needs the columns {list(INPUT_COLUMNS)}, got {columns}")
    if table.empty:
        raise _bad_input("the input has no frames")
    if len(table) > limits["max_frames_per_request"]:
        raise _bad_input(f"{len(table)} frames in one request, over serving.max_frames_per_request="
                         f"{limits['max_frames_per_request']}: send them in several requests", status=413)
    opened = [open_image(value, row, limits["max_pixels"]) for row, value in enumerate(table["image"])]
    sizes = {source.size for source in opened}
    if len(sizes) != 1:
        raise _bad_input(f"all frames must have one size, got {sorted(sizes)}")
    found = next(iter(sizes))
    if size is not None and found != tuple(size):
        raise _bad_input(f"frames are {found[0]}x{found[1]} px: the {variant} classifier takes {size[0]}x{size[1]} "
                         f"px frames, the size it was trained on (it needs {input_size or size[1]} px after its input "
                         "step); nothing was decoded or upscaled")
    frames = [decode_pixels(source, row) for row, source in enumerate(opened)]
    return np.stack(frames), table["sequence"].astype(str).to_numpy()


class _Opened:
    """An image whose header was read (``size``: width, height) and not yet decoded."""

    def __init__(self, data: bytes | None = None, array: np.ndarray | None = None) -> None:
        self.data, self.array = data, array
        if array is not None:
            self.size = (int(array.shape[1]), int(array.shape[0]))
        else:
            with Image.open(io.BytesIO(data)) as image:
                self.size = image.size


def open_image(value: Any, row: int, max_pixels: int) -> _Opened:
    """A base64 image file, its size read from its header (over ``max_pixels``: refused), or a uint8
    array; nothing decoded."""
    if isinstance(value, (str, bytes)):
        try:
            data = base64.b64decode(value, validate=True)
            opened = _Opened(data=data)
        except Image.DecompressionBombError as exc:  # Pillow's own limit, from the header
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            raise _bad_input(f"row {row}: the image declares {declared[1] + ' ' if declared else 'too many '}px, over "
                             f"serving.max_pixels={max_pixels}; nothing was decoded", status=413) from exc
        except (binascii.Error, ValueError, OSError, SyntaxError) as exc:
            raise _bad_input(f"row {row}: 'image' is not a base64-encoded image file ({exc})") from exc
    else:
        array = np.asarray(value)
        if array.dtype != np.uint8:
            if not np.issubdtype(array.dtype, np.integer) or array.size == 0 or array.min() < 0 or array.max() > 255:
                raise _bad_input(f"row {row}: an 'image' array must hold uint8 values, got {array.dtype}")
            array = array.astype(np.uint8)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise _bad_input(f"row {row}: an 'image' array must be H x W x 3, got {array.shape}")
        opened = _Opened(array=array)
    width, height = opened.size
    if width * height > max_pixels:
        raise _bad_input(f"row {row}: the image declares {width}x{height} px, over serving.max_pixels={max_pixels}; "
                         "nothing was decoded", status=413)
    return opened


def decode_pixels(source: _Opened, row: int) -> np.ndarray:
    """The frame's pixels (as ``predict`` reads the file: RGB, alpha dropped)."""
    if source.array is not None:
        return source.array
    try:
        with Image.open(io.BytesIO(source.data)) as image:
            return np.asarray(image.convert("RGB"))
    except (ValueError, OSError, SyntaxError) as exc:
        raise _bad_input(f"row {row}: 'image' is not a readable image file ({exc})") from exc


def decode_image(value: Any, row: int) -> np.ndarray:
    """A base64 image file (as ``predict`` reads the file: RGB, alpha dropped), or a uint8 array."""
    return decode_pixels(open_image(value, row, DEFAULT_LIMITS["max_pixels"]), row)


def _bad_input(message: str, status: int | None = None) -> ServingError:
    return ServingError(f"faceless model: {message}", error_code=INVALID_PARAMETER_VALUE, status=status)
