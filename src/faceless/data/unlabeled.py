"""The demo's test side as an unlabeled tree in OrCam's test layout (``seq_XXXX/frame_NNNNN.jpg``),
with its answer key written beside the tree, never inside it."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from faceless.data.frame_store import open_frame, split_locator
from faceless.data.people import person_name_of
from faceless.utils.atomic import (check_file_writable, check_replaceable, fresh_folder, publish_folder, read_json,
                                   write_owned_json)

logger = logging.getLogger(__name__)


def answers_path_of(export: Path) -> Path:
    return export.with_name(export.name + "_answers.json")


def export_unlabeled(test_index: pd.DataFrame, export: str | os.PathLike, seed: int) -> dict[str, object]:
    """Write ``test_index``'s sequences under ``export`` with shuffled names (a sequence's number
    says nothing about who is in it); returns where the tree and its answer key are."""
    export = Path(export)
    answers_path = answers_path_of(export)
    sequences = test_index.groupby(["person", "video", "sequence"], sort=True)
    order = np.random.default_rng(seed).permutation(sequences.ngroups)
    names = {key: f"seq_{order[i]:04d}" for i, key in enumerate(sequences.groups)}
    fingerprint = hashlib.sha256(json.dumps([sorted(test_index["path"].tolist()), order.tolist()]).encode()
                                 ).hexdigest()
    if read_json(answers_path).get("fingerprint") == fingerprint and export.is_dir():
        logger.info("predict: demo test side already exported to %s", export)
        return {"root": str(export), "answer_key": str(answers_path), "exported": False}
    # Ours to replace: it carries the project's marker with the token recorded for it; the answer key
    # is ours to overwrite only if it holds the token recorded for it. Anything else is the user's
    # and is refused before any work.
    check_replaceable(export, "predict.demo_export")
    check_file_writable(answers_path, "predict.demo_export")
    # Built beside, then swapped in: an interrupted export is never taken for a finished one.
    temporary = fresh_folder(export, "predict.demo_export")
    answers = {"fingerprint": fingerprint, "answers": {}}
    for key, rows in sequences:
        seq_dir = temporary / names[key]
        seq_dir.mkdir(parents=True)
        for position, path in enumerate(rows.sort_values("frame")["path"]):
            with open_frame(path) as source:
                (seq_dir / f"frame_{position:05d}{Path(member_name(path)).suffix}").write_bytes(source.read())
        answers["answers"][names[key]] = person_name_of(rows, key[0])
    # Until the new key is written, the key file vouches for no tree.
    write_owned_json(answers_path, {"fingerprint": None, "answers": {}}, "predict.demo_export", indent=1)
    publish_folder(temporary, export, "predict.demo_export")
    write_owned_json(answers_path, answers, "predict.demo_export", indent=1)
    logger.info("predict: exported the demo test side (%d sequences) to %s; answers in %s",
                len(names), export, answers_path)
    return {"root": str(export), "answer_key": str(answers_path), "exported": True}


def member_name(path: str) -> str:
    """A frame's own path: the file path, or an archive member's name."""
    parts = split_locator(path)
    return parts[1] if parts else path


def sequence_name(path: str) -> str:
    """The ``seq_XXXX`` folder a frame is in (a file path, or an archive member's name)."""
    return os.path.basename(os.path.dirname(member_name(path)))


