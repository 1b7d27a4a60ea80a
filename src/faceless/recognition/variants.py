"""The input variants a classifier is trained on, and which arrays feed each.

Defined once here: the classifier, evaluation and predict stages all name variants this way.
"""
from __future__ import annotations

from typing import Literal, get_args

import numpy as np

Variant = Literal["lr", "bicubic", "srgan", "hr"]

#: Every variant, in the order tables and plots list them.
VARIANTS: tuple[str, ...] = get_args(Variant)

#: The prefix of the arrays feeding each variant (``<prefix>_train``, ``<prefix>_val``, ``<prefix>_test``).
VARIANT_ARRAYS: dict[str, str] = {"lr": "lr", "bicubic": "bicubic", "srgan": "sr", "hr": "hr"}


def variant_skip_reason(variant: str, wanted: list[str], train_x: np.ndarray | None) -> str | None:
    """Why ``variant`` is not trained (not asked for, or no data), or None when it is."""
    if variant not in wanted:
        return "not in classifier.variants"
    if train_x is None or train_x.size == 0:
        return "no data for this variant (hr needs a source with high-resolution truth)"
    return None
