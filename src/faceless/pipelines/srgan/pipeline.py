from kedro.pipeline import Node, Pipeline

from .nodes import (import_srgan_pretrained, plot_sr_samples, sr_metrics, train_srgan, train_srgan_id,
                    train_srgan_self)


def create_pipeline(**kwargs) -> Pipeline:
    frames = {"lr_train": "lr_train", "hr_train": "hr_train", "lr_val": "lr_val", "hr_val": "hr_val"}
    nodes = [
        Node(train_srgan, {**frames, "params": "params:srgan"}, ["sr_generator", "sr_report"],
             name="train_srgan"),
        Node(train_srgan_self, {**frames, "params": "params:srgan"}, ["sr_generator_self", "sr_report_self"],
             name="train_srgan_self"),
        Node(train_srgan_id, {**frames, "train_index": "train_index", "val_index": "val_index",
                              "params": "params:srgan"}, ["sr_generator_id", "sr_report_id"], name="train_srgan_id"),
        Node(import_srgan_pretrained, {"lr_val": "lr_val", "hr_val": "hr_val", "params": "params:srgan"},
             ["sr_generator_pretrained", "sr_report_pretrained"], name="import_srgan_pretrained"),
        Node(plot_sr_samples, {"sr_generator": "sr_generator", "lr_val": "lr_val", "hr_val": "hr_val",
                               "params": "params:srgan"}, "sr_samples", name="plot_sr_samples"),
        Node(sr_metrics, {"sr_report": "sr_report"}, "sr_final_metrics", name="sr_metrics"),
        Node(sr_metrics, {"sr_report": "sr_report_id"}, "sr_final_metrics_id", name="sr_metrics_id"),
    ]
    return Pipeline(nodes, namespace="srgan", prefix_datasets_with_namespace=False)
