"""Kedro datasets that kedro-datasets does not provide. They read and write; they never compute."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from faceless.utils.atomic import atomic_path
from faceless.utils.npy import whole_npy_file
from faceless.utils.torchfile import DamagedFileError, load_torch_file

MMAP_MODES = (None, "r", "r+", "c")


class NpyArrayDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """A NumPy array in a local ``.npy`` file, loaded memory-mapped by default.

    Saving is atomic: the array is written to a temporary file next to the target
    and renamed over it, so a crash never leaves a half-written file under the
    final name. An array that *is* a whole ``.npy`` file already, memory-mapped (the upscaling
    node returns its cache file so), is published by a hard link instead of a copy: no 256 px
    frames are written twice, and the cache and this file share their disk blocks.

    Example catalog entry::

        frames_lr:
          type: faceless.data.datasets.NpyArrayDataset
          filepath: data/03_primary/frames_lr.npy
          mmap_mode: r
    """

    def __init__(
        self,
        filepath: str,
        mmap_mode: str | None = "r",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if mmap_mode not in MMAP_MODES:
            raise ValueError(f"mmap_mode must be one of {MMAP_MODES}, got {mmap_mode!r}")
        self._filepath = Path(filepath)
        self._mmap_mode = mmap_mode
        self.metadata = metadata

    def load(self) -> np.ndarray:
        try:
            return np.load(self._filepath, mmap_mode=self._mmap_mode, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError) as err:  # cut short, overwritten, not an .npy
            raise DamagedFileError(f"array file: '{self._filepath}' is damaged ({str(err).splitlines()[0][:120]}); "
                                   "run the stage that writes it again") from err

    def save(self, data: np.ndarray) -> None:
        source = whole_npy_file(data)
        with atomic_path(self._filepath, suffix=".npy", needed=int(np.asarray(data).nbytes) + 128) as temporary:
            if source is not None:
                try:
                    os.link(source, temporary)
                    return
                except OSError:  # another filesystem, or one without hard links: copy instead
                    temporary.unlink(missing_ok=True)
            with open(temporary, "wb") as handle:
                np.save(handle, np.asarray(data), allow_pickle=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap_mode": self._mmap_mode}


class TorchWeightsDataset(AbstractDataset[dict, dict]):
    """A model file: a dict of plain values and tensors (e.g. ``{"config": ..., "state_dict": ...}``).

    Loads with ``torch.load(weights_only=True)``, so a file holding arbitrary pickled objects is
    refused rather than executed. Saves atomically (temporary file, then rename). Ours rather than
    ``kedro_datasets_experimental.pytorch.PyTorchDataset`` because that one stores a bare
    state_dict, and a generator file must carry the config that rebuilds its module.

    ``optional: true``: a file an earlier run may not have made (one from before the file existed);
    then it loads as None and counts as there, so a pipeline that reads it runs on such a run's
    outputs. For read-only entries: a writer's entry must say whether its file is there.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None, optional: bool = False) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata
        self._optional = bool(optional)

    def load(self) -> dict | None:
        if self._optional and not self._filepath.exists():
            return None
        # Checked first: a damaged file is one line naming it, not a deep torch error.
        return load_torch_file(self._filepath, "model file (run the stage that writes it again)")

    def save(self, data: dict) -> None:
        import torch

        with atomic_path(self._filepath, needed=_tensor_bytes(data)) as temporary:
            torch.save(data, temporary)

    def _exists(self) -> bool:
        return self._optional or self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), **({"optional": True} if self._optional else {})}


def _tensor_bytes(data: Any) -> int | None:
    """About how many bytes ``data``'s tensors take on disk (for a full disk's message)."""
    import torch

    total, stack = 0, [data]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            total += item.numel() * item.element_size()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total or None
