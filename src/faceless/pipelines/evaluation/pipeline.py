from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.recognition.variants import VARIANT_ARRAYS, VARIANTS

from .nodes import compare_variants, evaluate_variant


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for variant in VARIANTS:
        func = update_wrapper(partial(evaluate_variant, variant=variant), evaluate_variant)
        nodes.append(Node(
            func,
            {"classifier": f"classifier_{variant}", "test_x": f"{VARIANT_ARRAYS[variant]}_test",
             "test_index": "test_index", "params": "params:evaluation"},
            f"evaluation_{variant}", name=f"evaluate_{variant}",
        ))
    # By name: every evaluation and training report reaches compare_variants under its own name.
    reports = {f"{kind}_{v}": f"{kind}_{v}" for kind in ("evaluation", "classifier_report") for v in VARIANTS}
    nodes.append(Node(
        compare_variants,
        {"sampling_report": "sampling_report", "sr_report": "sr_report", "params": "params:evaluation",
         "sr_report_id": "sr_report_id", **reports},
        ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves", "evaluation_metrics",
         "differences", "differences_plot"],
        name="compare_variants",
    ))
    return Pipeline(nodes, namespace="evaluation", prefix_datasets_with_namespace=False)
