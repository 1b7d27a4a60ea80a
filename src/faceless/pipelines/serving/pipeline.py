from kedro.pipeline import Node, Pipeline

from faceless.variants import VariantSpec

from .nodes import log_served_model, serving_request


def create_pipeline(variant: str, spec: VariantSpec | None, **kwargs) -> Pipeline:
    """After the classifiers: the model `predict` would run (``predict.variant``'s classifier and pooling
    and, for a generator variant, its generator), logged to the run as an MLflow model."""
    generator = {"sr_generator": f"sr_generator_{variant}"} if spec is not None and spec.has_generator else {}
    return Pipeline(
        [
            Node(log_served_model,
                 {"classifier": f"classifier_{variant}", "train_index": "train_index",
                  "predict_params": "params:predict", "upscaling_params": "params:upscaling",
                  "serving_params": "params:serving", "variants": "params:variants", **generator,
                  "pooling": f"pooling_{variant}"},
                 "serving_report", name="log_served_model"),
            # The README's curl posts this file to the served model (a few of the test side's sequences).
            Node(serving_request, {"lr_test": "lr_test", "test_index": "test_index", "params": "params:serving"},
                 "serving_request", name="write_request"),
        ],
        namespace="serving", prefix_datasets_with_namespace=False,
    )
