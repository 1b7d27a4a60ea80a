"""Loading PyTorch files (checkpoints, model files, user weights) with a check first.

``torch.save`` writes a zip archive; a truncated or overwritten file fails its zip check (central
directory, every member's CRC) before ``torch.load`` sees it, so the error names the file and says
what is wrong in one line. Everything loads with ``weights_only=True``: a file holding arbitrary
pickled objects is refused, and the message never suggests turning that off.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from faceless.utils.errors import ConfigError


class DamagedFileError(ConfigError):
    """A file the project reads is damaged or not what it should be (one line, names the file)."""


def torch_file_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with the ``torch.save`` file at ``path`` before loading it (None: its zip
    structure and every member's checksum are sound)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "empty file"
        if not zipfile.is_zipfile(path):
            return "not a PyTorch file (no zip archive), or cut short"
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
        return f"unreadable ({type(err).__name__})"
    return f"member {bad} fails its checksum" if bad is not None else None


def load_torch_file(path: str | os.PathLike, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU after :func:`torch_file_problem`; any failure is a
    :class:`DamagedFileError` line ``"<what>: '<path>' is damaged (...)"``."""
    problem = torch_file_problem(path)
    if problem is None:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - unpickling raises many types; none is a bug of ours
            problem = ("holds objects other than tensors and plain values" if "weights_only" in str(err)
                       else f"cannot be read ({type(err).__name__})")
    raise DamagedFileError(f"{what}: '{path}' is damaged or not a weights file: {problem}")
