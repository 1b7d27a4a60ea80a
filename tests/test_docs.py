"""The documentation stays true: the MkDocs site builds with --strict (links and anchors checked),
the README's test command is the one CI runs, and the README is a front door (short)."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from .conftest import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def test_the_docs_build_with_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip('mkdocs or mkdocs-material is not installed: pip install -e ".[docs]" (the test extra has them)')
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "protocol" / "index.html").is_file()


def readme_commands(section: str) -> list[str]:
    """The shell lines of the README's fenced ``bash`` blocks under ``## <section>``."""
    text = README.read_text()
    body = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert body, f"README has no section '## {section}'"
    blocks = re.findall(r"```bash\n(.*?)```", body.group(1), re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_test_command_is_the_one_ci_runs():
    ci = [line.strip() for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert readme_commands("Tests") == ci == ['pip install -e ".[test]" && pytest']


def test_the_quickstart_is_what_the_project_declares():
    import tomllib

    commands = readme_commands("Quickstart")
    assert commands == ["python -m venv .venv && . .venv/bin/activate", "pip install -e .", "kedro run --pipeline=full"]
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    python = re.search(r"Python (3\.\d+) or newer", README.read_text()).group(1)
    assert project["requires-python"] == f">={python}"
    assert {"mkdocs>=1.6", "mkdocs-material>=9.5"} <= set(project["optional-dependencies"]["test"])


def test_the_readme_is_a_front_door_with_the_answer_section():
    text = README.read_text()
    assert len(text.splitlines()) < 200
    # the answer: the study's rows, each with its interval, and where the whole table is
    answer = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    for variant in ("lr", "bicubic", "srgan", "srgan_other", "hr"):
        assert re.search(rf"^\| {variant}\b.*\[[-\d.]+, [-\d.]+\]", answer, re.M), variant
    assert "docs/protocol.md" in answer
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (PROJECT_ROOT / link).is_file(), link


def test_no_docs_sentence_names_a_version_the_bounds_do_not_hold():
    """kedro, kedro-viz, kedro-mlflow and MLflow are named at the versions pyproject allows."""
    import tomllib

    from packaging.requirements import Requirement

    bounds = {Requirement(r).name.lower(): Requirement(r).specifier
              for r in tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    pages = [README, *(PROJECT_ROOT / "docs").glob("*.md")]
    names = {"kedro": "kedro", "kedro-viz": "kedro-viz", "kedro-mlflow": "kedro-mlflow", "mlflow": "mlflow"}
    for page in pages:
        for name, version in re.findall(r"\b((?:kedro-viz|kedro-mlflow|kedro|MLflow|mlflow))[ ]v?(\d+\.\d+(?:\.\d+)?)\b",
                                        page.read_text()):
            spec = bounds[names[name.lower()]]
            assert spec.contains(version if version.count(".") == 2 else version + ".0") or \
                spec.contains(version + ".99"), f"{page.name}: {name} {version} is outside {spec}"
