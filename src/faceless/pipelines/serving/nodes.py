"""Serving node: the model ``predict`` runs, logged to the run as an MLflow model (pyfunc)."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from faceless.data.people import class_names
from faceless.data.predict_config import PredictConfig
from faceless.pipelines.predict.nodes import answering_spec, pooling_entry
from faceless.pipelines.serving import served
from faceless.pipelines.serving.config import serving_config
from faceless.pipelines.serving.model import FacelessModel, encode_image, input_example
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: The documented input: one row per frame (see faceless.pipelines.serving.model).
SIGNATURE = ModelSignature(inputs=Schema([ColSpec("string", "sequence"), ColSpec("string", "image")]))


def serving_request(lr_test: np.ndarray, test_index: pd.DataFrame, params: dict[str, Any]) -> dict[str, Any]:
    """A request the served model answers as it is, for the README's curl: ``serving.request_sequences``
    whole test sequences (one a person, the first people), every frame a PNG (base64), in the body `mlflow models serve`'s
    ``/invocations`` takes: ``{"dataframe_split": {"columns": ["sequence", "image"], "data": [...]}}``.
    A sequence's id names its person, video and sequence, so the answer can be checked by eye."""
    index = test_index.reset_index(drop=True).assign(row=np.arange(len(test_index)))
    ordered = index.sort_values(["label", "video", "sequence", "frame"])
    count = serving_config(params).request_sequences
    chosen = ordered.drop_duplicates("label")[["label", "video", "sequence"]].head(count)
    data = []
    for _, key in chosen.iterrows():
        frames = ordered[(ordered["label"] == key["label"]) & (ordered["video"] == key["video"])
                         & (ordered["sequence"] == key["sequence"])]
        name = f"{frames['person_name'].iloc[0]}/video_{key['video']}/seq_{key['sequence']}"
        data += [[name, encode_image(np.asarray(lr_test[row]))] for row in frames["row"]]
    return {"dataframe_split": {"columns": ["sequence", "image"], "data": data}}


def model_parts(classifier: dict[str, Any], train_index: pd.DataFrame, predict_params: dict[str, Any],
                variants: dict[str, Any], sr_generator: dict[str, Any] | None = None,
                pooling: dict[str, Any] | None = None) -> dict[str, Any]:
    """``predict.variant``'s classifier, how its input is made, its generator where it has one, its
    class names, and its pooling file (None: the mean)."""
    variant = from_params(PredictConfig, predict_params, "predict").variant
    spec = answering_spec(variants, variant)
    if "skipped" in classifier:
        raise ConfigError(f"predict.variant={variant}: that classifier was not trained ({classifier['skipped']}), "
                          "so there is no model to serve; choose a variant the run trains")
    names = classifier.get("class_names") or class_names(int(classifier["config"]["num_classes"]), train_index)
    return {"variant": variant, "input": spec.input, "classifier": classifier,
            "generator": sr_generator if spec.has_generator else None, "class_names": list(names),
            "pooling": pooling}


def serving_limits_of(serving_params: dict[str, Any]) -> dict[str, Any]:
    """The served model's limits (``serving.max_frames_per_request``, ``serving.max_pixels``), saved with it."""
    return {key: serving_params[key] for key in ("max_frames_per_request", "max_pixels") if key in serving_params}


def log_served_model(classifier: dict[str, Any], train_index: pd.DataFrame, predict_params: dict[str, Any],
                     upscaling_params: dict[str, Any], serving_params: dict[str, Any], variants: dict[str, Any],
                     sr_generator: dict[str, Any] | None = None, pooling: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """Log the model to this run as ``serving.name`` (``runs:/<run id>/<name>``), its sequences pooled
    as ``pooling`` (the variant's pooling file) says; a report of it."""
    parts = model_parts(classifier, train_index, predict_params, variants, sr_generator, pooling)
    settings = {"predict": predict_params, "upscaling": upscaling_params, "serving": serving_limits_of(serving_params)}
    FacelessModel.from_parts(parts, settings)  # checks the settings now, not at the first request
    config = serving_config(serving_params)
    name, registered = config.name, config.registered_model_name
    report = {"name": name, "variant": parts["variant"], **pooling_entry(pooling), "people": len(parts["class_names"]),
              "model_uri": None}
    if mlflow.active_run() is None:
        logger.info("serving: no MLflow run, so no model is logged")
        return report
    with tempfile.TemporaryDirectory() as folder:
        torch.save(parts, Path(folder) / "model.pt")
        (Path(folder) / "settings.json").write_text(json.dumps(settings, indent=2))
        info = mlflow.pyfunc.log_model(
            name=name, python_model=served.__file__, signature=SIGNATURE, registered_model_name=registered,
            input_example=input_example(parts, int(upscaling_params["factor"])),
            artifacts={"model": str(Path(folder) / "model.pt"), "settings": str(Path(folder) / "settings.json")},
            # Given, not inferred (MLflow would load the model in a subprocess to guess them).
            pip_requirements=["torch", "torchvision", "numpy", "pandas", "pillow", "mlflow"])
    report["model_uri"] = f"runs:/{mlflow.active_run().info.run_id}/{name}"
    logger.info("serving: logged the %s model as %s (mlflow models serve -m %s --env-manager local)",
                parts["variant"], report["model_uri"], report["model_uri"])
    return {**report, "logged_model_id": info.model_id}
