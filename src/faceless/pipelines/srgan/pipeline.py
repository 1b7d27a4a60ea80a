from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.variants import VariantSpec

from .nodes import import_generator, plot_sr_samples, train_generator_variant


def _named(func, variant: str):
    return update_wrapper(partial(func, variant=variant), func)


def create_pipeline(variants: dict[str, VariantSpec], **kwargs) -> Pipeline:
    """One namespace per generator variant that is on: trained by srgan's recipe with its block's
    changes (or imported as it is), and its sample grid. Its validation numbers are the last points
    of its metric histories (``srgan/<variant>/val_*``), logged by the training itself."""
    parts = []
    for name, spec in variants.items():
        if not spec.has_generator:
            continue
        outputs = [f"sr_generator_{name}", f"sr_report_{name}"]
        conf = {"srgan": "params:srgan", "variants": "params:variants"}
        val = {"lr_val": "lr_val", "hr_val": "hr_val"}
        if spec.imports:
            train = Node(_named(import_generator, name), {**val, **conf}, outputs, name="import")
        else:
            frames = ({"lr_train": "lr_other", "hr_train": "hr_other"} if spec.pairs == "other"
                      else {"lr_train": "lr_train", "hr_train": "hr_train"})
            labels = {"train_index": "train_index", "val_index": "val_index"} if spec.identity else {}
            train = Node(_named(train_generator_variant, name), {**frames, **val, **labels, **conf}, outputs,
                         name="train")
        parts.append(Pipeline([
            train,
            Node(plot_sr_samples, {"sr_generator": f"sr_generator_{name}", "lr_val": "lr_val", "hr_val": "hr_val",
                                   "params": "params:srgan"}, f"sr_samples_{name}", name="plot_samples"),
        ], namespace=name, prefix_datasets_with_namespace=False))
    return Pipeline(parts, namespace="srgan", prefix_datasets_with_namespace=False)
