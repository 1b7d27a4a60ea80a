"""Shared fixtures: a throwaway copy of the project, so CLI runs never write into the repo."""
from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (`-n auto` in pyproject), the machine's cores are shared between the workers:
# each worker, and the kedro runs it starts, gets its share (one thread each on two cores), so two
# workers do not fight over both cores. Set before torch is imported; select_device honours it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "").isdigit() and "OMP_NUM_THREADS" not in os.environ:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

#: Tiny models and step counts for CLI runs (any data).
TINY_MODEL_PARAMS = (
    "ingestion.workers=1,"
    "srgan.generator.blocks=1,srgan.generator.channels=8,srgan.discriminator.channels=8,"
    "srgan.pretrain_steps=4,srgan.gan_steps=2,srgan.batch_size=4,srgan.eval_every=3,srgan.checkpoint_every=3,"
    "srgan.recogniser.steps=3,srgan.recogniser.batch_size=4,srgan.recogniser.model.width=8,"
    "srgan.recogniser.model.depth=2,"
    "classifier.epochs=2,classifier.batch_size=16,classifier.model.width=8,classifier.model.depth=2"
)

#: A demo small enough for a CLI run in seconds: 32x32 frames with 128x128 truth, tiny models.
TINY_DEMO_PARAMS = (
    "ingestion.demo.people=4,ingestion.demo.lookalike_group_size=2,"
    "ingestion.demo.videos_per_person=4,ingestion.demo.sequences_per_video=2,"
    "ingestion.demo.frames_per_sequence=3,ingestion.demo.hr_size=128,"
    "ingestion.demo.extra_test_videos=1,ingestion.demo.other_people=2,"
    + TINY_MODEL_PARAMS
)


#: The shared tiny `full` run (the session fixture :func:`full_run`): six people, so the served model
#: has five names to give; the controls env and every variant on, each by the README's own switch.
FULL_RUN_PARAMS = (TINY_DEMO_PARAMS.replace("ingestion.demo.people=4", "ingestion.demo.people=6")
                   + ",variants.srgan_id.enabled=true,variants.srgan_other.enabled=true")


def kedro_cli(project: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python -m kedro <args>`` in ``project``, as a user runs it (telemetry switches as the user's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env["COLUMNS"] = "250"  # wide enough that Rich does not wrap a log line (node names are checked)
    return subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One real `kedro run --pipeline=full --env controls` on the tiny demo, shared by every test that
    only reads what a finished run left (tests/test_cli.py, the README's serving curl): the controls
    (srgan_self, clean64) on as conf/controls switches them, srgan_id and srgan_other switched on and a
    krasserm Keras .h5 generator (the tests' writer) named as srgan_pretrained's file, so every variant
    runs. Its tests share one pytest-xdist group (pytest_collection_modifyitems), so it runs once."""
    from .models.pretrained_files import krasserm_layers, write_krasserm_h5

    project = make_project_copy(tmp_path_factory.mktemp("full") / "project", mlflow_store=False)
    h5 = write_krasserm_h5(project / "data" / "06_models" / "gan_generator.h5", krasserm_layers(4, 1, seed=0))
    result = kedro_cli(project, "run", "--pipeline=full", "--env", "controls", "--params",
                       f"{FULL_RUN_PARAMS},variants.srgan_pretrained.import={h5}")
    assert result.returncode == 0, result.stderr[-3000:]
    return project, result


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """pytest-xdist groups (``--dist loadgroup``): the tests of the shared run in one group, so it runs
    once; the slow tests of a module that share a module fixture in one group each, so it runs once.
    The rest go to whichever worker is free."""
    for item in items:
        if "full_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("full_run"))
        elif item.get_closest_marker("slow") and _module_fixtures(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def _module_fixtures(item) -> list[str]:
    """The module- or class-scoped fixtures ``item`` uses (what its module's other tests share)."""
    info = getattr(item, "_fixtureinfo", None)
    return [name for name, defs in (info.name2fixturedefs.items() if info else ())
            if defs and defs[-1].scope in ("module", "class", "package")]


def base_params(stage: str, **overrides) -> dict:
    """``params:<stage>`` as a run gets it from ``conf/base`` (the only source of defaults), with
    ``overrides`` merged in; a nested key is written with ``__`` (``generator__blocks=1``)."""
    import yaml

    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / f"parameters_{stage}.yml").read_text())[stage]
    params = resolve_globals(params)
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return params


def resolve_globals(value):
    """``value`` with each ``${globals:key}`` replaced by conf/base/globals.yml's entry, as Kedro's
    config loader does."""
    import yaml

    if isinstance(value, dict):
        return {k: resolve_globals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_globals(v) for v in value]
    if isinstance(value, str) and value.startswith("${globals:") and value.endswith("}"):
        found = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "globals.yml").read_text())
        for key in value[len("${globals:"):-1].split("."):
            found = found[key]
        return found
    return value


@functools.cache
def migrated_mlflow_store() -> Path:
    """An empty MLflow sqlite store with its tables made, once per test process (removed at exit)."""
    import atexit
    import tempfile

    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="faceless-mlflow-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder / "mlflow.db"


def make_project_copy(dest: Path, mlflow_store: bool = True) -> Path:
    """The project's conf, notebooks and pyproject in ``dest``, with empty data folders, and (unless
    ``mlflow_store`` is False: a fresh clone) an empty MLflow store whose tables are made, as a project
    has after its first run: making them takes seconds of every fresh copy's first ``kedro run``."""
    dest.mkdir(parents=True)
    if mlflow_store:
        shutil.copy(migrated_mlflow_store(), dest / "mlflow.db")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest)
    shutil.copy(PROJECT_ROOT / ".telemetry", dest)
    shutil.copytree(PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("credentials*"))
    # The package itself comes from the (editable) install; kedro only needs the folder to exist.
    (dest / "src").mkdir()
    shutil.copytree(PROJECT_ROOT / "notebooks", dest / "notebooks")
    for folder in (PROJECT_ROOT / "data").iterdir():
        if folder.is_dir():
            (dest / "data" / folder.name).mkdir(parents=True)
    return dest


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    return make_project_copy(tmp_path / "project")


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch) -> str:
    """A sqlite MLflow store of the test's own, made the tracking URI. ``set_tracking_uri`` sets a
    module global and ``MLFLOW_TRACKING_URI``: monkeypatch puts both back after the test."""
    import mlflow
    import mlflow.tracking._tracking_service.utils as tracking_utils

    uri = f"sqlite:///{tmp_path}/m.db"
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture(autouse=True, scope="session")
def project_records(tmp_path_factory):
    """What the tests' own calls make is recorded (faceless.utils.atomic) in a folder of their own, not
    in the repo's ``.faceless``; a CLI run records in its project copy's (the hooks set it)."""
    import os

    old = os.environ.get("FACELESS_STATE_DIR")
    os.environ["FACELESS_STATE_DIR"] = str(tmp_path_factory.mktemp("faceless-state"))
    yield
    if old is None:
        os.environ.pop("FACELESS_STATE_DIR", None)
    else:
        os.environ["FACELESS_STATE_DIR"] = old


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (and its module-scoped fixtures): on a busy 2-core
    machine, 2 OpenMP threads make tiny models many times slower. The old count is restored after.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    from faceless.training.device import select_device

    old = torch.get_num_threads()
    # select_device is cached and its first call sets the thread count: let it happen before ours.
    select_device("cpu")
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Each test of a ``one_torch_thread`` module starts on one thread, as with a per-test fixture: a
    test's first ``select_device`` call with another argument (``auto``) sets the count again."""
    if "one_torch_thread" in item.fixturenames:
        import torch

        torch.set_num_threads(1)


@pytest.fixture
def logger_records(caplog):
    """``logger_records(name)`` attaches caplog's handler to that logger at INFO and returns caplog,
    so its records are caught whatever propagation another test's logging config left. Undone at
    teardown."""
    attached: list[tuple[logging.Logger, int]] = []

    def attach(name: str, level: int = logging.INFO):
        logger = logging.getLogger(name)
        attached.append((logger, logger.level))
        logger.addHandler(caplog.handler)
        logger.setLevel(level)
        return caplog

    try:
        yield attach
    finally:
        for logger, old_level in reversed(attached):
            logger.removeHandler(caplog.handler)
            logger.setLevel(old_level)


def logger_messages(caplog, name: str) -> list[str]:
    """Logger ``name``'s messages in caplog, once each (caplog's handler may sit on that logger and on
    the root)."""
    unique = {id(record): record for record in caplog.records if record.name == name}
    return [record.getMessage() for record in unique.values()]


def assert_state_equal(a: dict, b: dict) -> None:
    """Two state dicts: the same keys, and equal tensors under each."""
    import torch

    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def bicubic_reference(lr, factor: int = 4):
    """torch's own bicubic 4x of uint8 NHWC frames, clamped and rounded as the pipeline stores them."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(lr).permute(0, 3, 1, 2).float()
    y = F.interpolate(x / 255, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1) * 255
    return y.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def generator_reference(lr, generator: dict, batch_size: int = 2):
    """The generator's own fp32 forward, batch by batch and in the memory format the upscaling job
    runs it on the CPU (oneDNN picks other kernels for another format: their rounding can differ)."""
    import numpy as np
    import torch

    from faceless.models.generator import SRResNet
    from faceless.training.device import memory_format

    fmt = memory_format(torch.device("cpu"))
    model = SRResNet.from_config(generator["config"])
    model.load_state_dict(generator["state_dict"])
    model.eval().to(memory_format=fmt)
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(lr), batch_size):
            x = (torch.from_numpy(lr[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255).contiguous(
                memory_format=fmt)
            outputs.append((model(x).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(outputs)


@pytest.fixture(autouse=True)
def _pillow_bomb_limit():
    """A served model sets Pillow's process-wide bomb limit when it loads (its serving process's
    own); a test that loads one must not leave it for the next test (the scanner's size checks)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = limit
