from kedro.pipeline import Node, Pipeline

from .nodes import log_served_model


def create_pipeline(**kwargs) -> Pipeline:
    # After the classifiers: the model `predict` would run, logged to the run as an MLflow model.
    return Pipeline(
        [
            Node(log_served_model,
                 {"sr_generator": "sr_generator", "classifier_lr": "classifier_lr",
                  "classifier_bicubic": "classifier_bicubic", "classifier_srgan": "classifier_srgan",
                  "train_index": "train_index", "predict_params": "params:predict",
                  "upscaling_params": "params:upscaling", "serving_params": "params:serving"},
                 "serving_report", name="log_served_model"),
        ],
        namespace="serving", prefix_datasets_with_namespace=False,
    )
