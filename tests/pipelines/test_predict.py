"""Predict stage: exporting the demo test side, scanning an unlabeled tree, the variant's input,
and naming each sequence's top-5 people."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from faceless.utils.atomic import OWNED_MARKER
from faceless.data import unlabeled
from faceless.data.datasets import NpyArrayDataset
from faceless.inference import normalise, to_nchw_uint8
from faceless.models.classifier import FrameClassifier
from faceless.models.generator import LEGACY_LAYOUT, SRResNet
from faceless.pipelines.predict.nodes import (
    predict_input,
    predict_metrics,
    predict_sequences,
    prepare_predict_source,
    scan_unlabeled,
)
from faceless.utils.errors import ConfigError

from ..conftest import base_params, bicubic_reference, generator_reference, logger_messages

SIZE = 16
NAMES = ["Ada", "Bob", "Cyd"]
VARIANTS = base_params("variants")
NORMALISATION = {"mean": 0.5, "std": 0.25}  # as saved classifiers carry it
PARAMS = base_params("predict", device="cpu", precision="fp32", variant="lr", validate="full", workers=1,
                     batch_size=3)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bundle(num_classes: int = 3, names: list[str] | None = NAMES, size: int = SIZE) -> dict:
    torch.manual_seed(0)
    model = FrameClassifier(num_classes, input_size=size, width=8, depth=2, dropout=0.0, base_size=64)
    saved = {"variant": "lr", "config": model.config(), "state_dict": model.state_dict(),
             "normalisation": dict(NORMALISATION)}
    if names is not None:
        saved["class_names"] = names
    return saved


def frames_and_index(sequences: dict[str, int], seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = [{"sequence_name": name, "frame": f} for name, count in sequences.items() for f in range(count)]
    frames = rng.integers(0, 256, (len(rows), SIZE, SIZE, 3), dtype=np.uint8)
    return frames, pd.DataFrame(rows)


def expected_ranking(saved: dict, frames: np.ndarray, index: pd.DataFrame) -> dict[str, list[int]]:
    """Independently: mean log-softmax over each sequence's frames, classes sorted best first."""
    model = FrameClassifier.from_config(saved["config"])
    model.load_state_dict(saved["state_dict"])
    x = normalise(to_nchw_uint8(frames), saved["normalisation"]["mean"], saved["normalisation"]["std"])
    with torch.no_grad():
        log_probs = torch.log_softmax(model.eval()(x), 1).numpy()
    ranking = {}
    for name, rows in index.groupby("sequence_name"):
        mean = log_probs[rows.index].mean(0)
        ranking[name] = list(np.argsort(-mean, kind="stable"))
    return ranking


def run(frames, index, *, lr=None, bicubic=None, srgan=None, train_index=None, source=None, **params):
    """predict_sequences with the classifier of ``params``' variant (default lr), as the pipeline wires it."""
    skipped = {"variant": "x", "skipped": "no data for this variant (the sampled side has no frames)"}
    variant = params.get("variant", PARAMS["variant"])
    classifier = {"lr": lr, "bicubic": bicubic, "srgan": srgan}.get(variant) or skipped
    return predict_sequences(frames, index, source or {"answer_key": None},
                             train_index if train_index is not None else pd.DataFrame(),
                             classifier, {**PARAMS, **params})


def test_each_sequence_gets_its_names_best_first():
    saved = bundle()
    frames, index = frames_and_index({"seq_0010": 3, "seq_0002": 1, "seq_0007": 4})
    submission, detail, report = run(frames, index, lr=saved, top_k=5)

    assert list(submission.columns) == ["sequence", "person_1", "person_2", "person_3", "person_4", "person_5"]
    assert submission["sequence"].tolist() == ["seq_0002", "seq_0007", "seq_0010"]
    ranking = expected_ranking(saved, frames, index)
    for _, row in submission.iterrows():
        assert [row[f"person_{r}"] for r in (1, 2, 3)] == [NAMES[c] for c in ranking[row["sequence"]][:3]]
        assert row["person_4"] == "" and row["person_5"] == ""  # only 3 people to name
    assert detail["frames"].tolist() == [1, 4, 3]
    probabilities = detail[["probability_1", "probability_2", "probability_3"]].to_numpy()
    assert (np.diff(probabilities, axis=1) <= 0).all()
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)  # 3 classes: top-3 is everything
    assert report["sequences"] == 3 and report["frames"] == 8 and "challenge_score" not in report


def test_the_answer_key_scores_the_submission(tmp_path):
    saved = bundle()
    frames, index = frames_and_index({"seq_0000": 2, "seq_0001": 2})
    submission, _, _ = run(frames, index, lr=saved)
    first = submission.set_index("sequence")["person_1"]
    second = submission.set_index("sequence")["person_2"]
    key = tmp_path / "answers.json"
    # seq_0000 answered right at rank 0 (100 points), seq_0001 at rank 1 (90 points).
    key.write_text(json.dumps({"answers": {"seq_0000": first["seq_0000"], "seq_0001": second["seq_0001"]}}))
    _, _, report = run(frames, index, lr=saved, source={"answer_key": str(key)})
    assert report["scored_sequences"] == 2
    assert report["sequence_top1"] == pytest.approx(0.5)
    assert report["challenge_score"] == pytest.approx(95.0)


def test_a_classifier_saved_without_names_takes_them_from_its_train_index():
    frames, index = frames_and_index({"seq_0001": 2})
    train_index = pd.DataFrame({"label": [0, 1, 2], "person": [4, 9, 2], "person_name": ["p4", "p9", "p2"]})
    submission, _, _ = run(frames, index, lr=bundle(names=None), train_index=train_index)
    assert set(submission.iloc[0, 1:4]) == {"p4", "p9", "p2"}


def test_the_chosen_variant_answers():
    frames, index = frames_and_index({"seq_0001": 2})
    other = bundle(names=["X", "Y", "Z"])
    submission, _, report = run(frames, index, lr=bundle(), bicubic=other, variant="bicubic")
    assert report["variant"] == "bicubic" and set(submission.iloc[0, 1:4]) == {"X", "Y", "Z"}


def test_a_classifier_that_was_not_trained_is_a_config_error():
    frames, index = frames_and_index({"seq_0001": 2})
    with pytest.raises(ConfigError, match="predict.variant=srgan: that classifier was not trained"):
        run(frames, index, lr=bundle(), variant="srgan")


@pytest.mark.parametrize("variant, message", [
    ("hr", "predict.variant=hr: its input is made from the high-resolution truth, which unlabeled frames do not "
           "have; choose one of lr, bicubic, srgan"),
    ("srgan_self", r"predict.variant=srgan_self: that variant is off \(variants.srgan_self.enabled\)"),
    ("srgan2", "predict.variant=srgan2 is not a variant of conf's `variants`"),
])  # fmt: skip
def test_a_variant_that_cannot_answer_is_one_line_before_any_upscaling(variant, message, tmp_path):
    with pytest.raises(ConfigError, match=message) as error:
        predict_input(np.zeros((1, SIZE, SIZE, 3), np.uint8), {**PARAMS, "variant": variant},
                      upscaling_params(tmp_path), VARIANTS)
    assert "\n" not in str(error.value) and not (tmp_path / "cache").exists()


def test_any_variant_made_from_frames_answers_with_its_own_input(tmp_path):
    """A variant declared in conf alone (an interpolation under another name) gets its input made."""
    variants = {**VARIANTS, "smooth": {"enabled": True, "input": "interpolate", "mode": "bicubic"}}
    frames = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    out = predict_input(frames, {**PARAMS, "variant": "smooth"}, upscaling_params(tmp_path), variants)
    assert np.array_equal(out, bicubic_reference(frames))


def test_frames_of_another_size_than_the_classifier_learned_are_a_config_error():
    frames, index = frames_and_index({"seq_0001": 2})
    with pytest.raises(ConfigError, match=r"^predict.root: frames are 16x16 .* trained on 64 px"):
        run(frames, index, lr=bundle(size=64))


def save_frame(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_unlabeled_tree_is_scanned_with_sequence_names_and_counted_skips(tmp_path):
    save_frame(tmp_path / "seq_0003/frame_00001.png", 1)
    save_frame(tmp_path / "seq_0003/frame_00002.png", 2)
    save_frame(tmp_path / "seq_0010/frame_00001.png", 3)
    (tmp_path / "seq_0010/frame_00002.png").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("x")
    index, report = scan_unlabeled({"root": str(tmp_path), "answer_key": None}, PARAMS)
    assert index["sequence_name"].tolist() == ["seq_0003", "seq_0003", "seq_0010"]
    assert (index["label"] == -1).all() and (index["person"] == -1).all()
    assert report["layout"] == "sequences" and report["skipped_by_reason"]["empty"] == 1
    assert report["stray_files"]["examples"] == ["readme.txt"]


def test_missing_unlabeled_root_names_predict_root(tmp_path):
    with pytest.raises(ConfigError, match=r"^predict.root: .*does not exist"):
        scan_unlabeled({"root": str(tmp_path / "nope")}, PARAMS)


def demo_test_index(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for person, name in ((3, "person_0003"), (8, "person_0008")):
        for sequence in (1, 5):
            for frame in (2, 4):
                path = save_frame(tmp_path / "src" / f"{name}_{sequence}_{frame}.png",
                                  person * 100 + sequence * 10 + frame)
                rows.append({"person": person, "video": 1, "sequence": sequence, "frame": frame, "label": 0,
                             "person_name": name, "path": str(path)})
    return pd.DataFrame(rows)


def test_demo_test_side_is_exported_unlabeled_with_its_answers_apart(tmp_path):
    test_index = demo_test_index(tmp_path)
    params = {**PARAMS, "root": None, "demo_export": str(tmp_path / "out/unlabeled"), "seed": 0}
    source = prepare_predict_source(test_index, params)

    export = Path(source["root"])
    assert source["exported"] and export == tmp_path / "out/unlabeled"
    answers = json.loads(Path(source["answer_key"]).read_text())["answers"]
    assert not Path(source["answer_key"]).is_relative_to(export)  # the key is not in the tree
    sequence_dirs = [p for p in export.iterdir() if p.name != OWNED_MARKER]  # the marker: a tree we made
    assert sorted(p.name for p in sequence_dirs) == sorted(answers) and len(answers) == 4
    assert (export / OWNED_MARKER).is_file()
    for sequence_dir in sequence_dirs:
        exported = sorted(sequence_dir.iterdir())
        originals = test_index.loc[test_index["person_name"] == answers[sequence_dir.name], "path"]
        # Each exported sequence holds the frames of one original sequence of that person.
        assert len(exported) == 2
        assert {p.read_bytes() for p in exported} <= {Path(o).read_bytes() for o in originals}
    again = prepare_predict_source(test_index, params)
    assert not again["exported"] and again["root"] == source["root"]  # unchanged: not redone
    assert prepare_predict_source(test_index, {**params, "root": "/data/test"})["root"] == "/data/test"
    reseeded = prepare_predict_source(test_index, {**params, "seed": 1})  # our own export: redone in place
    assert reseeded["exported"] and len(list(export.glob("seq_*"))) == 4


def test_the_export_never_replaces_a_folder_it_did_not_make(tmp_path):
    test_index = demo_test_index(tmp_path)
    theirs = tmp_path / "out/unlabeled"
    (theirs / "notes").mkdir(parents=True)
    (theirs / "notes/keep.txt").write_text("mine")
    params = {**PARAMS, "root": None, "demo_export": str(theirs), "seed": 0}
    with pytest.raises(ConfigError, match=r"^predict\.demo_export: .*was not made by this project") as error:
        prepare_predict_source(test_index, params)
    assert "\n" not in str(error.value)
    assert (theirs / "notes/keep.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["unlabeled"]

    (theirs / "notes/keep.txt").unlink()
    (theirs / "notes").rmdir()
    assert prepare_predict_source(test_index, params)["exported"]  # an empty folder holds nothing to lose


def test_an_export_interrupted_after_the_swap_is_redone(tmp_path, monkeypatch):
    """A kill between replacing the tree and writing its key leaves a key that vouches for nothing."""
    test_index = demo_test_index(tmp_path)
    params = {**PARAMS, "root": None, "demo_export": str(tmp_path / "out/unlabeled"), "seed": 0}
    prepare_predict_source(test_index, params)
    real_replace = unlabeled.os.replace

    def replace_then_die(source, target):
        real_replace(source, target)
        if Path(target).name == "unlabeled":
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(unlabeled.os, "replace", replace_then_die)
        with pytest.raises(KeyboardInterrupt):
            prepare_predict_source(test_index, {**params, "seed": 1})
    assert json.loads((tmp_path / "out/unlabeled_answers.json").read_text())["fingerprint"] is None
    again = prepare_predict_source(test_index, {**params, "seed": 1})
    assert again["exported"]
    assert len(json.loads(Path(again["answer_key"]).read_text())["answers"]) == 4


def upscaling_params(tmp_path: Path) -> dict:
    return base_params("upscaling", device="cpu", precision="fp32", batch_size=2, shard_size=4,
                       cache_dir=str(tmp_path / "cache"))


def test_lr_input_is_the_frames_unchanged_through_the_cache(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    published = tmp_path / "predict_input.npy"
    dataset = NpyArrayDataset(str(published))
    dataset.save(predict_input(frames, {**PARAMS, "variant": "lr"}, upscaling_params(tmp_path), VARIANTS))
    assert np.array_equal(dataset.load(), frames)
    assert published.stat().st_ino == (tmp_path / "cache" / "predict_lr.npy").stat().st_ino  # linked, not copied
    bicubic = predict_input(frames, {**PARAMS, "variant": "bicubic"}, upscaling_params(tmp_path), VARIANTS)
    assert bicubic.shape == (5, 4 * SIZE, 4 * SIZE, 3)
    assert np.array_equal(bicubic, bicubic_reference(frames))


def test_srgan_input_is_the_generators_and_a_rerun_is_a_cache_hit(tmp_path, logger_records):
    torch.manual_seed(0)
    model = SRResNet(channels=8, blocks=1, scale=4, bicubic_skip=True, **LEGACY_LAYOUT)
    with torch.no_grad():
        torch.nn.init.normal_(model.tail.weight, std=0.02)
    generator = {"config": model.config(), "state_dict": model.state_dict()}
    frames = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    log = logger_records("faceless.inference")
    first = predict_input(frames, {**PARAMS, "variant": "srgan"}, upscaling_params(tmp_path), VARIANTS, generator)
    assert np.array_equal(first, generator_reference(frames, generator))
    log.clear()
    again = predict_input(frames, {**PARAMS, "variant": "srgan"}, upscaling_params(tmp_path), VARIANTS, generator)
    assert any("predict_srgan: cache hit" in m for m in logger_messages(log, "faceless.inference"))
    assert np.array_equal(again, first)


def test_predict_params_take_no_setting_from_code():
    with pytest.raises(ConfigError, match=r"missing parameter predict\.") as error:
        predict_input(np.zeros((1, SIZE, SIZE, 3), np.uint8), {"variant": "lr"}, base_params("upscaling"), VARIANTS)
    assert "\n" not in str(error.value)


def test_predict_metrics_are_the_reports_numbers():
    report = {"sequences": 3, "frames": 8, "seconds": 0.5, "variant": "lr", "challenge_score": 95.0,
              "sequence_top1": 0.75}
    assert predict_metrics(report) == {"sequences": {"value": 3.0, "step": 0},
                                       "frames": {"value": 8.0, "step": 0},
                                       "seconds": {"value": 0.5, "step": 0},
                                       "sequence_top1_pct": {"value": 75.0, "step": 0},
                                       "challenge_score": {"value": 95.0, "step": 0}}


def test_frames_larger_than_the_classifier_learned_are_refused_before_any_upscaling(tmp_path):
    """A 1000 px frame for a bicubic classifier of 64 px inputs (16 px frames): refused on its size
    alone, before a 4000 px upscale is computed (nothing in the cache)."""
    big = np.zeros((1, 250, 250, 3), np.uint8)
    with pytest.raises(ConfigError, match=r"^predict.root: frames are 250x250 px, but the bicubic classifier learned "
                                          r"16x16 px frames .*nothing was upscaled$"):
        predict_input(big, {**PARAMS, "variant": "bicubic"}, upscaling_params(tmp_path), VARIANTS,
                      classifier=bundle(size=4 * SIZE))
    assert not (tmp_path / "cache").exists()
    same = np.zeros((2, SIZE, SIZE, 3), np.uint8)  # the classifier's own size passes
    assert predict_input(same, {**PARAMS, "variant": "bicubic"}, upscaling_params(tmp_path), VARIANTS,
                         classifier=bundle(size=4 * SIZE)).shape == (2, 4 * SIZE, 4 * SIZE, 3)
