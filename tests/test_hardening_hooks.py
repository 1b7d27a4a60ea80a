"""One run at a time, parameters and inputs checked up front, user errors in one line (issue 14,
items 2 and 6). The fast tests drive ``ProjectHooks`` directly; the slow ones run the real
``kedro run`` in a copy of the project, two of them at once."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Pipeline, node

from faceless import hooks
from faceless.hooks import (LOCK_DIR, RUN_LOCK, SETUP_LOCK, MissingInputError, ProjectHooks, install_one_line_errors,
                            user_error, validate_parameters)
from faceless.utils.errors import ConfigError
from faceless.utils.lock import FileLock, LockBusyError

from .conftest import PROJECT_ROOT, TINY_DEMO_PARAMS, make_project_copy, resolve_globals


def conf_parameters() -> dict:
    params: dict = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters_*.yml")):
        params.update(resolve_globals(yaml.safe_load(path.read_text())))
    return params


def with_value(params: dict, dotted: str, value) -> dict:
    import copy

    changed = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[leaf] = value
    return changed


# --------------------------------------------------------------------------- parameters up front


@pytest.mark.parametrize("dotted, value, message", [
    ("srgan.pretrain_steps", -1, r"^srgan\.pretrain_steps must be >= 0, got -1$"),
    ("srgan.batch_size", 0, r"^srgan\.batch_size must be >= 1"),
    ("upscaling.shard_size", 0, r"^upscaling\.shard_size must be >= 1"),
    ("classifier.epochs", 0, r"^classifier\.epochs must be >= 1, got 0$"),
    ("ingestion.demo.people", 1, r"^ingestion\.demo\.people must be an integer >= 2, got 1$"),
    ("upscaling.factor", 3, r"^upscaling\.factor=3 must equal srgan\.scale=4"),
    ("predict.top_k", 0, r"^predict\.top_k must be >= 1"),
    ("predict.batch_size", 0, r"^predict\.batch_size must be >= 1"),
    ("serving.nmae", "faceless", r"^unknown parameter serving\.nmae; serving takes: max_frames_per_request, max_pixels, "
                                 r"name, registered_model_name, request_sequences$"),
    ("serving.max_pixels", 0, r"^serving\.max_pixels must be >= 1, got 0$"),
    ("serving.name", "", r"^serving\.name must be a non-empty name without '/', got ''$"),
    ("serving.registered_model_name", 3, r"^serving\.registered_model_name must be a string, got 3$"),
    ("srgan.distributed.nproc", 0, r"^srgan\.distributed\.nproc must be >= 1"),
    ("classifier.distributed.nnodes", 0, r"^classifier\.distributed\.nnodes must be >= 1"),
    ("upscaling.distributed.nproc", 0, r"^upscaling\.distributed\.nproc must be >= 1 or auto, got 0$"),
    ("upscaling.distributed.backend", "mpi", r"^upscaling\.distributed\.backend must be one of"),
    # the variants, and what they mean for the stages
    ("variants.srgan.enabled", "yes", r"^variants\.srgan\.enabled must be true \| false \| auto, got 'yes'$"),
    ("variants.srgan.pairs", "others", r"^variants\.srgan\.pairs must be one of auto \| truth \| self \| other"),
    ("variants.bicubic.recipe", {}, r"^variants\.bicubic: unknown key\(s\) recipe for input: interpolate"),
    ("variants.srgan.recipe", {"pretrain_step": 5},
     r"^variants\.srgan: recipe key 'pretrain_step' is not a key of srgan"),
    ("variants.srgan.recipe", {"pretrain_losses": [{"type": "l3", "weight": 1}]},
     r"^variants\.srgan: srgan\.pretrain_losses"),
    ("variants.srgan_pretrained.import", "no/such/file.pth", r"^variants\.srgan_pretrained\.import: no file at"),
    ("evaluation.comparisons", [["srgan", "sr"]], r"^evaluation\.comparisons\[0\] names sr, not a variant"),
    ("predict.variant", "hr", r"^predict\.variant=hr: its input is made from the high-resolution truth"),
    ("predict.variant", "srgan_self", r"^predict\.variant=srgan_self: that variant is off"),
    # a stage's name mistyped on the command line: refused, with the section it meant
    ("srgn", {"pretrain_steps": 5}, r"^unknown parameter section 'srgn'; did you mean srgan\?$"),
    ("xyz", 1, r"^unknown parameter section 'xyz' \(the sections are ingestion, sampling, srgan"),
    # sizes bounded before any work (the demo would render for hours or fill the disk)
    ("ingestion.demo.people", 100000000, r"^ingestion\.demo\.people must be <= 10000 "),
    ("ingestion.demo.frames_per_sequence", [900, 1001], r"^ingestion\.demo\.frames_per_sequence"),
])
def test_every_parameter_is_checked_before_any_work(dotted, value, message):
    params = conf_parameters()
    assert validate_parameters(params, set(params))  # conf/base itself passes
    with pytest.raises(ConfigError, match=message):
        validate_parameters(with_value(params, dotted, value), set(params))


# --------------------------------------------------------------------------- the run lock


def needs(*inputs: str) -> Pipeline:
    return Pipeline([node(lambda *args: 1, list(inputs), "out", name="n")])


def hooks_in(project: Path) -> ProjectHooks:
    project_hooks = ProjectHooks()
    setup = project_hooks.after_context_created(SimpleNamespace(project_path=project))
    next(setup)  # the wrapper holds the setup lock around kedro-mlflow's hook ...
    assert FileLock(project / LOCK_DIR / SETUP_LOCK, "x").holder()["pid"] == os.getpid()
    with pytest.raises(StopIteration):
        setup.send(None)  # ... and lets go after it
    FileLock(project / LOCK_DIR / SETUP_LOCK, "x").acquire().release()
    return project_hooks


def catalog_with(params: dict, **datasets) -> DataCatalog:
    return DataCatalog({"parameters": MemoryDataset(params),
                        **{f"params:{k}": MemoryDataset(v) for k, v in params.items()},
                        **{name: MemoryDataset(value) for name, value in datasets.items()}})


def test_a_second_run_is_told_the_project_is_busy_and_who_holds_it(tmp_path):
    params = conf_parameters()
    other = FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire()  # another run of the project
    project_hooks = hooks_in(tmp_path)
    with pytest.raises(LockBusyError, match=rf"^the project {tmp_path} is busy: process {os.getpid()} started .*"
                                            "one run at a time") as error:
        project_hooks.before_pipeline_run({"pipeline_names": ["full"]}, needs("params:srgan"), catalog_with(params))
    assert "\n" not in str(error.value)
    other.release()

    pipeline = needs("params:srgan", "lr_train")
    project_hooks.before_pipeline_run({}, pipeline, catalog_with(params, lr_train=1))
    with pytest.raises(LockBusyError):  # held for the whole run ...
        FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire()
    project_hooks.after_pipeline_run()
    FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire().release()  # ... and given back after it


def test_a_run_refused_before_it_starts_gives_the_lock_back(tmp_path):
    params = with_value(conf_parameters(), "srgan.batch_size", 0)
    project_hooks = hooks_in(tmp_path)
    with pytest.raises(ConfigError, match="srgan.batch_size"):
        project_hooks.before_pipeline_run({}, needs("params:srgan"), catalog_with(params))
    FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire().release()


def test_missing_inputs_say_to_run_full_first(tmp_path):
    project_hooks = hooks_in(tmp_path)
    catalog = catalog_with(conf_parameters())
    with pytest.raises(MissingInputError, match=r"^--pipeline=predict needs sr_generator_srgan, test_index, which an "
                                                r"earlier run makes .*: run `kedro run --pipeline=full` first$"):
        project_hooks.before_pipeline_run({"pipeline_names": ["predict"]},
                                          needs("test_index", "sr_generator_srgan", "params:predict"), catalog)
    FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire().release()


@pytest.mark.parametrize("runner", ["<kedro.runner.parallel_runner.ParallelRunner object at 0x7f00>", "ParallelRunner"])
def test_parallel_runner_is_refused_in_one_line_before_the_lock_or_any_check(tmp_path, runner):
    project_hooks = hooks_in(tmp_path)
    with pytest.raises(hooks.RunnerError, match=r"^--runner=ParallelRunner cannot run this project: .*"
                                                r"not picklable.* no node or dataset hook runs.*"
                                                r"<stage>\.distributed\.nproc") as error:
        project_hooks.before_pipeline_run({"runner": runner}, needs("params:srgan"), catalog_with(conf_parameters()))
    assert "\n" not in str(error.value) and hooks.user_error(error.value) is error.value
    FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x").acquire().release()  # never taken


@pytest.mark.parametrize("runner", ["<kedro.runner.sequential_runner.SequentialRunner object at 0x7f00>",
                                    "<kedro.runner.thread_runner.ThreadRunner object at 0x7f00>"])
def test_the_other_runners_pass(tmp_path, runner):
    project_hooks = hooks_in(tmp_path)
    project_hooks.before_pipeline_run({"runner": runner}, needs("params:srgan"), catalog_with(conf_parameters()))
    lock = FileLock(tmp_path / LOCK_DIR / RUN_LOCK, "x")
    assert lock.holder()["pid"] == os.getpid()  # the run went ahead: it holds the project's lock
    with pytest.raises(LockBusyError):
        lock.acquire()
    project_hooks.after_pipeline_run()
    lock.acquire().release()  # and gave it back


# --------------------------------------------------------------------------- one-line errors


def test_user_errors_are_found_under_kedros_dataset_error_and_bugs_are_not():
    config = ConfigError("srgan.batch_size must be >= 1, got 0")
    wrapped = DatasetError("Failed while loading data from dataset X.\nmore")
    wrapped.__cause__ = config
    bug_under_dataset = DatasetError("Failed while loading")
    bug_under_dataset.__cause__ = FileNotFoundError("x")
    assert user_error(config) is config and user_error(wrapped) is config
    assert user_error(RuntimeError("a bug")) is None and user_error(bug_under_dataset) is None
    context_only = RuntimeError("a bug while handling a config error")
    context_only.__context__ = config
    assert user_error(context_only) is None


def test_the_exit_hook_prints_user_errors_in_one_line_and_bugs_in_full(monkeypatch):
    seen: list = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: seen.append(args[1]))
    monkeypatch.delenv("FACELESS_TRACEBACK", raising=False)
    install_one_line_errors()
    wrapper = sys.excepthook
    install_one_line_errors()  # idempotent: one wrapper, however many sessions a process makes
    assert sys.excepthook is wrapper and getattr(wrapper, "faceless_one_line", False)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    sys.excepthook(ConfigError, ConfigError("predict.top_k must be >= 1, got 0"), None)
    assert stderr.getvalue().count("\n") == 1 and stderr.getvalue().startswith("Error: predict.top_k must be >= 1")
    assert seen == []
    bug = RuntimeError("a bug")
    sys.excepthook(RuntimeError, bug, None)
    assert seen == [bug]
    monkeypatch.setenv("FACELESS_TRACEBACK", "1")
    sys.excepthook(ConfigError, config := ConfigError("x"), None)
    assert seen == [bug, config]


def test_the_hooks_are_registered_in_settings():
    from faceless import settings

    assert any(isinstance(hook, hooks.ProjectHooks) for hook in settings.HOOKS)


def test_an_environments_globals_override_only_the_keys_they_name(tmp_path):
    """conf/<env>/globals.yml with ``distributed: {nproc: 8, nnodes: 2, master: ...}`` (README: More
    than one GPU or machine) keeps conf/base's other keys, for every stage that takes the block."""
    from kedro.config import OmegaConfigLoader

    from faceless import settings

    shutil.copytree(PROJECT_ROOT / "conf" / "base", tmp_path / "base")
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "globals.yml").write_text("distributed:\n  nproc: 8\n  nnodes: 2\n  master: n0:29500\n")
    params = OmegaConfigLoader(str(tmp_path), env="cluster", **settings.CONFIG_LOADER_ARGS)["parameters"]
    base = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "globals.yml").read_text())["distributed"]
    for stage in ("upscaling",) + tuple(s for s in ("srgan", "classifier") if "distributed" in params[s]):
        assert params[stage]["distributed"] == {**base, "nproc": 8, "nnodes": 2, "master": "n0:29500"}, stage


# --------------------------------------------------------------------------- the real CLI


def kedro(project: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "FACELESS_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", *args], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


@pytest.mark.slow
def test_user_errors_from_the_real_cli_are_one_line_with_no_traceback(tmp_path):
    project = make_project_copy(tmp_path / "project")
    code, output = finish(kedro(project, "--pipeline=predict"))  # before any full run
    assert code == 1 and "Traceback" not in output
    assert output.rstrip().splitlines()[-1].startswith("Error: --pipeline=predict needs ")
    assert "run `kedro run --pipeline=full` first" in output.rstrip().splitlines()[-1]
    code, output = finish(kedro(project, "--pipeline=srgan", "--params", "srgan.batch_size=0"))
    assert code == 1 and "Traceback" not in output
    assert output.rstrip().splitlines()[-1].startswith("Error: srgan.batch_size must be >= 1, got 0")
    code, output = finish(kedro(project, "--pipeline=full", "--runner=ParallelRunner", "--params", TINY_DEMO_PARAMS))
    assert code == 1 and "Traceback" not in output
    assert output.rstrip().splitlines()[-1].startswith("Error: --runner=ParallelRunner cannot run this project: ")
    assert not (project / "data" / "02_intermediate" / "frame_index.parquet").exists()  # nothing ran


@pytest.mark.slow
def test_two_runs_started_together_in_a_fresh_clone_one_runs_one_is_told_busy(tmp_path):
    project = make_project_copy(tmp_path / "project", mlflow_store=False)
    assert not (project / "mlflow.db").exists()
    first = kedro(project, "--pipeline=full", "--params", TINY_DEMO_PARAMS)
    second = kedro(project, "--pipeline=full", "--params", TINY_DEMO_PARAMS)
    (code_1, out_1), (code_2, out_2) = finish(first), finish(second)
    assert sorted([code_1, code_2]) == [0, 1], (out_1[-3000:], out_2[-3000:])
    refused = out_2 if code_2 else out_1
    last = refused.rstrip().splitlines()[-1]
    assert last.startswith(f"Error: the project {project} is busy: process ") and "Traceback" not in refused
    assert "alembic" not in refused and "duplicate column" not in refused
    # Afterwards the project works: the MLflow store is sound and the lock is free.
    code, output = finish(kedro(project, "--pipeline=evaluation", "--params", TINY_DEMO_PARAMS))
    assert code == 0, output[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("faceless").experiment_id])
    assert sorted(run.info.status for run in runs) == ["FINISHED", "FINISHED"]


def test_an_imported_generator_of_another_layout_is_refused_before_any_work(tmp_path):
    """A file that is not a generator (or of another scale) is read up front, not when its node runs
    after the other trainings."""
    from .models.pretrained_files import basicsr_state, write_basicsr_pth

    params = conf_parameters()
    not_a_generator = tmp_path / "notes.pth"
    not_a_generator.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match=r"^variants\.srgan_pretrained\.import"):
        validate_parameters(with_value(params, "variants.srgan_pretrained.import", str(not_a_generator)), set(params))
    x2 = write_basicsr_pth(tmp_path / "x2.pth", basicsr_state(4, 1, 2, seed=0))  # upscales 2x, srgan.scale is 4
    with pytest.raises(ConfigError, match=r"^variants\.srgan_pretrained\.import: .* upscales 2x, but srgan\.scale=4"):
        validate_parameters(with_value(params, "variants.srgan_pretrained.import", str(x2)), set(params))
    x4 = write_basicsr_pth(tmp_path / "x4.pth", basicsr_state(4, 1, 4, seed=0))
    assert validate_parameters(with_value(params, "variants.srgan_pretrained.import", str(x4)), set(params))


def test_a_demo_larger_than_it_renders_is_one_line_saying_how_large():
    params = conf_parameters()
    demo = {**params["ingestion"]["demo"], "people": 5000, "frames_per_sequence": [900, 1000]}
    with pytest.raises(ConfigError, match=r"^ingestion\.demo: up to 100,000,000 frames .* is more than the demo "
                                          r"renders \(1,000,000"):
        validate_parameters(with_value(params, "ingestion.demo", demo), set(params))
