"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""
import os

# Offline by default: no usage telemetry from MLflow (kedro's own is off through `.telemetry`).
# `faceless/__init__.py` sets the same, for processes that import the package before settings.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from faceless.hooks import ProjectHooks  # noqa: E402

# kedro-mlflow registers its hooks through its entry point. Ours: one run at a time per project, the
# MLflow store created under a lock, parameters and inputs checked up front, one-line user errors.
HOOKS = (ProjectHooks(),)
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (conf/seed, conf/local) overrides only the parameters it names, key by key,
    # instead of replacing a whole top-level section.
    "merge_strategy": {"parameters": "soft"},
}


# Third-party deprecation chatter that users can do nothing about (omegaconf via kedro and
# kedro-mlflow; MLflow's pyfunc type-hint advice): keep the run log readable.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=r".*register_new_resolver\(\) is deprecated.*")
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method.*")
