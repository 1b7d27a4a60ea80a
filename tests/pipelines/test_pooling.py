"""Sequence pooling in the pipelines (issue 28): the classifier stage's ``train_pooling`` node, the
parameters checked up front, the comparison's ``<variant>:attention`` rows and their paired
differences, and predict and the served model answering with the run's pooling. The engine itself
(the aggregator, its training) is tested in tests/recognition/test_pooling.py and
tests/models/test_aggregation.py."""
from __future__ import annotations

import base64
import copy
import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from faceless.hooks import validate_parameters
from faceless.inference import (backbone_digest, frame_embeddings, load_classifier, pool_sequences_attention,
                                sequence_ids, to_nchw_uint8)
from faceless.models.aggregation import AttentionAggregator
from faceless.pipeline_registry import build_pipelines
from faceless.pipelines.classifier.nodes import train_classifier, train_pooling
from faceless.pipelines.evaluation.nodes import compare_variants, evaluate_variant
from faceless.pipelines.predict.nodes import predict_sequences
from faceless.pipelines.serving.model import FacelessModel
from faceless.pipelines.serving.nodes import log_served_model, model_parts
from faceless.recognition import pooling as pooling_engine
from faceless.recognition.report import COMPARISON_COLUMNS
from faceless.recognition.stats import holm_adjusted
from faceless.utils.errors import ConfigError

from ..conftest import base_params
from ..recognition.toy import EMPTY, tiny_params, toy_sides
from ..test_hardening_hooks import conf_parameters, with_value
from ..test_protocol import load_bench, spy_on_the_sides

EVAL_PARAMS = base_params("evaluation", device="cpu", precision="fp32")
#: conf/base's pooling, attention on, small enough for the toy problem.
ATTENTION = base_params("pooling", method="attention", steps=30, eval_every_steps=10, device="cpu",
                        precision="fp32", set_frames=[2, 4])
MEAN = base_params("pooling", device="cpu", precision="fp32")
SAMPLING_REPORT = {"split_by": "video", "leakage_split": {}}
#: The variants of the comparison below: lr and srgan share the toy classifier, hr is skipped.
VARIANTS = ["lr", "srgan", "hr"]
SKIP_HR = {"variant": "hr",
           "skipped": "no data for this variant (hr is the high-resolution truth: the source has none)"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy():
    return toy_sides()


@pytest.fixture(scope="module")
def trained(toy):
    """The toy classifier (conf/base's recipe made tiny) and its attention pooling, by the nodes."""
    classifier, report = train_classifier(toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                          tiny_params(None), variant="lr")
    pooling, pooling_report = train_pooling(classifier, toy["train_x"], toy["train_index"], toy["val_x"],
                                            toy["val_index"], ATTENTION, variant="lr")
    return {"classifier": classifier, "report": report, "pooling": pooling, "pooling_report": pooling_report}


# ----------------------------------------------------------------------------------------------
# The node
# ----------------------------------------------------------------------------------------------
def test_mean_pooling_trains_nothing_and_says_so(trained, toy, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mean pooling trained a head")

    monkeypatch.setattr(pooling_engine, "train_attention_pooling", refuse)
    monkeypatch.setattr(pooling_engine, "frame_embeddings", refuse)
    pooling, report = train_pooling(trained["classifier"], toy["train_x"], toy["train_index"], toy["val_x"],
                                    toy["val_index"], MEAN, variant="lr")
    assert pooling["method"] == "mean" and "heads" not in pooling and pooling["variant"] == "lr"
    assert report == {"method": "mean", "variant": "lr"}


def test_a_skipped_classifier_passes_its_skip_on(toy):
    skipped = {"variant": "hr", "skipped": "no data for this variant (hr is the truth)"}
    assert train_pooling(skipped, EMPTY, toy["train_index"], EMPTY, toy["val_index"], ATTENTION, variant="hr") == (
        skipped, skipped)


def test_attention_trains_a_head_per_classifier_seed_on_the_training_side(trained):
    pooling, report = trained["pooling"], trained["pooling_report"]
    assert pooling["method"] == "attention" and pooling["variant"] == "lr" and len(pooling["heads"]) == 1
    head = pooling["heads"][0]
    assert head["backbone"] == backbone_digest(trained["classifier"], trained["classifier"]["state_dict"])
    assert head["seconds"] > 0 and report["seeds"][0]["seconds"] == head["seconds"]
    assert report["seeds"][0]["train_sequences"] == 6 and report["seeds"][0]["val_sequences"] == 6
    assert set(report["seeds"][0]["val_sequence_top1"]) == {"attention", "mean"}


def test_a_bad_pooling_parameter_is_one_line(trained, toy):
    with pytest.raises(ConfigError, match=r"^unknown parameter pooling\.stpes"):
        train_pooling(trained["classifier"], toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                      {**MEAN, "stpes": 3}, variant="lr")


# ----------------------------------------------------------------------------------------------
# Wiring and the catalog
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipelines():
    return build_pipelines({"variants": base_params("variants"), "predict": base_params("predict")})


def test_each_classifier_is_followed_by_its_pooling_on_the_same_sides(pipelines):
    by_name = {node.name: node for node in pipelines["classifier"].nodes}
    for variant, arrays in {"lr": "lr", "bicubic": "bicubic", "srgan": "srgan", "hr": "hr"}.items():
        node = by_name[f"classifier.{variant}.train_pooling"]
        assert node.namespace == f"classifier.{variant}"
        assert node.inputs == [f"classifier_{variant}", f"{arrays}_train", "train_index", f"{arrays}_val",
                               "val_index", "params:pooling"]
        assert node.outputs == [f"pooling_{variant}", f"pooling_report_{variant}"]
    readers = {node.name for node in pipelines["full"].nodes if "pooling_srgan" in node.inputs}
    assert readers == {"evaluation.srgan.evaluate", "serving.log_served_model"}  # predict.variant: srgan
    predict, = [node for node in pipelines["predict"].nodes if node.name == "predict.predict_sequences"]
    assert "predict_pooling_srgan" in predict.inputs
    compare, = [node for node in pipelines["evaluation"].nodes if node.name == "evaluation.compare_variants"]
    assert "params:pooling" in compare.inputs


def test_the_catalog_logs_the_pooling_beside_the_classifier_and_predict_reads_it_if_there(tmp_path):
    from faceless.data.datasets import TorchWeightsDataset

    from ..data.test_datasets import project_catalog

    catalog = project_catalog()
    pooling, classifier = catalog.get("pooling_lr"), catalog.get("classifier_lr")
    # the classifier's run-artifact wrapper: logged to the run's models/ folder (not a mean pooling's file)
    assert type(pooling).__name__ == "RunArtifactDataset" == type(classifier).__name__
    assert pooling._artifact_path == classifier._artifact_path == "models"
    assert "data/06_models/pooling_lr.pt" in repr(pooling) and pooling.metadata["kedro-viz"]["layer"] == "models"
    report = catalog.get("pooling_report_lr")
    assert "data/08_reporting/pooling_report_lr.json" in repr(report)
    assert report.metadata["kedro-viz"]["layer"] == "reporting"
    # predict's entry: the same file, read only; a run from before pooling files has none (the mean)
    absent = TorchWeightsDataset(str(tmp_path / "pooling_lr.pt"), optional=True)
    assert absent.exists() and absent.load() is None
    absent.save({"method": "mean", "variant": "lr"})
    assert absent.load() == {"method": "mean", "variant": "lr"}
    assert not TorchWeightsDataset(str(tmp_path / "other.pt")).exists()
    assert "data/06_models/pooling_srgan.pt" in repr(catalog.get("predict_pooling_srgan"))


# ----------------------------------------------------------------------------------------------
# Parameters, checked before any work
# ----------------------------------------------------------------------------------------------
STAGES = {"pooling", "classifier", "evaluation", "variants", "predict"}


@pytest.mark.parametrize("dotted, value, message", [
    ("pooling.method", "max", r"^pooling\.method must be one of"),
    ("pooling.set_frames", [4, 2], r"^pooling\.set_frames must be \[min, max\]"),
    ("pooling.steps", 0, r"^pooling\.steps must be >= 1"),
    ("evaluation.comparisons", [["lr:attention", "lr"]],
     r"^evaluation\.comparisons\[0\] names a pooled row \(lr:attention, lr\): declare it in "
     r"evaluation\.pooling_comparisons"),
    ("evaluation.pooling_comparisons", [["sr:attention", "lr"]],
     r"^evaluation\.pooling_comparisons\[0\] names sr:attention, not a variant of conf's `variants`"),
    ("evaluation.pooling_comparisons", [["lr:max", "lr"]],
     r"^evaluation\.pooling_comparisons\[0\] names lr:max: a pooled row is <variant>:<pooling> with a pooling of "
     r"attention$"),
    ("evaluation.pooling_comparisons", [["lr:attention", "lr:attention"]],
     r"^evaluation\.pooling_comparisons\[0\] must be \[variant, baseline\], two different"),
])
def test_pooling_parameters_are_checked_up_front(dotted, value, message):
    with pytest.raises(ConfigError, match=message):
        validate_parameters(with_value(conf_parameters(), dotted, value), STAGES)


def test_the_pooling_section_is_known_and_its_typo_named():
    configs = validate_parameters(conf_parameters(), STAGES)
    assert configs["pooling"].method == "mean"
    assert [list(pair) for pair in configs["evaluation"].pooling_comparisons] == [
        ["lr:attention", "lr"], ["srgan:attention", "srgan"], ["srgan:attention", "lr:attention"]]
    params = conf_parameters()
    params["poolng"] = params.pop("pooling")
    with pytest.raises(ConfigError, match=r"^unknown parameter section 'poolng'; did you mean pooling\?$"):
        validate_parameters(params, STAGES)


def test_attention_needs_a_backbone_with_frame_embeddings(monkeypatch):
    from faceless.models import BACKBONES

    class Bare(torch.nn.Module):  # a backbone without `embed`
        Options = BACKBONES["small_cnn"].Options

    monkeypatch.setitem(BACKBONES, "bare", Bare)
    params = with_value(with_value(conf_parameters(), "pooling.method", "attention"), "classifier.model.arch", "bare")
    with pytest.raises(ConfigError, match=r"^pooling\.method=attention needs frame embeddings, which "
                                          r"classifier\.model\.arch=bare does not give"):
        validate_parameters(params, STAGES)


# ----------------------------------------------------------------------------------------------
# Evaluation: the pooled rows
# ----------------------------------------------------------------------------------------------
def compare(evaluations: dict, reports: dict, pooling_params: dict | None, params: dict = EVAL_PARAMS):
    named = {**{f"evaluation_{v}": ev for v, ev in evaluations.items()},
             **{f"classifier_report_{v}": tr for v, tr in reports.items()}}
    out = compare_variants(SAMPLING_REPORT, params, variants=VARIANTS, pooling_params=pooling_params, **named)
    return dict(zip(["metrics", "comparison", "comparison_md", "confusion_matrices", "training_curves",
                     "evaluation_metrics", "differences", "differences_plot"], out))


@pytest.fixture(scope="module")
def evaluated(trained, toy):
    """lr and srgan (the same toy classifier) evaluated with the attention pooling; hr skipped."""
    evaluations = {v: evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], EVAL_PARAMS,
                                       variant=v, pooling=trained["pooling"]) for v in ("lr", "srgan")}
    evaluations["hr"] = SKIP_HR
    reports = {"lr": trained["report"], "srgan": {**copy.deepcopy(trained["report"]), "variant": "srgan"},
               "hr": SKIP_HR}
    plain = evaluate_variant(trained["classifier"], toy["test_x"], toy["test_index"], EVAL_PARAMS, variant="lr")
    return {"evaluations": evaluations, "reports": reports, "plain": plain}


def test_the_evaluation_adds_attention_pooled_sequences_to_the_same_frame_predictions(evaluated, trained, toy):
    ev, plain = evaluated["evaluations"]["lr"], evaluated["plain"]
    assert {k: v for k, v in ev.items() if k != "attention"} == plain  # the mean side: as without a pooling
    attention = ev["attention"]
    assert set(attention) == {"sequence", "per_seed", "sequence_outcomes", "seconds"}
    assert attention["seconds"] == [trained["pooling"]["heads"][0]["seconds"]]
    units = attention["sequence_outcomes"]
    assert {k: units[k] for k in ("sequence", "video", "label")} == {
        k: plain["sequence_outcomes"][k] for k in ("sequence", "video", "label")}
    # The head's own scores, independently.
    model = load_classifier(trained["classifier"])
    embedded, _ = frame_embeddings(model, to_nchw_uint8(toy["test_x"]), trained["classifier"]["normalisation"],
                                   torch.device("cpu"), None, 16, flip_tta=False)
    scores, _ = pool_sequences_attention(trained["pooling"]["heads"][0], embedded, sequence_ids(toy["test_index"]))
    hits = (scores.argmax(1) == torch.tensor(units["label"])).float()
    assert units["top1"] == hits.tolist() and attention["sequence"]["top1"] == pytest.approx(float(hits.mean()))
    run, mean_run = attention["per_seed"][0], plain["per_seed"][0]
    assert {k: run[k] for k in ("seed", "frame_top1", "frame_top5", "frame_macro_f1")} == {
        k: mean_run[k] for k in ("seed", "frame_top1", "frame_top5", "frame_macro_f1")}


def test_with_attention_every_variant_has_its_pooled_row_right_after_its_own(evaluated, trained):
    out = compare(evaluated["evaluations"], evaluated["reports"], ATTENTION)
    table = out["comparison"]
    assert list(table.columns) == COMPARISON_COLUMNS
    assert table["variant"].tolist() == ["lr", "lr:attention", "srgan", "srgan:attention", "hr", "hr:attention"]
    rows = table.set_index("variant")
    assert rows.loc["hr:attention", "note"] == rows.loc["hr", "note"] != ""
    own, pooled = rows.loc["lr"], rows.loc["lr:attention"]
    for column in ("frame_top1", "frame_top5", "frame_macro_f1", "frame_top1_low", "frame_top1_high", "test_frames",
                   "test_sequences", "input_px", "best_epoch"):
        assert pooled[column] == own[column], column
    attention = evaluated["evaluations"]["lr"]["attention"]
    assert pooled["sequence_top1"] == attention["sequence"]["top1"]
    assert pooled["challenge_score"] == attention["sequence"]["challenge_score"]
    assert pooled["sequence_top1_low"] <= pooled["sequence_top1"] <= pooled["sequence_top1_high"]
    assert pooled["train_seconds"] == pytest.approx(own["train_seconds"] + trained["pooling"]["heads"][0]["seconds"])
    # Figures: one panel and one curve per classifier, not per row.
    assert len(out["confusion_matrices"].axes) == 2
    assert [line.get_label() for line in out["training_curves"].axes[0].get_lines()] == ["lr", "srgan"]
    markdown = out["comparison_md"]
    assert "| lr:attention | 16 | " in markdown and "Rows `<variant>:attention`" in markdown
    assert out["evaluation_metrics"]["lr:attention/sequence_top1_pct"] == {"value": 100 * pooled["sequence_top1"],
                                                                          "step": 0}
    assert out["metrics"]["pooling"] == "attention" and "attention" not in out["metrics"]["variants"]["lr"]
    assert "sequence_outcomes" not in out["metrics"]["variants"]["lr:attention"]


def test_the_pooled_pairs_join_the_declared_family_and_holm_runs_over_all_of_it(evaluated):
    out = compare(evaluated["evaluations"], evaluated["reports"], ATTENTION)
    differences = out["differences"]
    pairs = differences[["variant", "baseline"]].values.tolist()
    mean_family = [p for p in EVAL_PARAMS["comparisons"] if set(p) <= set(VARIANTS)]
    pooled_family = [p for p in EVAL_PARAMS["pooling_comparisons"]]
    assert pairs == mean_family + pooled_family
    ran = differences[differences["note"] == ""]
    assert {tuple(p) for p in ran[["variant", "baseline"]].values.tolist()} == {
        ("srgan", "lr"), ("lr:attention", "lr"), ("srgan:attention", "srgan"), ("srgan:attention", "lr:attention")}
    # srgan and lr are one classifier: their pooled rows too (the known null)
    same = ran.set_index(["variant", "baseline"]).loc[("srgan:attention", "lr:attention")]
    assert same["sequence_top1_difference"] == 0 and same["sequence_top1_p"] == 1.0
    for metric in ("sequence_top1", "challenge_score"):
        assert differences[f"{metric}_p"].notna().sum() == 4  # one family: the mean pair and the pooled ones
        adjusted = holm_adjusted(differences[f"{metric}_p"].to_numpy(dtype=float))
        np.testing.assert_array_equal(differences[f"{metric}_p_adjusted"].to_numpy(dtype=float), adjusted)
    assert out["metrics"]["family"]["declared"] == pairs
    assert "| lr:attention − lr |" in out["comparison_md"]
    assert "lr:attention_vs_lr/sequence_top1_p_value" in out["evaluation_metrics"]


def test_with_mean_pooling_the_comparison_is_todays(evaluated):
    """pooling.method: mean (conf/base): no pooled row, no pooled pair; the same table, differences and
    metrics as a comparison that never heard of pooling, even from evaluations that hold an attention block."""
    plain = {**evaluated["evaluations"], "lr": evaluated["plain"], "srgan": {**evaluated["plain"], "variant": "srgan"}}
    before = compare(plain, evaluated["reports"], None)
    for evaluations in (plain, evaluated["evaluations"]):
        now = compare(evaluations, evaluated["reports"], MEAN)
        pd.testing.assert_frame_equal(now["comparison"], before["comparison"])
        pd.testing.assert_frame_equal(now["differences"], before["differences"])
        assert now["evaluation_metrics"] == before["evaluation_metrics"]
        assert now["comparison_md"] == before["comparison_md"]
    assert before["comparison"]["variant"].tolist() == VARIANTS


def test_an_evaluation_without_the_attention_block_gives_a_row_saying_why(evaluated):
    evaluations = {**evaluated["evaluations"], "srgan": {**evaluated["plain"], "variant": "srgan"}}
    rows = compare(evaluations, evaluated["reports"], ATTENTION)["comparison"].set_index("variant")
    assert rows.loc["srgan:attention", "note"].startswith(
        "skipped: srgan was evaluated without attention pooling (its pooling file says mean)")
    assert rows.loc["lr:attention", "note"] == ""


# ----------------------------------------------------------------------------------------------
# predict and the served model
# ----------------------------------------------------------------------------------------------
SIZE, NAMES = 16, ["Ada", "Bob", "Cyd"]


def crafted() -> tuple[dict, dict, np.ndarray, pd.DataFrame]:
    """A classifier, an attention pooling of it whose head answers otherwise than the mean (random
    weights, weighing the frames far apart), and frames of three sequences."""
    from faceless.models.classifier import FrameClassifier

    torch.manual_seed(0)
    model = FrameClassifier(3, input_size=SIZE, width=8, depth=2, dropout=0.0, base_size=64)
    classifier = {"variant": "lr", "config": model.config(), "state_dict": model.state_dict(),
                  "normalisation": {"mean": 0.5, "std": 0.25}, "class_names": NAMES}
    aggregator = AttentionAggregator(3, embed_dim=model.embed_dim, blocks=1)
    with torch.no_grad():
        for parameter in aggregator.parameters():
            parameter.normal_(0, 3)
    head = {"seed": None, "backbone": backbone_digest(classifier, classifier["state_dict"]), "seconds": 1.0,
            "config": aggregator.config(), "state_dict": aggregator.state_dict()}
    pooling = {"method": "attention", "variant": "lr", "config": ATTENTION, "heads": [head]}
    rng = np.random.default_rng(0)
    index = pd.DataFrame({"sequence_name": np.repeat(["seq_0001", "seq_0002", "seq_0003"], 4), "frame": 0})
    return classifier, pooling, rng.integers(0, 256, (len(index), SIZE, SIZE, 3), dtype=np.uint8), index


def predict(frames, index, classifier, pooling) -> tuple[pd.DataFrame, dict]:
    params = base_params("predict", device="cpu", precision="fp32", variant="lr", workers=1, batch_size=5)
    _, detail, report = predict_sequences(frames, index, {"answer_key": None}, pd.DataFrame(), classifier, params,
                                          pooling)
    return detail, report


def test_predict_answers_with_the_runs_attention_pooling_and_by_the_mean_otherwise():
    classifier, pooling, frames, index = crafted()
    attention, report = predict(frames, index, classifier, pooling)
    assert report["pooling"] == "attention"
    mean, mean_report = predict(frames, index, classifier, None)  # a run from before pooling files
    assert "pooling" not in mean_report
    pd.testing.assert_frame_equal(predict(frames, index, classifier, {"method": "mean", "variant": "lr"})[0], mean)
    # The head's answer, independently: its log-probabilities over each sequence's frames.
    model = load_classifier(classifier)
    embedded, _ = frame_embeddings(model, to_nchw_uint8(frames), classifier["normalisation"], torch.device("cpu"),
                                   None, 5, flip_tta=False)
    codes, _ = pd.factorize(index["sequence_name"], sort=True)
    scores, _ = pool_sequences_attention(pooling["heads"][0], embedded, codes)
    assert attention["probability_1"].to_numpy() == pytest.approx(scores.exp().max(1).values.numpy(), abs=1e-5)
    assert not np.allclose(attention["probability_1"], mean["probability_1"])  # a case where the two differ


def test_a_pooling_of_other_weights_is_one_line():
    classifier, pooling, frames, index = crafted()
    retrained = {**classifier, "state_dict": {k: v + 1 if v.is_floating_point() else v
                                              for k, v in classifier["state_dict"].items()}}
    with pytest.raises(ConfigError, match="trained on another classifier's weights"):
        predict(frames, index, retrained, pooling)


def png(frame: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    import mlflow.tracking._tracking_service.utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def test_the_served_model_carries_the_pooling_and_answers_as_predict(tracking):
    import mlflow
    import mlflow.pyfunc

    classifier, pooling, frames, index = crafted()
    predict_params = base_params("predict", device="cpu", precision="fp32", variant="lr", workers=1, batch_size=5)
    upscaling = base_params("upscaling", device="cpu", precision="fp32", cache_dir=str(tracking / "cache"))
    variants = base_params("variants")
    with mlflow.start_run() as run:
        report = log_served_model(classifier, pd.DataFrame(), predict_params, upscaling, base_params("serving"),
                                  variants, pooling=pooling)
    assert report["pooling"] == "attention"
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/faceless")
    request = pd.DataFrame({"sequence": index["sequence_name"], "image": [png(frame) for frame in frames]})
    answer = loaded.predict(request)
    expected, _ = predict(frames, index, classifier, pooling)
    pd.testing.assert_frame_equal(answer.reset_index(drop=True), expected.reset_index(drop=True))
    # Without the pooling (a model logged before pooling files, or a mean run): the mean's answer.
    parts = model_parts(classifier, pd.DataFrame(), predict_params, variants)
    old = FacelessModel.from_parts({k: v for k, v in parts.items() if k != "pooling"},
                                   {"predict": predict_params, "upscaling": upscaling})
    mean, _ = predict(frames, index, classifier, None)
    pd.testing.assert_frame_equal(old.predict(None, request).reset_index(drop=True), mean.reset_index(drop=True))
    assert not np.allclose(answer["probability_1"], mean["probability_1"])
    with pytest.raises(ConfigError, match="another classifier's weights"):  # refused when logged, not when asked
        FacelessModel.from_parts({**parts, "pooling": {**pooling, "heads": [{**pooling["heads"][0], "backbone": "x"}]}},
                                 {"predict": predict_params, "upscaling": upscaling})


# ----------------------------------------------------------------------------------------------
# The validation screen
# ----------------------------------------------------------------------------------------------
def test_the_pooling_screen_never_loads_a_test_frame(tmp_path, monkeypatch, capsys):
    """bench/screen_pooling.py on a tiny demo at two corruption strengths: the frames it loads are the
    train and val sides', never the test side's."""
    screen_pooling = load_bench("screen_pooling")
    made, loaded = spy_on_the_sides(screen_pooling.screen, monkeypatch)
    screen_pooling.main(["--tiny", "--corruption", "0,1", "--seeds", "0", "--steps", "5",
                         "--results", str(tmp_path / "runs.jsonl")])
    test = set().union(*made["test"])
    assert test and len(made["train"]) == 2  # one demo a strength
    assert loaded == [side for sides in zip(made["train"], made["val"]) for side in sides]
    assert all(not (paths & test) for paths in loaded)
    printed = capsys.readouterr().out
    assert "d attn - mean" in printed and len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2
