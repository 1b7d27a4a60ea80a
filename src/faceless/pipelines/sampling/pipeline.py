from kedro.pipeline import Node, Pipeline

from .nodes import load_split_frames, sample_splits, sampling_metrics, split_frames


def create_pipeline(**kwargs) -> Pipeline:
    loads = [
        Node(load_split_frames, [f"{side}_index", "params:sampling"], [f"lr_{side}", f"hr_{side}"],
             name=f"load_{side}_frames")
        for side in ("train", "val", "test")
    ]
    return Pipeline(
        [
            Node(split_frames, ["frame_index", "params:sampling"], ["split_index", "split_info"],
                 name="split_frames"),
            Node(sample_splits, ["split_index", "split_info", "params:sampling"],
                 ["train_index", "val_index", "test_index", "sampling_report"], name="sample_splits"),
            Node(sampling_metrics, "sampling_report", "sampling_metrics", name="sampling_metrics"),
            *loads,
        ]
    )
