"""Project pipelines, registered explicitly.

Kedro's ``find_pipelines()`` cannot serve a composite such as ``full`` (it would look for a
``faceless.pipelines.full`` package), so every stage is imported and named here.
"""
from __future__ import annotations

from kedro.pipeline import Pipeline

# Stage packages do not import kedro themselves, so their nodes run where kedro is not installed
# (e.g. a bare GPU box running bench/gpu_check.py); the wiring lives in each ``pipeline.py``.
from faceless.pipelines.ingestion import pipeline as ingestion
from faceless.pipelines.sampling import pipeline as sampling
from faceless.pipelines.srgan import pipeline as srgan
from faceless.pipelines.upscaling import pipeline as upscaling
from faceless.pipelines.classifier import pipeline as classifier
from faceless.pipelines.evaluation import pipeline as evaluation
from faceless.pipelines.predict import pipeline as predict
from faceless.pipelines.serving import pipeline as serving

STAGES = {
    "ingestion": ingestion.create_pipeline,
    "sampling": sampling.create_pipeline,
    "srgan": srgan.create_pipeline,
    "upscaling": upscaling.create_pipeline,
    "classifier": classifier.create_pipeline,
    "evaluation": evaluation.create_pipeline,
    "serving": serving.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in STAGES.items()}
    pipelines["full"] = sum(pipelines.values(), Pipeline([]))
    pipelines["__default__"] = pipelines["full"]
    # Not part of `full`: it names the people of an unlabeled test set with the models `full` saved.
    pipelines["predict"] = predict.create_pipeline()
    return pipelines
