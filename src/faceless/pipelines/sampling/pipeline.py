"""The ``sampling`` stage: split disjointly, sample each side, load the chosen frames; and the other
people's frames for SR trained outside the recognition set (``pairs: other``: ``lr_other``, ``hr_other``)."""
from kedro.pipeline import Node, Pipeline

from faceless.data import SIDES

from .nodes import (
    load_other_frames,
    load_split_frames,
    sample_other_frames,
    sample_splits,
    sampling_metrics,
    split_frames,
)


def create_pipeline(other_people: bool = False, **kwargs) -> Pipeline:
    """``other_people``: also sample and load the other people's frames (``lr_other``, ``hr_other``)."""
    others = [
        Node(sample_other_frames,
             {"other_frame_index": "other_frame_index", "split_index": "split_index", "params": "params:sampling"},
             ["other_index", "other_sampling_report"], name="sample_other_frames"),
        Node(load_other_frames, {"index": "other_index", "params": "params:sampling"},
             ["lr_other", "hr_other"], name="load_other_frames"),
    ] if other_people else []
    loads = [
        Node(load_split_frames, {"index": f"{side}_index", "params": "params:sampling"},
             [f"lr_{side}", f"hr_{side}"], name=f"load_{side}_frames")
        for side in SIDES
    ]
    return Pipeline(
        [
            Node(split_frames, {"frame_index": "frame_index", "params": "params:sampling"},
                 ["split_index", "split_info"], name="split_frames"),
            Node(sample_splits,
                 {"split_index": "split_index", "split_info": "split_info", "params": "params:sampling"},
                 ["train_index", "val_index", "test_index", "sampling_report"], name="sample_splits"),
            Node(sampling_metrics, "sampling_report", "sampling_metrics", name="sampling_metrics"),
            *loads,
            *others,
        ],
        namespace="sampling",
        prefix_datasets_with_namespace=False,
    )
