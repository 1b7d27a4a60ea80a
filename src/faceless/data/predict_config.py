"""The typed ``params:predict``: the unlabeled test set (:mod:`faceless.data.unlabeled`), how it is
scanned, and the variant, batch and device its frames are classified with (:mod:`faceless.inference`).

Built by the predict nodes, the served model (:mod:`faceless.pipelines.serving.model`) and the
hooks' check before any work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from faceless.utils.errors import check_at_least


@dataclass(frozen=True)
class PredictConfig:
    """``params:predict``."""

    root: str | None
    demo_export: str
    variant: str                                 # a variant that is on and made from the frames alone
    top_k: int
    validate: Literal["full", "header", "none"]
    workers: int
    seed: int
    batch_size: int
    flip_tta: bool                               # as evaluation.flip_tta: frame and mirror, averaged
    device: Literal["auto", "cuda", "mps", "cpu"]
    precision: Literal["auto", "bf16", "fp32"]

    def __post_init__(self) -> None:
        check_at_least(self, ("top_k", "workers", "batch_size"), 1, "predict")
