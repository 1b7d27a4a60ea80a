"""Ingestion nodes: make sure the frames exist (rendering the demo if asked), then index them.

``ingestion.root`` may be a folder or an uncompressed ``.tar`` archive (read in place), in any
layout of :mod:`faceless.data.layouts` (``ingestion.layout``).

``scan_other_frames`` indexes the *other people* (for a generator with ``pairs: other``: SR trained
on people who are not in the recognition set): the demo's own (``ingestion.demo.other_people``), or
a user's second tree (``ingestion.other_root``, high-resolution frames; optionally
``ingestion.other_hr_root`` when it holds low-resolution frames with their truth)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceless.data.frame_tree import FRAME_COLUMNS, scan_frame_tree
from faceless.data.ingestion_config import IngestionConfig
from faceless.data.synthetic import FRAMES_FOLDER, TRUTH_FOLDER, generate_demo, generate_other_demo
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)


def ingestion_config(params: dict[str, Any]) -> IngestionConfig:
    """``params:ingestion`` as a typed config; a wrong, unknown or missing key is one ConfigError line."""
    return from_params(IngestionConfig, params, "ingestion")


def prepare_source(params: dict[str, Any]) -> dict[str, Any]:
    """Where the frames are. For ``synthetic`` the demo tree is rendered first, unless a tree made
    with the same parameters is already there."""
    config = ingestion_config(params)
    if config.source == "folder":
        return {"source": config.source, "root": config.root, "hr_root": config.hr_root, "generated": False,
                "layout": config.layout, "sequence_length": config.sequence_length, "test_only_videos": []}
    demo_root, size = Path(config.demo.root), config.demo.size()
    info = generate_demo(demo_root, size, workers=config.workers, extra_test_videos=config.demo.extra_test_videos,
                         frame_corruption=config.demo.frame_corruption)
    if info["generated"]:
        logger.info("rendered the demo dataset: %d frames of %d people under %s", info["frames"], size.people, demo_root)
    else:
        logger.info("demo dataset under %s already matches the parameters: not regenerated", demo_root)
    return {
        "source": config.source,
        "root": str(demo_root / FRAMES_FOLDER),
        "hr_root": str(demo_root / TRUTH_FOLDER),
        "generated": bool(info["generated"]),
        "demo": info["fingerprint"],
        "layout": "orcam",  # the demo is always rendered in the OrCam layout
        "sequence_length": None,
        # [person, video] of the extra videos rendered for the test side alone (scan_frames marks them).
        "test_only_videos": info["test_only_videos"],
    }


def scan_frames(source_info: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Index and validate every frame; bad ones are skipped and counted in the report.

    The index's ``test_only`` column marks the frames of the videos ``source_info`` names as the
    test side's alone (the demo's extra test videos; none on a folder or tar source)."""
    config = ingestion_config(params)
    frame_index, report = scan_frame_tree(
        source_info["root"],
        hr_root=source_info["hr_root"],
        validate=config.validate,
        workers=config.workers,
        layout=source_info["layout"],
        sequence_length=source_info["sequence_length"],
    )
    report["source"] = source_info["source"]
    frame_index["test_only"] = mark_test_only(frame_index, source_info["test_only_videos"])
    report["test_only_videos"] = int(frame_index.loc[frame_index["test_only"], ["person", "video"]]
                                     .drop_duplicates().shape[0])
    skipped = report["frames_skipped"]
    logger.info(
        "ingestion: %d frames of %d people kept, %d skipped %s",
        report["frames_kept"], report["people"], skipped,
        {k: v for k, v in report["skipped_by_reason"].items() if v} if skipped else "",
    )
    return frame_index, report


def mark_test_only(frame_index: pd.DataFrame, videos: list[list[int]]) -> np.ndarray:
    """True for the frames of the [person, video] pairs ``videos`` (the test side's alone)."""
    if not videos:
        return np.zeros(len(frame_index), dtype=bool)
    wanted = pd.MultiIndex.from_tuples([tuple(pair) for pair in videos], names=["person", "video"])
    return pd.MultiIndex.from_frame(frame_index[["person", "video"]]).isin(wanted)


#: The other people's index: the frame index's columns and ``hr_path`` (``path`` null where the
#: other tree holds high-resolution frames only: the LR side is then made from them when loaded).
OTHER_COLUMNS = [*FRAME_COLUMNS, "hr_path"]


def empty_other_index() -> pd.DataFrame:
    numbers = {c: pd.Series(dtype=np.int64) for c in ("person", "video", "sequence", "frame", "label")}
    return pd.DataFrame({**numbers, **{c: pd.Series(dtype=object) for c in ("person_name", "path", "hr_path")}}
                        )[OTHER_COLUMNS]


def scan_other_frames(params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The other people's frames (SR training only): ``other_frame_index`` and its report.

    Demo: renders ``ingestion.demo.other_people`` (cached like the demo) into
    ``ingestion.demo.other_root`` and scans its lr/hr pairs. Folder: ``ingestion.other_root`` with
    ``ingestion.other_hr_root`` as its truth, or, without one, as high-resolution frames alone
    (``path`` null: the LR side is those frames area-downscaled when loaded). None: an empty index.
    """
    config = ingestion_config(params)
    source = _other_source(config)
    if source["root"] is None:
        logger.info("ingestion: no other people (%s)", source["note"])
        return empty_other_index(), {**source, "people": 0, "frames_kept": 0}
    if source["hr_root"] is not None and not Path(source["hr_root"]).exists():
        raise ConfigError(f"ingestion.other_hr_root: '{source['hr_root']}' does not exist")
    index, report = scan_frame_tree(source["root"], hr_root=source["hr_root"], validate=config.validate,
                                    workers=config.workers, layout=source["layout"],
                                    sequence_length=config.sequence_length, config_name="ingestion.other_root")
    if source["hr_root"] is None:  # high-resolution frames alone: they are the truth
        index = index.assign(hr_path=index["path"], path=None)
    logger.info("ingestion: %d frames of %d other people (SR training only; %s)", len(index),
                report.get("people", 0), source["lr_frames"])
    return index[OTHER_COLUMNS], {**source, **report}


def _other_source(config: IngestionConfig) -> dict[str, Any]:
    """Where the other people's frames are (rendering the demo's first), and what their LR side is."""
    files = "LR frames from files, paired with their truth"
    if config.source == "synthetic":
        size, demo = config.demo.size(), config.demo
        info = generate_other_demo(Path(demo.other_root), size, demo.other_people, workers=config.workers,
                                   frame_corruption=demo.frame_corruption)
        if not info["people"]:
            return {"source": "synthetic", "root": None, "hr_root": None, "note": "ingestion.demo.other_people is 0"}
        return {"source": "synthetic", "root": str(Path(demo.other_root) / FRAMES_FOLDER),
                "hr_root": str(Path(demo.other_root) / TRUTH_FOLDER), "layout": "orcam", "generated": bool(info["generated"]),
                "person_numbers": info["person_numbers"], "lr_frames": files}
    if not config.other_root:
        return {"source": "none", "root": None, "hr_root": None, "note": "ingestion.other_root is null"}
    return {"source": "folder", "root": config.other_root, "hr_root": config.other_hr_root, "layout": config.layout,
            "lr_frames": files if config.other_hr_root else
            "none: the frames are high-resolution; the LR side is them area-downscaled sampling.other.scale x"}
