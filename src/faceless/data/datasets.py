"""Kedro datasets that kedro-datasets does not provide. They read and write; they never compute."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

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


class RunArtifactDataset(AbstractDataset[Any, Any]):
    """Another dataset whose file is also an artifact of the active MLflow run (under
    ``artifact_path``), as with kedro-mlflow's ``MlflowArtifactDataset``, but not when the data is what
    a variant that did not run leaves behind (:func:`is_skip_marker`) or a file with nothing trained in
    it (:func:`is_untrained`): the local file still serves the stages after it, and the run gets no
    placeholder file.

    Example catalog entry::

        "classifier_{variant}":
          type: faceless.data.datasets.RunArtifactDataset
          artifact_path: models
          dataset:
            type: faceless.data.datasets.TorchWeightsDataset
            filepath: data/06_models/classifier_{variant}.pt
    """

    def __init__(self, dataset: str | dict[str, Any], artifact_path: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        dataset_class, dataset_args = parse_dataset_definition(dataset if isinstance(dataset, dict) else {"type": dataset})
        self._dataset = dataset_class(**dataset_args)
        self._artifact_path = artifact_path
        self.metadata = metadata

    def load(self) -> Any:
        return self._dataset.load()

    def save(self, data: Any) -> None:
        self._dataset.save(data)
        if not is_skip_marker(data) and not is_untrained(data) and mlflow.active_run() is not None:
            mlflow.log_artifact(str(self._dataset._filepath), self._artifact_path)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": type(self._dataset).__name__, **self._dataset._describe(), "artifact_path": self._artifact_path}


class StageMetricsDataset(MlflowMetricsHistoryDataset):
    """kedro-mlflow's ``MlflowMetricsHistoryDataset`` with ``/`` between ``prefix`` and a metric's
    name, not ``.``: with ``prefix: evaluation``, ``lr/sequence_top1_pct`` is logged as
    ``evaluation/lr/sequence_top1_pct``, which MLflow's charts put in a section ``evaluation/lr``.
    (A prefix is required: kedro-mlflow gives a metrics dataset without one its catalog name.)
    """

    def __init__(self, prefix: str, run_id: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(run_id=run_id, prefix=prefix, metadata=metadata)

    def _build_args_list_from_metric_item(self, key: str, value: Any):
        name = f"{self._prefix}/{key}"
        entries = [value] if isinstance(value, dict) else value
        if not isinstance(entries, list) or not entries:
            raise DatasetError(f"metric {name}: expected {{'value': v, 'step': s}} or a list of them, got {value!r}")
        return ((name, entry["value"], entry["step"]) for entry in entries)

    def _is_dataset_metric(self, key: str) -> bool:
        return key.startswith(f"{self._prefix}/")


def is_skip_marker(data: Any) -> bool:
    """What a variant that did not run leaves: a mapping with ``skipped`` (its reason), or a figure
    labelled ``skipped`` (its placeholder plot)."""
    if isinstance(data, dict):
        return "skipped" in data
    label = getattr(data, "get_label", None)
    return callable(label) and str(label()).startswith("skipped")


def is_untrained(data: Any) -> bool:
    """A file that holds no trained weights: a mean pooling (``{"method": "mean"}``, nothing learnt),
    kept locally for the stages after it and not logged to the run."""
    return isinstance(data, dict) and data.get("method") == "mean" and not data.get("heads")


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
