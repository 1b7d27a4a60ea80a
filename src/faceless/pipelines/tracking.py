"""The MLflow side of a run: the engines' tracker (only nodes use it), and the project's MLflow hooks.

kedro-mlflow opens the run, logs the parameters and the catalog's MLflow datasets. What it does not
let ``mlflow.yml`` configure is done here, after it:

* the experiment carries ``mlflow.experimentKind = custom_model_development``, MLflow's record of
  its kind (``mlflow.yml`` sets it when kedro-mlflow creates the experiment; this hook adds it to one
  made before). MLflow 3.18's UI does not open the experiment from it: its workflow-based navigation
  (a flag built in as on) takes the kind from the browser's GenAI / Model training switch (URL
  ``?workflowType=``, else localStorage, else GenAI), so the run's log gives the runs table's URL with
  ``workflowType=machine_learning``;
* the headline metrics (``evaluation/<variant>/sequence_top1_pct`` and ``.../challenge_score``, both
  0-100) are a saved view of the runs table: MLflow 3.18 keeps saved views as experiment tags
  ``mlflow.sharedViewState.<id>``, lists them under "Views" and opens one with
  ``?viewStateShareKey=<id>`` (it has no server-side default columns). The table lists the metric
  columns it shows alphabetically unless the view gives their order and widths (``columnOrder``,
  ``columnWidths``): the view gives each metric's variants in conf's order, wide enough for their names;
* kedro-mlflow tags every run with every ``run_params`` entry, with no option to choose: ``run_id``
  (Kedro's session id, not MLflow's run id) becomes ``kedro.session_id``, ``runner`` (an object's
  repr) becomes ``kedro.runner`` with the class name;
* the comparison table is the run's description (``mlflow.note.content``): the first thing its
  page shows;
* on the first run, a line says MLflow is creating its store (tens of seconds, silent otherwise).
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import rich
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from mlflow.tracking import MlflowClient

from faceless.training.tracker import finite

logger = logging.getLogger(__name__)

#: MLflow's experiment kind tag and its model-training value.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
#: MLflow 3.18's UI: the query parameter that puts it in model-training mode, landing on the runs table.
TRAINING_WORKFLOW = ("workflowType", "machine_learning")
#: The saved runs-table view: experiment tag prefix (the UI's), view id, name, and which metrics.
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
HEADLINE_VIEW = ("faceless-headline", "faceless: headline metrics")
#: The headline metrics of each variant: both on a 0-100 scale.
HEADLINE_METRICS = ("sequence_top1_pct", "challenge_score")
#: The catalog entry with the test metrics, ``<variant>/<metric>`` with variants in conf's order
#: (differences, ``<a>_vs_<b>/..._difference``, are not headline metrics), logged under ``evaluation/``.
METRICS_DATASET = "evaluation_metrics"
#: A runs-table column's width in pixels: enough for its header, a metric's name (about 6.1 px a
#: character in MLflow 3.18's header font, seen in Chromium), and the cell's padding.
COLUMN_PX_PER_CHAR, COLUMN_PX_PADDING = 6.2, 36
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

    def __init__(self) -> None:
        self._ui: str | None = None  # http://host:port of `kedro mlflow ui`, from mlflow.yml

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        store = new_sqlite_store(context)
        if store is not None:
            logger.info("MLflow: creating its tracking store %s (first run only, this takes a while)...", store.name)
        self._ui = ui_address(context)

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        client = MlflowClient()
        mark_training_experiment(client, run.info.experiment_id)
        rename_run_tags(client, run.info.run_id, run_params)
        experiment = client.get_experiment(run.info.experiment_id)
        view = HEADLINE_VIEW[0] if VIEW_TAG_PREFIX + HEADLINE_VIEW[0] in experiment.tags else None
        logger.info("MLflow run %s in experiment %s: see it with `kedro mlflow ui`%s", run.info.run_id,
                    experiment.name, ", then open:" if self._ui else "")
        if self._ui:
            print_unbroken(runs_url(self._ui, experiment.experiment_id, view))

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        if DESCRIPTION_DATASET in outputs and mlflow.active_run() is not None:
            mlflow.set_tag("mlflow.note.content", run_description(str(outputs[DESCRIPTION_DATASET])))


    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        run = mlflow.active_run()
        if dataset_name != METRICS_DATASET or run is None or not isinstance(data, Mapping):
            return
        client = MlflowClient()
        columns = headline_columns(data, client.get_run(run.info.run_id).data.metrics)
        if columns:
            view, name = HEADLINE_VIEW
            client.set_experiment_tag(run.info.experiment_id, VIEW_TAG_PREFIX + view, saved_view(name, columns))
            if self._ui:
                logger.info("MLflow: the runs table with the headline metrics:")
                print_unbroken(runs_url(self._ui, run.info.experiment_id, view))


def print_unbroken(line: str) -> None:
    """One line that must stay whole (a URL to click or copy): printed on the log's Rich console, above
    any progress bar, but never wrapped at the terminal's width as a log record is."""
    rich.get_console().print(line, soft_wrap=True, markup=False, highlight=False, emoji=False)


def mlflow_config(context: Any) -> dict[str, Any]:
    """``mlflow.yml`` as kedro-mlflow reads it; empty without one."""
    try:
        patterns = context.config_loader.config_patterns
        patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])  # as kedro-mlflow does
        return dict(context.config_loader["mlflow"] or {})
    except MissingConfigException:
        return {}


def ui_address(context: Any) -> str | None:
    """``http://<host>:<port>`` of ``kedro mlflow ui`` (``mlflow.yml``'s ``ui``); None without it."""
    ui = mlflow_config(context).get("ui") or {}
    return f"http://{ui['host']}:{ui['port']}" if ui.get("host") and ui.get("port") else None


def runs_url(ui: str, experiment_id: str, view: str | None = None) -> str:
    """The experiment's runs table in MLflow 3.18's model-training mode, with a saved view if given."""
    key, value = TRAINING_WORKFLOW
    query = f"{key}={value}" + (f"&viewStateShareKey={view}" if view else "")
    return f"{ui}/#/experiments/{experiment_id}/runs?{query}"


def headline_columns(saved: Mapping[str, Any], logged: Mapping[str, Any]) -> list[str]:
    """Runs-table columns of the headline metrics, by the names MLflow logged (``evaluation/<variant>/<metric>``):
    each metric's variants side by side, in the order ``saved`` lists them (conf's)."""
    variants: list[str] = []
    for key in saved:
        parts = str(key).split("/")
        if len(parts) == 2 and parts[1] in HEADLINE_METRICS and parts[0] not in variants:
            variants.append(parts[0])
    keys = [f"{variant}/{metric}" for metric in HEADLINE_METRICS for variant in variants]
    return [f"metrics.`{name}`" for key in keys if key in saved for name in logged if name.endswith(f"/{key}")]


def saved_view(name: str, columns: list[str]) -> str:
    """A saved view as MLflow 3.18's runs page stores it (JSON, the view state as a JSON string): the
    columns shown, in this order, each wide enough for its name."""
    now = int(time.time() * 1000)
    widths = {column: round(len(column_label(column)) * COLUMN_PX_PER_CHAR) + COLUMN_PX_PADDING for column in columns}
    state = {"selectedColumns": columns, "columnOrder": columns, "columnWidths": widths}
    return json.dumps({"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)})


def column_label(column: str) -> str:
    """``metrics.`evaluation/lr/challenge_score``` -> ``evaluation/lr/challenge_score``: the header shown."""
    return column.split(".", 1)[1].strip("`")


def new_sqlite_store(context: Any) -> Path | None:
    """The sqlite file ``mlflow.yml`` names, when it does not exist yet; else None."""
    uri = (mlflow_config(context).get("server") or {}).get("mlflow_tracking_uri")
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
