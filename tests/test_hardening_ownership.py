"""Issue 29, item 1: the project replaces or deletes only what it made, known by its own marker (a
random token it records), never by a guess (a file name, a sibling file, a ``*.tmp-<number>`` pattern)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceless.data.synthetic import PARAMS_FILE, DemoSize, generate_demo
from faceless.hooks import sweep_temporaries
from faceless.utils.atomic import OWNED_MARKER, remove_stale_temporaries
from faceless.utils.errors import ConfigError

from .pipelines.test_predict import PARAMS as PREDICT_PARAMS
from .pipelines.test_predict import demo_test_index
from .test_hardening_files import TINY_DEMO, dead_pid, killed_atomic_write

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    """The project's records (what it made, its writers' temporaries) in this test's own folder."""
    monkeypatch.setenv("FACELESS_STATE_DIR", str(tmp_path / "state"))


def export(test_index, folder: Path, seed: int = 0) -> dict:
    from faceless.pipelines.predict.nodes import prepare_predict_source

    return prepare_predict_source(test_index, {**PREDICT_PARAMS, "root": None, "demo_export": str(folder),
                                               "seed": seed})


def test_a_folder_holding_a_demo_params_file_is_not_taken_for_the_demo(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / PARAMS_FILE).write_text(json.dumps({"fingerprint": {"seed": 99}}))  # not ours, whatever its name
    (root / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match=r"^ingestion\.demo\.root: .*was not made by this project") as error:
        generate_demo(root, DemoSize.from_params(TINY_DEMO), workers=1, progress=False)
    assert "\n" not in str(error.value)
    assert (root / "thesis.tex").read_text() == "mine"


def test_a_copied_marker_does_not_make_a_folder_ours(tmp_path):
    ours = tmp_path / "demo"
    generate_demo(ours, DemoSize.from_params(TINY_DEMO), workers=1, progress=False)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / OWNED_MARKER).write_bytes((ours / OWNED_MARKER).read_bytes())
    (copy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="was not made by this project"):
        generate_demo(copy, DemoSize.from_params(TINY_DEMO), workers=1, progress=False)
    assert (copy / "notes.txt").read_text() == "mine"
    # Its own tree it still replaces.
    assert generate_demo(ours, DemoSize.from_params({**TINY_DEMO, "seed": 3}), workers=1, progress=False)["generated"]


def test_the_export_never_replaces_a_folder_because_of_a_sibling_answers_file(tmp_path):
    test_index = demo_test_index(tmp_path)
    theirs = tmp_path / "x"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    (tmp_path / "x_answers.json").write_text(json.dumps({"fingerprint": None, "answers": {}}))
    with pytest.raises(ConfigError, match=r"^predict\.demo_export: .*/x' exists and was not made by this project"):
        export(test_index, theirs)
    assert (theirs / "keep.txt").read_text() == "mine"


def test_the_export_never_overwrites_an_answers_file_it_did_not_write(tmp_path):
    test_index = demo_test_index(tmp_path)
    answers = tmp_path / "x_answers.json"
    answers.write_text("my own answers")
    with pytest.raises(ConfigError, match=r"^predict\.demo_export: .*x_answers\.json' exists and was not written "
                                          "by this project") as error:
        export(test_index, tmp_path / "x")
    assert "\n" not in str(error.value)
    assert answers.read_text() == "my own answers"
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()  # refused before any work
    answers.unlink()
    first = export(test_index, tmp_path / "x")
    assert first["exported"] and export(test_index, tmp_path / "x", seed=1)["exported"]  # its own: redone


def test_the_sweep_deletes_only_temporaries_the_project_wrote(tmp_path):
    data = tmp_path / "project" / "data"
    dead = dead_pid()
    theirs = [data / "05_model_input" / f"notes.tmp-{dead}", data / "05_model_input" / f"table.tmp-{dead}.csv",
              data / "06_models" / f"model.pt.tmp-{dead}", data / "08_reporting" / f"x.faceless-tmp-{dead}-0123456789abcdef"]
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    ours = killed_atomic_write(data / "05_model_input" / "lr_train.npy", tmp_path / "state")
    assert sweep_temporaries(data) == 1
    assert not ours.exists()
    assert all(path.read_text() == "mine" for path in theirs)
    assert remove_stale_temporaries(data / "05_model_input") == []
    assert remove_stale_temporaries(data / "06_models") == []
    assert all(path.exists() for path in theirs)


def test_a_directorys_own_sweep_removes_its_killed_writes_only(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    user = folder / f"last.pt.tmp-{dead_pid()}"
    user.write_text("mine")
    ours = killed_atomic_write(folder / "last.pt", tmp_path / "state")
    assert remove_stale_temporaries(folder) == [ours]
    assert user.read_text() == "mine"


@pytest.mark.slow
def test_the_cli_replaces_its_own_demo_and_refuses_a_users_folder(tmp_path):
    from .conftest import TINY_DEMO_PARAMS, make_project_copy
    from .test_hardening_hooks import finish, kedro

    project = make_project_copy(tmp_path / "project")
    demo = project / "data" / "01_raw" / "demo"
    code, output = finish(kedro(project, "--pipeline=ingestion", "--params", TINY_DEMO_PARAMS))
    assert code == 0, output[-3000:]
    assert (demo / OWNED_MARKER).is_file() and (project / ".faceless" / "owned.json").is_file()
    code, output = finish(kedro(project, "--pipeline=ingestion", "--params",
                                TINY_DEMO_PARAMS + ",ingestion.demo.seed=1"))  # its own tree: replaced
    assert code == 0, output[-3000:]
    assert json.loads((demo / PARAMS_FILE).read_text())["fingerprint"]["seed"] == 1

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / PARAMS_FILE).write_text("{}")
    (mine / "notes.txt").write_text("mine")
    code, output = finish(kedro(project, "--pipeline=ingestion", "--params",
                                TINY_DEMO_PARAMS + f",ingestion.demo.root={mine}"))
    assert code == 1 and "Traceback" not in output
    assert output.rstrip().splitlines()[-1].startswith(f"Error: ingestion.demo.root: '{mine}' exists and was not "
                                                       "made by this project")
    assert sorted(p.name for p in mine.iterdir()) == [PARAMS_FILE, "notes.txt"]
