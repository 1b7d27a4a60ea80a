from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import upscale_bicubic, upscale_with_generator

SIDES = ("train", "val", "test")


def _named(func, name: str):
    # Each node's job carries its output's name, for logs and MLflow metric names.
    return update_wrapper(partial(func, name=name), func)


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for side in SIDES:
        nodes.append(Node(_named(upscale_with_generator, f"sr_{side}"),
                          [f"lr_{side}", "sr_generator", "params:upscaling"], f"sr_{side}",
                          name=f"upscale_sr_{side}"))
        nodes.append(Node(_named(upscale_bicubic, f"bicubic_{side}"), [f"lr_{side}", "params:upscaling"],
                          f"bicubic_{side}", name=f"upscale_bicubic_{side}"))
    return Pipeline(nodes)
