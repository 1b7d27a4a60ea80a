from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from faceless.data import SIDES

from .nodes import make_clean64, upscale_bicubic, upscale_with_generator


def _named(func, name: str):
    # Each node's output name doubles as its cache entry's name and its MLflow metric prefix.
    return update_wrapper(partial(func, name=name), func)


#: The arrays each SR generator makes (``<arrays>_train`` ...), and that generator's catalog entry.
GENERATOR_OF = {"sr": "sr_generator", "sr_self": "sr_generator_self", "sr_id": "sr_generator_id",
                "sr_pretrained": "sr_generator_pretrained"}


def create_pipeline(**kwargs) -> Pipeline:
    nodes = []
    for side in SIDES:
        for arrays, generator in GENERATOR_OF.items():
            nodes.append(Node(_named(upscale_with_generator, f"{arrays}_{side}"),
                              {"lr": f"lr_{side}", "sr_generator": generator, "params": "params:upscaling"},
                              f"{arrays}_{side}", name=f"upscale_{arrays}_{side}"))
        nodes.append(Node(_named(upscale_bicubic, f"bicubic_{side}"),
                          {"lr": f"lr_{side}", "params": "params:upscaling"},
                          f"bicubic_{side}", name=f"upscale_bicubic_{side}"))
        nodes.append(Node(_named(make_clean64, f"clean64_{side}"), {"hr": f"hr_{side}", "params": "params:upscaling"},
                          f"clean64_{side}", name=f"make_clean64_{side}"))
    return Pipeline(nodes, namespace="upscaling", prefix_datasets_with_namespace=False)
