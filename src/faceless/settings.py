"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""
import logging
import os
import re
import warnings

# Offline by default: no usage telemetry from MLflow (kedro's own is off through `.telemetry`).
# `faceless/__init__.py` sets the same, for processes that import the package before settings.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# MLflow's own tqdm bars (downloading a model's artifacts to check its input example) write
# `\r`-updates between the log's lines; the log says what was done.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

#: Library warnings a user can do nothing about, by message. Filtered before the library that
#: raises them is imported: kedro imports kedro-mlflow (whose pipeline model has an untyped
#: `predict`, hence MLflow's advice) before it reads this module, so the `kedro` command calls
#: :func:`quiet_library_warnings` first, through this package's `kedro.init` entry point
#: (pyproject.toml); importing this module applies it too (notebooks, `KedroSession.create`).
LIBRARY_WARNINGS = (
    r"register_new_resolver\(\) is deprecated",      # omegaconf, through kedro and kedro-mlflow
    r"Add type hints to the `predict` method",       # MLflow, about kedro-mlflow's pipeline model
    r"Operation with range is deprecated",           # pandas 3, in MLflow's input-example check
    # Kedro 1.7's notice on `kedro run --pipeline=full`, the command this project's users are given
    # (`--pipelines` is the new spelling; both run the same). Four lines before every run's first.
    r"Option '--pipeline' is deprecated",
)


class _LibraryWarningFilter(logging.Filter):
    """Drops the captured warnings (logger ``py.warnings``) that :data:`LIBRARY_WARNINGS` names."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(re.search(pattern, text) for pattern in LIBRARY_WARNINGS)


def quiet_library_warnings() -> None:
    for pattern in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{pattern}")
    # MLflow checks a model class inside `catch_warnings()` with its own "once" filter for
    # UserWarning, which outranks any filter set outside; Kedro's log handler captures warnings
    # into the `py.warnings` logger, so the advice is dropped there.
    captured = logging.getLogger("py.warnings")
    if not any(isinstance(f, _LibraryWarningFilter) for f in captured.filters):
        captured.addFilter(_LibraryWarningFilter())


quiet_library_warnings()

# Imported after the filters above: this pulls in kedro and mlflow.
from faceless.pipelines.context import CONFIG_LOADER_ARGS, FacelessContext  # noqa: E402
from faceless.hooks import ProjectHooks  # noqa: E402
from faceless.pipelines.console import ConsoleHooks  # noqa: E402
from faceless.pipelines.tracking import MlflowRunHooks  # noqa: E402

# kedro-mlflow registers its own hooks through its entry point. Ours: one run at a time per project,
# the MLflow store created under a lock, parameters and inputs checked up front, one-line user
# errors (ProjectHooks); node starts and ends with durations, a message while MLflow prepares a new
# store (ConsoleHooks); the experiment's kind, a saved runs-table view of the headline metrics and its
# URL, run tags that say what they are, the comparison table as the run's description (MlflowRunHooks).
HOOKS = (ProjectHooks(), ConsoleHooks(), MlflowRunHooks())

# The project's context makes the run's parameters known to the pipeline registry (pipelines are
# built from conf's variants); its config loader arguments are the project's (environments merge softly).
CONTEXT_CLASS = FacelessContext
CONFIG_LOADER_ARGS = CONFIG_LOADER_ARGS
