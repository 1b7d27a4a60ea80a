"""The ``ingestion`` stage: render the demo or find the folder/tar, then index and validate frames;
and the other people's frames, for SR trained on people outside the recognition set (a generator
variant with ``pairs: other``)."""
from kedro.pipeline import Node, Pipeline

from .nodes import prepare_source, scan_frames, scan_other_frames


def create_pipeline(other_people: bool = False, **kwargs) -> Pipeline:
    """``other_people``: also render or scan the other people's frames (a variant that is on trains
    SR on them); nothing of theirs runs otherwise."""
    others = [Node(scan_other_frames, {"params": "params:ingestion"},
                   ["other_frame_index", "other_ingestion_report"], name="scan_other_frames")] if other_people else []
    return Pipeline(
        [
            Node(prepare_source, "params:ingestion", "source_info", name="prepare_source"),
            Node(scan_frames, {"source_info": "source_info", "params": "params:ingestion"},
                 ["frame_index", "ingestion_report"], name="scan_frames"),
            *others,
        ],
        namespace="ingestion",
        prefix_datasets_with_namespace=False,
    )
