from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import VARIANTS, train_classifier

#: Which catalog arrays feed each variant (``<prefix>_train`` etc.).
VARIANT_INPUTS = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "hr": "hr"}


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for variant in VARIANTS:
        prefix = VARIANT_INPUTS[variant]
        func = update_wrapper(partial(train_classifier, variant=variant), train_classifier)
        nodes.append(Node(func, [f"{prefix}_train", "train_index", f"{prefix}_val", "val_index", "params:classifier"],
                          [f"classifier_{variant}", f"classifier_report_{variant}"],
                          name=f"train_classifier_{variant}"))
    return Pipeline(nodes)
