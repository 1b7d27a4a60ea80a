"""A toy recognition problem shared by the recognition, classifier and evaluation tests: noisy
solid-colour frames, one colour per person, trivially separable."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..conftest import base_params

SIZE = 16
EPOCHS, BATCH = 8, 16
FRAMES_PER_SIDE = 3 * 2 * 4               # 3 people x 2 sequences x 4 frames (one video each per side)
STEPS_PER_EPOCH = math.ceil(FRAMES_PER_SIDE / BATCH)
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
PEOPLE = (7, 3, 5)                         # person ids; labels 0, 1, 2
COLOURS = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]])  # solid red / green / blue
EMPTY = np.zeros((0, 0, 0, 3), dtype=np.uint8)


def toy_side(video: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames, rows = [], []
    for label, person in enumerate(PEOPLE):
        for sequence in range(2):
            for frame in range(4):
                noisy = COLOURS[label] + rng.normal(0, 25, (SIZE, SIZE, 3))
                frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
                rows.append({"person": person, "video": video, "sequence": sequence, "frame": frame,
                             "label": label})
    return np.stack(frames), pd.DataFrame(rows)


def toy_sides() -> dict:
    train_x, train_index = toy_side(video=0, seed=1)
    val_x, val_index = toy_side(video=1, seed=2)
    test_x, test_index = toy_side(video=2, seed=3)
    return {"train_x": train_x, "train_index": train_index, "val_x": val_x, "val_index": val_index,
            "test_x": test_x, "test_index": test_index}


def tiny_params(checkpoint_dir, **overrides) -> dict:
    """``params:classifier`` from conf/base, made tiny (the default selection, ``last``, unless overridden);
    ``checkpoint_dir`` None: no checkpoints."""
    tiny = {"epochs": EPOCHS, "batch_size": BATCH, "device": "cpu", "precision": "fp32", "model__width": 8,
            "model__depth": 2, "augment_strength": 0.3, "eval_every_epochs": 1,
            "checkpoint_dir": None if checkpoint_dir is None else str(checkpoint_dir)}
    return base_params("classifier", **{**tiny, **overrides})


def selection_score(entry: dict) -> float:
    """The model-selection score ``best_val`` documents (sequence, then frame top-1, then NLL)."""
    return entry["val_sequence_top1"] + 1e-3 * entry["val_frame_top1"] - 1e-6 * entry["val_nll"]
