"""The layering DESIGN.md draws, checked on the source: Kedro glue on top, engines in the middle,
models / data / utilities at the bottom; nothing imports upward, engines import neither kedro nor
mlflow, and no function hides a project import (the usual way to paper over a cycle)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "faceless"
GLUE = ("kedro", "kedro_mlflow", "kedro_datasets", "kedro_viz", "mlflow")

#: Rank of each part of the package: a module may import its own part and parts of lower rank.
RANKS = {
    "utils": 0,
    "models": 1, "data": 1,
    "training": 2,
    "inference": 3, "variants": 3,
    "sr": 4, "recognition": 4, "distributed": 4,
    "pipelines": 5,
    "pipeline_registry": 6, "hooks": 6, "__main__": 6, "__init__": 6,
    "settings": 7,  # registers the project's hooks, as Kedro's template does (HOOKS = (ProjectHooks(),))
}
#: The Kedro-facing modules below the glue layer: the catalog's own datasets.
KEDRO_DATASETS = {"data.datasets"}


def modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        found.append((name, ast.parse(path.read_text(), filename=str(path))))
    return found


def part_of(module: str) -> str:
    return module.split(".")[0]


def imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in ``tree``."""
    top_level = {id(node) for node in tree.body}
    top_level |= {id(child) for node in tree.body if isinstance(node, (ast.If, ast.Try))
                  for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, id(node) in top_level))
    return found


MODULES = modules()


def test_every_part_of_the_package_has_a_rank():
    assert {part_of(name) for name, _ in MODULES} <= set(RANKS)


@pytest.mark.parametrize("name,tree", MODULES, ids=[name for name, _ in MODULES])
def test_no_module_imports_upward_or_hides_a_project_import(name, tree):
    rank = RANKS[part_of(name)]
    for imported, at_module_level in imports(tree):
        if not imported.startswith("faceless."):
            continue
        target = part_of(imported.removeprefix("faceless."))
        assert at_module_level, f"{name} imports {imported} inside a function"
        assert target == part_of(name) or RANKS[target] < rank, f"{name} (rank {rank}) imports upward: {imported}"


@pytest.mark.parametrize("name,tree", [(n, t) for n, t in MODULES if RANKS[part_of(n)] < RANKS["pipelines"]
                                       and n not in KEDRO_DATASETS], ids=lambda v: v if isinstance(v, str) else "")
def test_engines_import_neither_kedro_nor_mlflow(name, tree):
    used = {imported.split(".")[0] for imported, _ in imports(tree)}
    assert not used & set(GLUE), f"{name} imports {sorted(used & set(GLUE))}"


def test_engines_import_where_kedro_and_mlflow_are_absent():
    """What the source check says, in a real interpreter (a bare GPU box runs bench/gpu_check.py)."""
    engines = sorted(n for n, _ in MODULES if RANKS[part_of(n)] < RANKS["pipelines"] and n not in KEDRO_DATASETS
                     and not n.endswith("__init__"))
    script = "\n".join([
        "import sys",
        "class Block:",
        "    def find_spec(self, name, path=None, target=None):",
        f"        if name.split('.')[0] in {GLUE!r}:",
        "            raise ImportError('blocked ' + name)",
        "sys.meta_path.insert(0, Block())",
        *[f"import faceless.{name}" for name in engines],
        "print('ok')",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
    assert "inference" in engines and any(n.startswith("sr.") for n in engines)


def test_every_node_functions_type_hints_resolve():
    """Kedro reads each node function's type hints (a warning line per node where they do not
    resolve, e.g. a name imported only under TYPE_CHECKING): every node of every pipeline, every
    variant on, resolves them."""
    import typing

    from faceless.pipeline_registry import build_pipelines

    from .conftest import base_params

    variants = {name: {**block, "enabled": True} for name, block in base_params("variants").items()}
    pipelines = build_pipelines({"variants": variants, "predict": base_params("predict")})
    functions = {node.func for pipeline in pipelines.values() for node in pipeline.nodes}
    assert len(functions) > 10
    for function in functions:
        typing.get_type_hints(getattr(function, "func", function))  # functools.partial: its function
