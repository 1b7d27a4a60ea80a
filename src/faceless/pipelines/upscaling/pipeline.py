from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.data import SIDES
from faceless.variants import VariantSpec

from .nodes import downscale_truth, upscale_bicubic, upscale_with_generator


def _named(func, name: str):
    # Each node's output name doubles as its cache entry's name and its MLflow metric prefix.
    return update_wrapper(partial(func, name=name), func)


def create_pipeline(variants: dict[str, VariantSpec], **kwargs) -> Pipeline:
    """One namespace per variant that is on and whose input is made here: ``<variant>_<side>`` for
    every side, by its generator, its interpolation, or the truth downscaled."""
    parts = []
    for name, spec in variants.items():
        if not spec.makes_input:
            continue
        nodes = []
        for side in SIDES:
            output = f"{name}_{side}"
            if spec.input == "generator":
                node = Node(_named(upscale_with_generator, output), {"lr": f"lr_{side}", "sr_generator":
                            f"sr_generator_{name}", "params": "params:upscaling"}, output, name=f"upscale_{side}")
            elif spec.input == "interpolate":
                node = Node(_named(upscale_bicubic, output), {"lr": f"lr_{side}", "params": "params:upscaling"},
                            output, name=f"upscale_{side}")
            else:
                node = Node(_named(downscale_truth, output), {"hr": f"hr_{side}", "params": "params:upscaling"},
                            output, name=f"downscale_{side}")
            nodes.append(node)
        parts.append(Pipeline(nodes, namespace=name, prefix_datasets_with_namespace=False))
    return Pipeline(parts, namespace="upscaling", prefix_datasets_with_namespace=False)
