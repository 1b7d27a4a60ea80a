"""The MLflow side of the engines' tracker interface (Kedro glue: only nodes use it)."""
from __future__ import annotations

from collections.abc import Mapping

import mlflow

from faceless.training.tracker import finite


class MlflowTracker:
    """Logs to the MLflow run kedro-mlflow opened for this ``kedro run``; without one, nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        clean = finite(metrics)
        if clean and mlflow.active_run() is not None:
            mlflow.log_metrics(clean, step=int(step))
