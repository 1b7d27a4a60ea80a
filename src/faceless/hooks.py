"""Project hooks: one run at a time per project folder, parameters and inputs checked before any
work, stale temporary files swept, and user errors printed as one line.

Order relative to kedro-mlflow (its hooks come from its entry point and are registered after
``settings.HOOKS``; pluggy calls later registrations first, so the order is set explicitly):

* ``after_context_created`` is a *wrapper* around every other implementation: kedro-mlflow creates
  and migrates ``mlflow.db`` there, so it runs holding ``.faceless/mlflow-setup.lock``; two
  processes started together take turns instead of racing on the schema (the race left the store
  broken for every later run). Waits, never fails: it lasts a second.
* ``before_pipeline_run`` runs first (``tryfirst``), before kedro-mlflow opens its run: it refuses
  ``--runner=ParallelRunner`` (:func:`refuse_parallel_runner`); it takes ``.faceless/run.lock`` or
  stops at once with one line naming the holder; then checks every stage's parameters and the
  pipeline's inputs, and removes temporary files of killed writes.
* ``after_pipeline_run`` / ``on_pipeline_error`` run last (``trylast``) and release the run lock.

The lock is an ``flock``: the OS drops it when its holder dies, so a killed run never leaves the
project locked. ``kedro viz`` and ``kedro mlflow ui`` take only the short setup lock.

User errors (:class:`~faceless.utils.errors.ConfigError` and its kinds, also when Kedro wraps one in
a ``DatasetError``) print as one line on stderr with no traceback; anything else keeps Rich's
traceback. ``FACELESS_TRACEBACK=1`` shows the traceback of user errors too.
"""
from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from faceless.data.sampling import SamplingConfig
from faceless.distributed import distributed_config
from faceless.inference import UpscaleConfig
from faceless.data.ingestion_config import IngestionConfig
from faceless.data.predict_config import PredictConfig
from faceless.pipelines.serving.config import serving_config
from faceless.models import BACKBONES
from faceless.recognition.config import ClassifierConfig, EvaluationConfig
from faceless.recognition.pooling import PoolingConfig
from faceless.sr.config import load_config as load_sr_config, variant_config
from faceless.sr.pretrained import read_for_scale
from faceless.utils.atomic import remove_stale_temporaries, stale_temporary_folders, use_state_dir
from faceless.utils.config import from_params
from faceless.utils.errors import ConfigError
from faceless.utils.lock import FileLock, pid_alive
from faceless.variants import answering_reason, pooled_name_reason, split_pooled, variant_specs

logger = logging.getLogger(__name__)

LOCK_DIR = ".faceless"
RUN_LOCK = "run.lock"
SETUP_LOCK = "mlflow-setup.lock"
SETUP_WAIT_S = 300  # the setup lock is held for about a second; a long wait means a hung process
#: Folders under data/ never swept for temporaries (inputs the project reads, not writes).
SWEEP_SKIP = ("01_raw",)
#: Run tags naming the process of an MLflow run (a killed run is found by them on the next run).
PID_TAG = "faceless.pid"
HOST_TAG = "faceless.host"


class MissingInputError(ConfigError):
    """A pipeline's input that an earlier run makes is not there."""


#: Every stage's typed config, built from its parameters before any node runs.
CONFIG_BUILDERS = {
    "ingestion": lambda p: from_params(IngestionConfig, p, "ingestion"),
    "sampling": lambda p: from_params(SamplingConfig, p, "sampling"),
    "srgan": load_sr_config,
    "upscaling": lambda p: from_params(UpscaleConfig, p, "upscaling"),
    "classifier": lambda p: from_params(ClassifierConfig, p, "classifier"),
    "pooling": PoolingConfig.from_params,
    "evaluation": lambda p: from_params(EvaluationConfig, p, "evaluation"),
    "predict": lambda p: from_params(PredictConfig, p, "predict"),
    "serving": serving_config,
    "variants": variant_specs,
}


#: The top-level parameter sections conf/base declares; anything else is a typo (`srgn.pretrain_steps=5`).
SECTIONS = ("ingestion", "sampling", "srgan", "upscaling", "classifier", "pooling", "evaluation", "predict",
            "serving", "variants")


def unknown_sections(parameters: dict[str, Any]) -> None:
    """One line for a top-level parameter no stage reads, with the section it most likely meant:
    Kedro would take `--params srgn.pretrain_steps=5` silently and run on the defaults."""
    for key in sorted(set(parameters) - set(SECTIONS)):
        close = difflib.get_close_matches(str(key), SECTIONS, n=1)
        hint = f"; did you mean {close[0]}?" if close else f" (the sections are {', '.join(SECTIONS)})"
        raise ConfigError(f"unknown parameter section {key!r}{hint}")


def validate_parameters(parameters: dict[str, Any], stages: set[str]) -> dict[str, Any]:
    """Build the typed config of each of ``stages`` (a ConfigError line at the first bad value) and
    check what one stage's value means for another's; returns the configs."""
    unknown_sections(parameters)
    configs = {stage: CONFIG_BUILDERS[stage](parameters.get(stage)) for stage in sorted(stages)
               if stage in CONFIG_BUILDERS}
    for stage, config in configs.items():  # a stage's torch.distributed block, read by its nodes
        if isinstance(getattr(config, "distributed", None), dict):
            distributed_config(config.distributed, f"{stage}.distributed")
    sr, upscaling = configs.get("srgan"), configs.get("upscaling")
    if sr is not None and upscaling is not None and sr.scale != upscaling.factor:
        raise ConfigError(f"upscaling.factor={upscaling.factor} must equal srgan.scale={sr.scale} "
                          "(the generator upscales srgan.scale x)")
    check_variants(parameters, configs)
    check_pooling(configs)
    return configs


def check_variants(parameters: dict[str, Any], configs: dict[str, Any]) -> None:
    """What the variants mean for the stages: each generator variant's recipe builds (its recipe keys
    are srgan's, its loss lists parse), an import names a file that is there, the comparisons name
    declared variants, and the variant predict and serving answer with is on and made from frames."""
    specs = configs.get("variants")
    if specs is None:
        return
    if "srgan" in configs:
        for name, spec in specs.items():
            if not spec.enabled or not spec.has_generator:
                continue
            if spec.imports:
                # Read now (the file's layout and scale), not when its node runs after other trainings.
                read_for_scale(str(spec.import_file), f"variants.{name}.import", configs["srgan"].scale)
                continue
            try:
                config = variant_config(parameters.get("srgan"), spec)
            except ConfigError as error:
                raise ConfigError(f"variants.{name}: {error}") from None
            if config.init_weights:
                read_for_scale(config.init_weights, f"variants.{name} init ({config.init_weights})", config.scale,
                               bare_config=config.generator_config())
    evaluation = configs.get("evaluation")
    if evaluation is not None:
        for i, pair in enumerate(evaluation.comparisons):
            if any(split_pooled(v)[1] for v in pair):
                raise ConfigError(f"evaluation.comparisons[{i}] names a pooled row ({', '.join(pair)}): declare it in "
                                  "evaluation.pooling_comparisons, which runs when pooling.method is attention")
            unknown = [v for v in pair if v not in specs]
            if unknown:
                raise ConfigError(f"evaluation.comparisons[{i}] names {', '.join(unknown)}, not a variant of conf's "
                                  f"`variants` (declared: {', '.join(specs)})")
        for i, pair in enumerate(evaluation.pooling_comparisons):
            for name in pair:
                reason = pooled_name_reason(name, specs, f"evaluation.pooling_comparisons[{i}]")
                if reason:
                    raise ConfigError(reason)
    predict = configs.get("predict")
    if predict is not None:
        reason = answering_reason(specs, predict.variant)
        if reason:
            raise ConfigError(reason)


def check_pooling(configs: dict[str, Any]) -> None:
    """An attention pooling reads the classifier's frame embeddings: its backbone must give them."""
    pooling, classifier = configs.get("pooling"), configs.get("classifier")
    if pooling is None or classifier is None or pooling.method == "mean":
        return
    arch = classifier.model.arch
    if not hasattr(BACKBONES.get(arch), "embed"):
        raise ConfigError(f"pooling.method={pooling.method} needs frame embeddings, which classifier.model.arch={arch} "
                          "does not give (no `embed`); use pooling.method=mean")


def stages_of(pipeline: Any) -> set[str]:
    """The stages whose ``params:<stage>`` the pipeline reads."""
    return {name.split(":", 1)[1].split(".")[0] for name in pipeline.inputs() if name.startswith("params:")}


def missing_inputs(pipeline: Any, catalog: Any) -> list[str]:
    """The pipeline's free inputs that the catalog cannot load (not made yet)."""
    missing = []
    for name in sorted(pipeline.inputs()):
        if name == "parameters" or name.startswith("params:"):
            continue
        try:
            exists = catalog.exists(name)
        except Exception:  # a dataset that cannot tell: let loading speak for it
            exists = True
        if not exists:
            missing.append(name)
    return missing


def missing_inputs_message(missing: list[str], pipeline_names: Any) -> str:
    names = ", ".join(pipeline_names or ["__default__"])
    shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
    return (f"--pipeline={names} needs {shown}, which an earlier run makes and which are not there: "
            "run `kedro run --pipeline=full` first")


class RunnerError(ConfigError):
    """A Kedro runner this project cannot run under."""


#: Why ``kedro run --runner=ParallelRunner`` is refused (README: More than one GPU or machine).
PARALLEL_RUNNER_REFUSED = (
    "--runner=ParallelRunner cannot run this project: it runs each node in a process of its own, where "
    "kedro-mlflow's artifact datasets cannot go (not picklable) and no node or dataset hook runs (kedro-mlflow "
    "logs the parameters in one), and its processes would share the cores or GPU that each training node "
    "already uses in full; run without --runner (SequentialRunner) and set <stage>.distributed.nproc (or "
    "conf/<env>/globals.yml's distributed block) for more processes or GPUs per node")


def refuse_parallel_runner(run_params: dict[str, Any]) -> None:
    """One line, before any work or MLflow run, where the run's runner is Kedro's ``ParallelRunner``
    (``run_params["runner"]`` is its class name or an instance's repr)."""
    if re.search(r"\bParallelRunner\b", str(run_params.get("runner") or "")):
        raise RunnerError(PARALLEL_RUNNER_REFUSED)


def user_error(error: BaseException | None) -> ConfigError | None:
    """The user error ``error`` is, or wraps (Kedro's DatasetError around a dataset's ConfigError);
    None for anything else (a bug keeps its traceback)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ConfigError):
            return error
        if not isinstance(error, DatasetError):
            return None
        error, seen = error.__cause__, seen + 1
    return None


def install_one_line_errors() -> None:
    """Print user errors as one line at exit, wrapping whatever ``sys.excepthook`` is (Rich's)."""
    previous = sys.excepthook
    if getattr(previous, "faceless_one_line", False):
        return

    def excepthook(exc_type, exc, tb) -> None:
        found = user_error(exc)
        if found is None or os.environ.get("FACELESS_TRACEBACK"):
            previous(exc_type, exc, tb)
            return
        sys.stderr.write(f"Error: {found} (FACELESS_TRACEBACK=1 shows the traceback)\n")

    excepthook.faceless_one_line = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook


class ProjectHooks:
    def __init__(self) -> None:
        self._project: Path | None = None
        self._run_lock: FileLock | None = None
        self._tagged = False

    @hook_impl(wrapper=True)
    def after_context_created(self, context: Any):
        install_one_line_errors()
        self._project = Path(context.project_path)
        use_state_dir(self._project / LOCK_DIR)  # the records of what the project made (faceless.utils.atomic)
        setup = FileLock(self._project / LOCK_DIR / SETUP_LOCK, f"the MLflow store of {self._project}")
        setup.acquire(wait=SETUP_WAIT_S)
        try:
            return (yield)
        finally:
            setup.release()

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        refuse_parallel_runner(run_params)
        project = self._project or Path(run_params.get("project_path") or Path.cwd())
        if self._run_lock is None:
            self._run_lock = FileLock(project / LOCK_DIR / RUN_LOCK, f"the project {project}")
        self._run_lock.acquire(busy_hint="one run at a time per project folder: wait for it to end, or stop it")
        try:
            parameters = catalog.load("parameters") if "parameters" in catalog else {}
            validate_parameters(parameters or {}, stages_of(pipeline))
            missing = missing_inputs(pipeline, catalog)
            if missing:
                raise MissingInputError(missing_inputs_message(missing, run_params.get("pipeline_names")))
            sweep_temporaries(project / "data")
            mark_killed_runs()
        except BaseException:
            # Kedro calls no on_pipeline_error for a failure here: let go of the lock now.
            self._release()
            raise

    @hook_impl
    def before_node_run(self) -> None:
        """At the first node (kedro-mlflow's run is open by then): tag the run with this process."""
        if not self._tagged:
            self._tagged = tag_run_process()

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()


def tag_run_process() -> bool:
    """Tag the active MLflow run with this process's pid and host; whether there was one."""
    import socket

    import mlflow

    if mlflow.active_run() is None:
        return False
    try:
        mlflow.set_tags({PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
    except Exception as err:  # tracking is best effort here: the run goes on
        logger.warning("could not tag the MLflow run with its process (%s)", " ".join(str(err).split())[:200])
    return True


def mark_killed_runs(client: Any = None) -> list[str]:
    """Mark as KILLED the RUNNING MLflow runs of this host whose process (their ``faceless.pid`` tag)
    is gone: a run killed mid-way (kill -9, power) is not left RUNNING forever. Runs without the tags
    (older versions), of another host, or whose process runs, are left alone. Returns their ids."""
    import socket

    from mlflow.tracking import MlflowClient

    marked: list[str] = []
    try:
        if client is None:
            from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

            if not is_tracking_uri_set():  # no store configured (kedro-mlflow sets one): none to create
                return marked
            client = MlflowClient()
        experiments = [e.experiment_id for e in client.search_experiments()]
        if not experiments:
            return marked
        host = socket.gethostname().replace("'", "")
        runs = client.search_runs(experiments, filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = "
                                                             f"'{host}'", max_results=1000)
        for run in runs:
            pid = run.data.tags.get(PID_TAG, "")
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                client.set_terminated(run.info.run_id, "KILLED")
                marked.append(run.info.run_id)
    except Exception as err:  # tracking is best effort here: the run goes on
        logger.warning("could not check MLflow for runs left RUNNING by killed processes (%s)",
                       " ".join(str(err).split())[:200])
        return marked
    if marked:
        logger.warning("marked %d MLflow runs KILLED: their process is gone (%s)", len(marked), ", ".join(marked))
    return marked


def sweep_temporaries(data_dir: Path) -> int:
    """Remove the temporary files of killed writes under ``data_dir``: only files named as the
    project's writers name them, in folders a writer that is gone recorded (never a file by its
    name alone); one log line with their number."""
    removed = 0
    if not data_dir.is_dir():
        return 0
    root = os.path.realpath(data_dir)
    skipped = [os.path.join(root, name) for name in SWEEP_SKIP]
    for folder in sorted(stale_temporary_folders()):
        inside = os.path.commonpath([folder, root]) == root
        if inside and not any(os.path.commonpath([folder, skip]) == skip for skip in skipped):
            removed += len(remove_stale_temporaries(folder))
    if removed:
        logger.warning("removed %d temporary files left by interrupted writes under %s", removed, data_dir)
    return removed
