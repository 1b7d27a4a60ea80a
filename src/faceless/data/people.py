"""Who a frame shows: the person's name, or their number in indexes made before names existed."""
from __future__ import annotations

import pandas as pd


def person_names(frames: pd.DataFrame) -> pd.Series:
    """The ``person_name`` column as strings, or the ``person`` number where there is none."""
    column = frames["person_name"] if "person_name" in frames.columns else frames["person"]
    return column.astype(str)


def person_name_of(rows: pd.DataFrame, person: int) -> str:
    """The name of the one person ``rows`` show (``person`` when the index has no names or rows)."""
    return str(person_names(rows).iloc[0]) if len(rows) else str(person)


def class_names(num_classes: int, *indexes: pd.DataFrame) -> list[str]:
    """The person's name for each label ``0..num_classes-1`` (the label itself where no index has it),
    so a saved classifier answers in names without the data it was trained on."""
    names = [str(label) for label in range(num_classes)]
    for index in indexes:
        for label, name in zip(index["label"].astype(int), person_names(index)):
            names[label] = name
    return names
