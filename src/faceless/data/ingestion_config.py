"""The typed ``params:ingestion``: where the frames are, how they are scanned, the demo's size.

It configures the frame scanning (:mod:`faceless.data.frame_tree`, :mod:`faceless.data.layouts`)
and the demo renderer (:mod:`faceless.data.synthetic`); the ingestion nodes and the hooks' check
before any work build it with :func:`faceless.utils.config.from_params`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from faceless.data.layouts import get_layout
from faceless.data.synthetic import DemoConfig
from faceless.utils.errors import ConfigError, check_at_least


@dataclass(frozen=True)
class IngestionConfig:
    """``params:ingestion``; the value checks run on construction, before any work."""

    source: Literal["synthetic", "folder"]
    root: str | None
    hr_root: str | None
    other_root: str | None
    other_hr_root: str | None
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
        check_at_least(self, ("workers",), 1, "ingestion")
        if self.other_hr_root and not self.other_root:
            raise ConfigError("ingestion.other_hr_root needs ingestion.other_root (the other people's frames)")
        if self.source == "synthetic" and self.other_root:
            raise ConfigError("ingestion.other_root is for source=folder; the demo renders its own other people "
                              "(ingestion.demo.other_people)")
        if self.other_root and self.other_root in (self.root, self.hr_root):
            raise ConfigError(f"ingestion.other_root ({self.other_root}) is the recognition set's own tree: "
                              "name a tree of other people")
