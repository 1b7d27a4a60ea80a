from kedro.pipeline import Node, Pipeline

from .nodes import (
    load_unlabeled_frames,
    predict_input,
    predict_metrics,
    predict_sequences,
    prepare_predict_source,
    scan_unlabeled,
)


def create_pipeline(**kwargs) -> Pipeline:
    # Reads what an earlier `full` run saved (sr_generator, classifier_*, test_index for the demo
    # export); trains nothing.
    return Pipeline(
        [
            Node(prepare_predict_source, ["test_index", "params:predict"], "predict_source",
                 name="prepare_predict_source"),
            Node(scan_unlabeled, ["predict_source", "params:predict"], ["predict_index", "predict_ingestion_report"],
                 name="scan_unlabeled"),
            Node(load_unlabeled_frames, ["predict_index", "params:predict"], "lr_predict", name="load_predict_frames"),
            Node(predict_input, {"lr": "lr_predict", "sr_generator": "sr_generator",
                                 "predict_params": "params:predict", "upscaling_params": "params:upscaling"},
                 "predict_input", name="predict_input"),
            Node(predict_sequences,
                 {"frames": "predict_input", "index": "predict_index", "source": "predict_source",
                  "train_index": "train_index", "classifier_lr": "classifier_lr",
                  "classifier_bicubic": "classifier_bicubic", "classifier_srgan": "classifier_srgan",
                  "params": "params:predict"},
                 ["submission", "predictions", "predict_report"], name="predict_sequences"),
            Node(predict_metrics, "predict_report", "predict_metrics", name="predict_metrics"),
        ],
        namespace="predict", prefix_datasets_with_namespace=False,
    )
