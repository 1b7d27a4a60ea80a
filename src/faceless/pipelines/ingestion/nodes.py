"""Ingestion nodes: make sure the frames exist (rendering the demo if asked), then index them.

``ingestion.root`` may be a folder or an uncompressed ``.tar`` archive (read in place), in any
layout of :mod:`faceless.data.layouts` (``ingestion.layout``)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from faceless.data.frame_tree import scan_frame_tree
from faceless.data.layouts import get_layout
from faceless.data.synthetic import DemoConfig, generate_demo
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestionConfig:
    """``params:ingestion``; the value checks run on construction, before any work."""

    source: Literal["synthetic", "folder"]
    root: str | None
    hr_root: str | None
    layout: str
    sequence_length: int | None
    validate: Literal["full", "header", "none"]
    workers: int
    demo: DemoConfig

    def __post_init__(self) -> None:
        layout = get_layout(self.layout)
        if self.source == "folder" and not self.root:
            raise ConfigError(f"ingestion.root must name a folder or .tar archive ({layout.hint}) "
                              "when ingestion.source=folder")
        if self.workers < 1:
            raise ConfigError(f"ingestion.workers must be at least 1, got {self.workers!r}")


def ingestion_config(params: dict[str, Any]) -> IngestionConfig:
    """``params:ingestion`` as a typed config; a wrong, unknown or missing key is one ConfigError line."""
    return from_params(IngestionConfig, params, "ingestion")


def prepare_source(params: dict[str, Any]) -> dict[str, Any]:
    """Where the frames are. For ``synthetic`` the demo tree is rendered first, unless a tree made
    with the same parameters is already there."""
    config = ingestion_config(params)
    if config.source == "folder":
        return {"source": config.source, "root": config.root, "hr_root": config.hr_root, "generated": False,
                "layout": config.layout, "sequence_length": config.sequence_length}
    demo_root, size = Path(config.demo.root), config.demo.size()
    info = generate_demo(demo_root, size, workers=config.workers)
    if info["generated"]:
        logger.info("rendered the demo dataset: %d frames of %d people under %s", info["frames"], size.people, demo_root)
    else:
        logger.info("demo dataset under %s already matches the parameters: not regenerated", demo_root)
    return {
        "source": config.source,
        "root": str(demo_root / "lr"),
        "hr_root": str(demo_root / "hr"),
        "generated": bool(info["generated"]),
        "demo": info["fingerprint"],
        "layout": "orcam",  # the demo is always rendered in the OrCam layout
        "sequence_length": None,
    }


def scan_frames(source_info: dict[str, Any], params: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Index and validate every frame; bad ones are skipped and counted in the report."""
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
    skipped = report["frames_skipped"]
    logger.info(
        "ingestion: %d frames of %d people kept, %d skipped %s",
        report["frames_kept"], report["people"], skipped,
        {k: v for k, v in report["skipped_by_reason"].items() if v} if skipped else "",
    )
    return frame_index, report
