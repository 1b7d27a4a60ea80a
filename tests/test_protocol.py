"""The protocol: the test side is touched by upscaling, evaluation, predict and serving alone.

Every registered pipeline is walked as one DAG. The test side is, by name, ``test_index`` and every
dataset whose name ends in ``_test`` (``lr_test``, ``sr_test``, ``srgan_test``, ...), and, by
descent, every output of a node that reads the test side (``evaluation_lr``, ``metrics``, ...):
what a node computes from test data is test data. A node may read the test side only where its
namespace names one of the allowed stages (at any depth: ``upscaling.``, ``upscaling.srgan.``,
``srgan.evaluation.``), so the check survives renamed nodes, datasets and variants. The sampling
stage makes the test side: a node there may read it only to write test-side datasets by name
(``load_test_frames``: ``test_index`` -> ``lr_test``, ``hr_test``), never anything else.

The checker is :func:`find_test_side_violations`; the tests below also show it failing on pipelines
wired wrongly (a training node fed ``lr_test``, the real classifier node rewired to it, a node
tuned on an evaluation output, a sampling node mixing test frames into a training array).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from kedro.pipeline import Node, Pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Stages (namespace components) that may read the test side.
ALLOWED_STAGES = frozenset({"upscaling", "evaluation", "predict", "serving"})
#: Stages that make the test side: they may read it only to write test-side datasets.
MAKING_STAGES = frozenset({"sampling"})


def is_test_named(dataset: str) -> bool:
    """``test_index`` or ``*_test``, whatever namespace prefixes the name (``srgan.sr_test``)."""
    if dataset.startswith("params:") or dataset == "parameters":
        return False
    base = dataset.rsplit(".", 1)[-1]
    return base == "test_index" or base.endswith("_test")


def namespace_parts(node: Node) -> list[str]:
    """The node's namespace components (from its namespace, else from its dotted name)."""
    if node.namespace:
        return node.namespace.split(".")
    return node.name.split(".")[:-1]


def find_test_side_violations(pipeline: Pipeline) -> list[str]:
    """One line per node outside the allowed stages that reads a test-side dataset (named so, or
    derived from one through any chain of nodes); empty when the protocol holds."""
    tainted = {name for name in pipeline.datasets() if is_test_named(name)}
    violations = []
    for node in pipeline.nodes:  # topologically sorted: a producer comes before its consumers
        read = sorted(name for name in node.inputs if name in tainted)
        if not read:
            continue
        tainted.update(node.outputs)
        parts = set(namespace_parts(node))
        if parts & ALLOWED_STAGES:
            continue
        if parts & MAKING_STAGES and node.outputs and all(is_test_named(name) for name in node.outputs):
            continue
        derived = [name for name in read if not is_test_named(name)]
        violations.append(f"{node.name} reads the test side: {', '.join(read)}"
                          + (f" ({', '.join(derived)} derived from test data)" if derived else ""))
    return violations


def readers_of_test_side(pipeline: Pipeline) -> list[str]:
    """The nodes that read the test side (directly or by descent), allowed or not."""
    tainted = {name for name in pipeline.datasets() if is_test_named(name)}
    readers = []
    for node in pipeline.nodes:
        if any(name in tainted for name in node.inputs):
            tainted.update(node.outputs)
            readers.append(node.name)
    return readers


def every_registered_node(pipelines: dict[str, Pipeline]) -> Pipeline:
    """All registered pipelines as one DAG (a node shared by several counted once), so that what
    one pipeline derives from the test side is followed into the others."""
    nodes: dict[str, Node] = {}
    for pipeline in pipelines.values():
        for node in pipeline.nodes:
            nodes.setdefault(node.name, node)
    return Pipeline(list(nodes.values()))


@pytest.fixture(scope="module")
def registered() -> dict[str, Pipeline]:
    from kedro.framework.startup import bootstrap_project

    # As `kedro run` does: settings and conf known, should the registry build pipelines from conf.
    bootstrap_project(PROJECT_ROOT)
    from faceless.pipeline_registry import register_pipelines

    return register_pipelines()


def trained(inputs: dict[str, str] | list[str], name: str, namespace: str | None, outputs: str | list[str] = "model"
            ) -> Node:
    def fit(*args, **kwargs):  # never run: only the wiring is checked
        raise AssertionError("not run")

    return Node(fit, inputs, outputs, name=name, namespace=namespace)


# ----------------------------------------------------------------------------------------------
def test_registered_pipelines_touch_the_test_side_only_in_allowed_stages(registered):
    whole = every_registered_node(registered)
    assert find_test_side_violations(whole) == []
    # Not vacuous: the test side exists in the DAG and evaluation reads it.
    readers = readers_of_test_side(whole)
    assert any("evaluation" in namespace_parts(node) for node in whole.nodes if node.name in readers), readers
    for name, pipeline in registered.items():
        assert find_test_side_violations(pipeline) == [], name


def test_checker_fails_on_a_training_node_fed_the_test_side():
    pipeline = Pipeline([trained(["lr_test", "train_index"], "train_x", "classifier", "classifier_x")])
    assert find_test_side_violations(pipeline) == ["classifier.train_x reads the test side: lr_test"]
    # A node without a namespace, named like a training node, is caught the same way.
    bare = Pipeline([trained(["test_index"], "classifier.train_x", None)])
    assert find_test_side_violations(bare) == ["classifier.train_x reads the test side: test_index"]


def test_checker_fails_on_the_real_classifier_node_rewired_to_test_frames(registered):
    classifier = registered["classifier"]
    train_lr = next(node for node in classifier.nodes if node.name.startswith("classifier.")
                    and "lr_val" in node.inputs)
    rewired = Pipeline([train_lr], inputs={"lr_val": "lr_test"})  # validation swapped for the test frames
    found = find_test_side_violations(registered["sampling"] + rewired)
    assert len(found) == 1 and found[0].startswith(f"{train_lr.name} reads the test side: lr_test"), found


def test_checker_follows_what_is_derived_from_the_test_side():
    pipeline = Pipeline([
        trained({"classifier": "classifier_lr", "x": "lr_test", "index": "test_index"}, "evaluate_lr", "evaluation",
                "evaluation_lr"),
        trained(["evaluation_lr"], "summarise", "evaluation", "metrics"),
        # choosing the epochs from the test metrics: the test side, two steps removed
        trained(["metrics", "lr_train"], "choose_epochs", "classifier", "classifier_epochs"),
    ])
    assert find_test_side_violations(pipeline) == [
        "classifier.choose_epochs reads the test side: metrics (metrics derived from test data)"]


def test_checker_allows_nested_namespaces_and_sampling_only_to_make_the_test_side():
    ok = Pipeline([
        trained(["sampling_params", "test_index"], "load_test_frames", "sampling", ["lr_test", "hr_test"]),
        trained(["lr_test", "sr_generator"], "upscale_test", "upscaling.srgan", "srgan_test"),
        trained(["srgan_test", "classifier_srgan"], "evaluate", "srgan.evaluation", "evaluation_srgan"),
    ])
    assert find_test_side_violations(ok) == []
    leaky = Pipeline([trained(["lr_test", "lr_train"], "pool_frames", "sampling", ["lr_pool_train"])])
    assert find_test_side_violations(leaky) == ["sampling.pool_frames reads the test side: lr_test"]


# ----------------------------------------------------------------------------------------------
def load_bench(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", PROJECT_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spy_on_the_sides(screen, monkeypatch) -> tuple[dict[str, list[set]], list[set]]:
    """On bench/screen.py's module ``screen``: the frame paths of each side every split makes (a list
    per side, a set per call) and of every index whose frames are loaded, recorded as they happen."""
    made: dict[str, list[set]] = {"train": [], "val": [], "test": []}
    loaded: list[set] = []
    real_sample, real_load = screen.sample_splits, screen.load_split_frames

    def sample(*args, **kwargs):
        train, val, test, report = real_sample(*args, **kwargs)
        for side, index in zip(made, (train, val, test)):
            made[side].append(set(index["path"]))
        return train, val, test, report

    def load(index, params):
        loaded.append(set(index["path"]))
        return real_load(index, params)

    monkeypatch.setattr(screen, "sample_splits", sample)
    monkeypatch.setattr(screen, "load_split_frames", load)
    return made, loaded


def test_the_validation_screen_never_loads_a_test_frame(tmp_path, monkeypatch, capsys):
    """bench/screen.py on a tiny demo: the frames it loads are the train and val sides', never the
    test side's (whose index the joint split makes and the screen drops)."""
    screen = load_bench("screen")
    made, loaded = spy_on_the_sides(screen, monkeypatch)
    screen.main(["--tiny", "--variants", "lr", "--epochs", "1", "--seeds", "0", "--selections", "last",
                 "--results", str(tmp_path / "runs.jsonl")])
    test = made["test"][0]
    assert test and loaded == [made["train"][0], made["val"][0]]
    assert all(not (paths & test) for paths in loaded)
    assert "lr         1    16  0.5  16 last" in capsys.readouterr().out
