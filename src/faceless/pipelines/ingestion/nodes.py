"""Ingestion nodes: make sure the frames exist (rendering the demo if asked), then index them.

``ingestion.root`` may be a folder or an uncompressed ``.tar`` archive (read in place), in any
layout of :mod:`faceless.data.layouts` (``ingestion.layout``)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from faceless.config import ConfigError, choice
from faceless.data.frame_tree import scan_frame_tree
from faceless.data.layouts import get_layout
from faceless.data.synthetic import DemoSize, generate_demo

logger = logging.getLogger(__name__)

SOURCES = ("synthetic", "folder")


def prepare_source(params: dict[str, Any]) -> dict[str, Any]:
    """Where the frames are. For ``synthetic`` the demo tree is rendered first, unless a tree made
    with the same parameters is already there."""
    source = choice(params.get("source", "synthetic"), "ingestion.source", SOURCES)
    if source == "folder":
        root = params.get("root")
        layout = get_layout(params.get("layout", "orcam"))
        if not root:
            raise ConfigError(f"ingestion.root must name a folder or .tar archive ({layout.hint}) "
                              "when ingestion.source=folder")
        return {"source": source, "root": str(root), "hr_root": params.get("hr_root"), "generated": False,
                "layout": layout.name, "sequence_length": params.get("sequence_length")}
    demo = dict(params.get("demo") or {})
    demo_root = Path(demo.pop("root", "data/01_raw/demo"))
    try:
        size = DemoSize.from_params(demo)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from err
    info = generate_demo(demo_root, size, workers=int(params.get("workers", 2)))
    if info["generated"]:
        logger.info("rendered the demo dataset: %d frames of %d people under %s", info["frames"], size.people, demo_root)
    else:
        logger.info("demo dataset under %s already matches the parameters: not regenerated", demo_root)
    return {
        "source": source,
        "root": str(demo_root / "lr"),
        "hr_root": str(demo_root / "hr"),
        "generated": bool(info["generated"]),
        "demo": info["fingerprint"],
        "layout": "orcam",  # the demo is always rendered in the OrCam layout
        "sequence_length": None,
    }


def scan_frames(source_info: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Index and validate every frame; bad ones are skipped and counted in the report."""
    frame_index, report = scan_frame_tree(
        source_info["root"],
        hr_root=source_info.get("hr_root"),
        validate=params.get("validate", "full"),
        workers=int(params.get("workers", 2)),
        layout=source_info.get("layout", "orcam"),
        sequence_length=source_info.get("sequence_length"),
    )
    report["source"] = source_info["source"]
    skipped = report["frames_skipped"]
    logger.info(
        "ingestion: %d frames of %d people kept, %d skipped %s",
        report["frames_kept"], report["people"], skipped,
        {k: v for k, v in report["skipped_by_reason"].items() if v} if skipped else "",
    )
    return frame_index, report
