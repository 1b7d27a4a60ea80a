from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.variants import VariantSpec, no_data_reason

from .nodes import train_classifier, train_pooling


def create_pipeline(variants: dict[str, VariantSpec], **kwargs) -> Pipeline:
    """The same recipe trained on each variant that is on, in a namespace of its own, then the pooling
    of its sequences (``params:pooling``) on the same training and validation sides."""
    parts = []
    for name, spec in variants.items():
        func = update_wrapper(partial(train_classifier, variant=name, no_data=no_data_reason(spec)), train_classifier)
        sides = {"train_x": f"{spec.arrays}_train", "train_index": "train_index", "val_x": f"{spec.arrays}_val",
                 "val_index": "val_index"}
        pooling = update_wrapper(partial(train_pooling, variant=name), train_pooling)
        parts.append(Pipeline([
            Node(func, {**sides, "params": "params:classifier"}, [f"classifier_{name}", f"classifier_report_{name}"],
                 name="train"),
            Node(pooling, {"classifier": f"classifier_{name}", **sides, "params": "params:pooling"},
                 [f"pooling_{name}", f"pooling_report_{name}"], name="train_pooling"),
        ], namespace=name, prefix_datasets_with_namespace=False))
    return Pipeline(parts, namespace="classifier", prefix_datasets_with_namespace=False)
