from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.pipelines.classifier.nodes import VARIANTS
from faceless.pipelines.classifier.pipeline import VARIANT_INPUTS

from .nodes import compare_variants, evaluate_variant


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for variant in VARIANTS:
        func = update_wrapper(partial(evaluate_variant, variant=variant), evaluate_variant)
        nodes.append(Node(func, [f"classifier_{variant}", f"{VARIANT_INPUTS[variant]}_test", "test_index",
                                 "params:evaluation"], f"evaluation_{variant}", name=f"evaluate_{variant}"))
    nodes.append(Node(
        compare_variants,
        ["sampling_report", "sr_report", *[f"evaluation_{v}" for v in VARIANTS],
         *[f"classifier_report_{v}" for v in VARIANTS]],
        ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves", "evaluation_metrics"],
        name="compare_variants",
    ))
    return Pipeline(nodes)
