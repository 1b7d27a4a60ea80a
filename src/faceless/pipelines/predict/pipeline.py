from kedro.pipeline import Node, Pipeline

from faceless.variants import VariantSpec

from .nodes import (
    load_unlabeled_frames,
    predict_input,
    predict_metrics,
    predict_sequences,
    prepare_predict_source,
    scan_unlabeled,
)


def create_pipeline(variant: str, spec: VariantSpec | None, **kwargs) -> Pipeline:
    """Name the people of unlabeled sequences with ``predict.variant``'s classifier (and generator,
    ``spec``: that variant's block, None where it is not declared: its node then says so)."""
    # Reads what an earlier `full` run saved (the variant's generator, classifier and pooling, test_index
    # for the demo export); trains nothing.
    generator = {"sr_generator": f"sr_generator_{variant}"} if spec is not None and spec.has_generator else {}
    return Pipeline(
        [
            Node(prepare_predict_source, ["test_index", "params:predict"], "predict_source",
                 name="prepare_predict_source"),
            Node(scan_unlabeled, ["predict_source", "params:predict"], ["predict_index", "predict_ingestion_report"],
                 name="scan_unlabeled"),
            Node(load_unlabeled_frames, ["predict_index", "params:predict"], "lr_predict", name="load_predict_frames"),
            Node(predict_input, {"lr": "lr_predict", "predict_params": "params:predict",
                                 "upscaling_params": "params:upscaling", "variants": "params:variants",
                                 "classifier": f"classifier_{variant}", **generator},
                 "predict_input", name="predict_input"),
            Node(predict_sequences,
                 {"frames": "predict_input", "index": "predict_index", "source": "predict_source",
                  "train_index": "train_index", "classifier": f"classifier_{variant}", "params": "params:predict",
                  "pooling": f"predict_pooling_{variant}"},
                 ["submission", "predictions", "predict_report"], name="predict_sequences"),
            Node(predict_metrics, "predict_report", "predict_metrics", name="predict_metrics"),
        ],
        namespace="predict", prefix_datasets_with_namespace=False,
    )
