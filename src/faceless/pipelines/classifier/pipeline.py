from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.recognition.variants import VARIANT_ARRAYS, VARIANTS

from .nodes import train_classifier


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for variant in VARIANTS:
        arrays = VARIANT_ARRAYS[variant]
        func = update_wrapper(partial(train_classifier, variant=variant), train_classifier)
        nodes.append(Node(
            func,
            {"train_x": f"{arrays}_train", "train_index": "train_index", "val_x": f"{arrays}_val",
             "val_index": "val_index", "params": "params:classifier"},
            [f"classifier_{variant}", f"classifier_report_{variant}"],
            name=f"train_classifier_{variant}",
        ))
    return Pipeline(nodes, namespace="classifier", prefix_datasets_with_namespace=False)
