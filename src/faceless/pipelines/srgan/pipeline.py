from kedro.pipeline import Node, Pipeline

from .nodes import plot_sr_samples, sr_metrics, train_srgan


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(train_srgan, ["lr_train", "hr_train", "lr_val", "hr_val", "params:srgan"],
                 ["sr_generator", "sr_report"], name="train_srgan"),
            Node(plot_sr_samples, ["sr_generator", "lr_val", "hr_val", "params:srgan"], "sr_samples",
                 name="plot_sr_samples"),
            Node(sr_metrics, "sr_report", "sr_final_metrics", name="sr_metrics"),
        ]
    )
