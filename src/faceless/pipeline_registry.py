"""Project pipelines, built from conf's variants and registered explicitly.

Kedro's ``find_pipelines()`` cannot serve a composite such as ``full`` (it would look for a
``faceless.pipelines.full`` package), so every stage is imported and named here. The stages that
depend on the variants (srgan, upscaling, classifier, evaluation, and predict / serving through
``predict.variant``) are built from the run's ``variants`` mapping (:mod:`faceless.variants`, read
through the project's context, :mod:`faceless.pipelines.context`): one namespace per variant that is on, and
none for a variant that is off.
"""
from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline

# Stage packages do not import kedro themselves, so their nodes run where kedro is not installed
# (e.g. a bare GPU box running bench/gpu_check.py); the wiring lives in each ``pipeline.py``.
from faceless.pipelines.context import active_parameters
from faceless.pipelines.ingestion import pipeline as ingestion
from faceless.pipelines.sampling import pipeline as sampling
from faceless.pipelines.srgan import pipeline as srgan
from faceless.pipelines.upscaling import pipeline as upscaling
from faceless.pipelines.classifier import pipeline as classifier
from faceless.pipelines.evaluation import pipeline as evaluation
from faceless.pipelines.predict import pipeline as predict
from faceless.pipelines.serving import pipeline as serving
from faceless.utils.errors import ConfigError
from faceless.variants import VariantSpec, uses_other_people, variant_specs

#: The stages of ``full``, in order.
STAGES = ("ingestion", "sampling", "srgan", "upscaling", "classifier", "evaluation", "serving")


def build_pipelines(parameters: dict[str, Any]) -> dict[str, Pipeline]:
    """Every stage's pipeline, ``full`` and ``predict`` for ``parameters`` (a run's, with its env and
    runtime parameters)."""
    try:
        declared = variant_specs(parameters.get("variants"))
    except ConfigError:
        # Said in one line before any work (hooks.validate_parameters); the DAG still lists the rest.
        declared = {}
    on = {name: spec for name, spec in declared.items() if spec.enabled}
    answering = str((parameters.get("predict") or {}).get("variant", ""))
    answering_spec: VariantSpec | None = declared.get(answering)
    pipelines = {
        "ingestion": ingestion.create_pipeline(other_people=uses_other_people(on)),
        "sampling": sampling.create_pipeline(other_people=uses_other_people(on)),
        "srgan": srgan.create_pipeline(variants=on),
        "upscaling": upscaling.create_pipeline(variants=on),
        "classifier": classifier.create_pipeline(variants=on),
        "evaluation": evaluation.create_pipeline(variants=on),
        "serving": serving.create_pipeline(variant=answering, spec=answering_spec),
    }
    pipelines["full"] = sum((pipelines[stage] for stage in STAGES), Pipeline([]))
    pipelines["__default__"] = pipelines["full"]
    # Not part of `full`: it names the people of an unlabeled test set with the models `full` saved.
    pipelines["predict"] = predict.create_pipeline(variant=answering, spec=answering_spec)
    return pipelines


def register_pipelines() -> dict[str, Pipeline]:
    return build_pipelines(active_parameters())
