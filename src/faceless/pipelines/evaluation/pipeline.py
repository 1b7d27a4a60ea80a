from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.variants import VariantSpec

from .nodes import compare_variants, evaluate_variant


def create_pipeline(variants: dict[str, VariantSpec], **kwargs) -> Pipeline:
    """Each variant that is on evaluated on the test side (a namespace each; under its pooling too where
    it learned one), then the comparison."""
    parts = []
    for name, spec in variants.items():
        func = update_wrapper(partial(evaluate_variant, variant=name), evaluate_variant)
        parts.append(Pipeline([Node(
            func,
            {"classifier": f"classifier_{name}", "test_x": f"{spec.arrays}_test", "test_index": "test_index",
             "params": "params:evaluation", "pooling": f"pooling_{name}"},
            f"evaluation_{name}", name="evaluate",
        )], namespace=name, prefix_datasets_with_namespace=False))
    # By name: every evaluation, training report and SR report reaches compare_variants under its own name.
    reports = {f"{kind}_{v}": f"{kind}_{v}" for v in variants for kind in ("evaluation", "classifier_report")}
    reports.update({f"sr_report_{v}": f"sr_report_{v}" for v, spec in variants.items() if spec.has_generator})
    # Whose SR report the comparison's validation sections show, chosen by what the variants are: the
    # first generator trained on the recognition people's own pairs, and the first with identity terms.
    trained = [v for v, spec in variants.items() if spec.trains_generator and spec.pairs in ("auto", "truth")]
    compare = update_wrapper(partial(
        compare_variants, variants=list(variants),
        sr_variant=next((v for v in trained if not variants[v].identity), None),
        identity_variant=next((v for v in trained if variants[v].identity), None)), compare_variants)
    parts.append(Pipeline([Node(
        compare,
        {"sampling_report": "sampling_report", "params": "params:evaluation", "pooling_params": "params:pooling",
         **reports},
        ["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves", "evaluation_metrics",
         "differences", "differences_plot"],
        name="compare_variants",
    )]))
    return Pipeline(parts, namespace="evaluation", prefix_datasets_with_namespace=False)
