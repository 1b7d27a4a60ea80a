"""Project pipelines, registered explicitly.

Kedro's ``find_pipelines()`` cannot serve a composite such as ``full`` (it would look for a
``faceless.pipelines.full`` package), so every stage is imported and named here.
"""
from __future__ import annotations

from kedro.pipeline import Pipeline

from faceless.pipelines import ingestion, sampling

STAGES = {
    "ingestion": ingestion.create_pipeline,
    "sampling": sampling.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in STAGES.items()}
    pipelines["full"] = sum(pipelines.values(), Pipeline([]))
    pipelines["__default__"] = pipelines["full"]
    return pipelines
