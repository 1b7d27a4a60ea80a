"""The MLflow side of a run: the engines' tracker (only nodes use it), and the project's MLflow hooks.

kedro-mlflow opens the run, logs the parameters and the catalog's MLflow datasets. What it does not
let ``mlflow.yml`` configure is done here, after it:

* the experiment carries ``mlflow.experimentKind = custom_model_development`` (MLflow 3's UI opens
  an experiment without it in its GenAI view: traces, not runs). ``mlflow.yml`` sets the tag when
  kedro-mlflow creates the experiment; this hook adds it to an experiment made before;
* kedro-mlflow tags every run with every ``run_params`` entry, with no option to choose: ``run_id``
  (Kedro's session id, not MLflow's run id) becomes ``kedro.session_id``, ``runner`` (an object's
  repr) becomes ``kedro.runner`` with the class name;
* the comparison table is the run's description (``mlflow.note.content``): the first thing its
  page shows;
* on the first run, a line says MLflow is creating its store (tens of seconds, silent otherwise).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from mlflow.tracking import MlflowClient

from faceless.training.tracker import finite

logger = logging.getLogger(__name__)

#: MLflow 3's UI reads this experiment tag: the training kind opens on the runs table.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
#: Run tags kedro-mlflow sets that say something else than their name: old name -> new name.
RENAMED_TAGS = {"run_id": "kedro.session_id", "runner": "kedro.runner"}
#: The catalog entry whose text becomes the run's description.
DESCRIPTION_DATASET = "comparison_md"
#: MLflow's limit on a run tag's value (mlflow.utils.validation.MAX_TAG_VAL_LENGTH).
MAX_TAG_LENGTH = 8000


class MlflowTracker:
    """Logs to the MLflow run kedro-mlflow opened for this ``kedro run``; without one, nothing."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        clean = finite(metrics)
        if clean and mlflow.active_run() is not None:
            mlflow.log_metrics(clean, step=int(step))


class MlflowRunHooks:
    """Runs after kedro-mlflow's hooks (before it, for the first-run message)."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        store = new_sqlite_store(context)
        if store is not None:
            logger.info("MLflow: creating its tracking store %s (first run only, this takes a while)...", store.name)

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        client = MlflowClient()
        mark_training_experiment(client, run.info.experiment_id)
        rename_run_tags(client, run.info.run_id, run_params)
        logger.info("MLflow run %s in experiment %s: see it with `kedro mlflow ui`", run.info.run_id,
                    client.get_experiment(run.info.experiment_id).name)

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        if DESCRIPTION_DATASET in outputs and mlflow.active_run() is not None:
            mlflow.set_tag("mlflow.note.content", run_description(str(outputs[DESCRIPTION_DATASET])))


def new_sqlite_store(context: Any) -> Path | None:
    """The sqlite file ``mlflow.yml`` names, when it does not exist yet; else None."""
    try:
        patterns = context.config_loader.config_patterns
        patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])  # as kedro-mlflow does
        uri = (context.config_loader["mlflow"].get("server") or {}).get("mlflow_tracking_uri")
    except MissingConfigException:
        return None
    if not isinstance(uri, str) or not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    path = path if path.is_absolute() else Path(context.project_path) / path
    return None if path.exists() else path


def mark_training_experiment(client: MlflowClient, experiment_id: str) -> None:
    key, kind = EXPERIMENT_KIND
    if client.get_experiment(experiment_id).tags.get(key) != kind:
        client.set_experiment_tag(experiment_id, key, kind)


def rename_run_tags(client: MlflowClient, run_id: str, run_params: Mapping[str, Any]) -> None:
    tags = client.get_run(run_id).data.tags
    for old, new in RENAMED_TAGS.items():
        if old in tags:
            client.delete_tag(run_id, old)
            client.set_tag(run_id, new, runner_name(tags[old]) if old == "runner" else tags[old])


def runner_name(text: str) -> str:
    """``<kedro.runner.sequential_runner.SequentialRunner object at 0x7f...>`` -> ``SequentialRunner``."""
    match = re.fullmatch(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>", text.strip())
    return match.group(1) if match else text


def run_description(markdown: str) -> str:
    """The comparison as a run description, cut at a line within MLflow's tag limit."""
    if len(markdown) <= MAX_TAG_LENGTH:
        return markdown
    note = "\n\n... (cut here: the whole table is the artifact reports/comparison.md)\n"
    cut = markdown.rfind("\n", 0, MAX_TAG_LENGTH - len(note))
    return markdown[:max(cut, 0)] + note
