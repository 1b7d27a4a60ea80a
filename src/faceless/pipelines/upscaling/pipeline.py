from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.data import SIDES

from .nodes import make_clean64, upscale_bicubic, upscale_with_generator


def _named(func, name: str):
    # Each node's output name doubles as its cache entry's name and its MLflow metric prefix.
    return update_wrapper(partial(func, name=name), func)


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for side in SIDES:
        nodes.append(Node(_named(upscale_with_generator, f"sr_{side}"),
                          {"lr": f"lr_{side}", "sr_generator": "sr_generator", "params": "params:upscaling"},
                          f"sr_{side}", name=f"upscale_sr_{side}"))
        nodes.append(Node(_named(upscale_with_generator, f"sr_self_{side}"),
                          {"lr": f"lr_{side}", "sr_generator": "sr_generator_self", "params": "params:upscaling"},
                          f"sr_self_{side}", name=f"upscale_sr_self_{side}"))
        nodes.append(Node(_named(upscale_with_generator, f"sr_id_{side}"),
                          {"lr": f"lr_{side}", "sr_generator": "sr_generator_id", "params": "params:upscaling"},
                          f"sr_id_{side}", name=f"upscale_sr_id_{side}"))
        nodes.append(Node(_named(upscale_with_generator, f"sr_pretrained_{side}"),
                          {"lr": f"lr_{side}", "sr_generator": "sr_generator_pretrained", "params": "params:upscaling"},
                          f"sr_pretrained_{side}", name=f"upscale_sr_pretrained_{side}"))
        nodes.append(Node(_named(upscale_bicubic, f"bicubic_{side}"),
                          {"lr": f"lr_{side}", "params": "params:upscaling"},
                          f"bicubic_{side}", name=f"upscale_bicubic_{side}"))
        nodes.append(Node(_named(make_clean64, f"clean64_{side}"), {"hr": f"hr_{side}", "params": "params:upscaling"},
                          f"clean64_{side}", name=f"make_clean64_{side}"))
    return Pipeline(nodes, namespace="upscaling", prefix_datasets_with_namespace=False)
