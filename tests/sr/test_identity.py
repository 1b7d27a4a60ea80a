"""Recognition-aware SR: the identity loss term, its recogniser (trained on the training side only,
frozen during the generator's steps, or alternating), srgan_id's training and its node."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from faceless.models import build_model
from faceless.hooks import validate_parameters
from faceless.pipeline_registry import build_pipelines
from faceless.pipelines.srgan.nodes import train_generator_variant
from faceless.sr.config import load_config, variant_config
from faceless.sr.identity import EMBEDDING, LOGITS, Recogniser, mixed_crops
from faceless.sr.losses import LossContext, WeightedLoss, feature_distance
from faceless.sr.trainer import SRTrainer, train_generator
from faceless.training.tracker import MemoryTracker
from faceless.utils.errors import ConfigError
from faceless.variants import variant_specs

from ..conftest import assert_state_equal, base_params
from .helpers import smooth_frames, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PEOPLE = 3
TINY_RECOGNISER = {"steps": 4, "batch_size": 4,
                   "model": {"arch": "small_cnn", "width": 4, "depth": 2, "dropout": 0.0, "base_size": 64}}
IDENTITY = {"type": "identity", "weight": 1.0, "layers": ["body", EMBEDDING], "distance": "l1"}


ID_NAME = "srgan_id"


def id_variants(**overrides) -> dict:
    """``params:variants`` of conf/base with srgan_id switched on."""
    return base_params("variants", srgan_id__enabled=True, **overrides)


ID_SPEC = variant_specs(id_variants())[ID_NAME]


def id_params(checkpoint_dir, recogniser=None, **overrides) -> dict:
    """tiny ``params:srgan`` with a tiny recogniser trained here (for srgan_id, ID_SPEC)."""
    params = tiny_params(checkpoint_dir, **overrides)
    params["recogniser"] = {**params["recogniser"], **TINY_RECOGNISER, **(recogniser or {})}
    return params


def labelled_frames(n: int, seed: int, low: int = 0, high: int = 255) -> dict[str, np.ndarray]:
    """``n`` smooth frames with truth, pixel values squeezed into [low, high], and a person each."""
    lr, hr = smooth_frames(n, seed)

    def squeeze(x: np.ndarray) -> np.ndarray:
        return (low + x.astype(np.float64) * (high - low) / 255).round().astype(np.uint8)

    return {"lr": squeeze(lr), "hr": squeeze(hr), "labels": np.arange(n) % PEOPLE}


@pytest.fixture(scope="module")
def frames():
    return {"train": labelled_frames(12, seed=1), "val": labelled_frames(3, seed=2)}


def make_trainer(frames, params, name=ID_NAME) -> SRTrainer:
    t, v = frames["train"], frames["val"]
    return SRTrainer.from_arrays(variant_config(params, ID_SPEC), t["lr"], t["hr"], v["lr"], v["hr"], name=name,
                                 labels=t["labels"], val_labels=v["labels"])


def recogniser_weights(trainer: SRTrainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.recogniser.model.state_dict().items()}


# ----------------------------------------------------------------------------------------------
# The term
# ----------------------------------------------------------------------------------------------
def identity_term(**options):
    loss = WeightedLoss([{**IDENTITY, **options}], "srgan.pretrain_losses", discriminator=False)
    return loss.terms[0]


def test_identity_term_is_the_distance_of_the_recognisers_features():
    """With features = 2 x the image, l1 is exactly twice the images' mean absolute difference."""
    term = identity_term(layers=["a"])
    ctx = LossContext(torch.zeros(1), torch.zeros(1), None, recogniser=lambda x, layers: [2 * x for _ in layers])
    sr, hr = torch.full((2, 3, 8, 8), 0.25), torch.full((2, 3, 8, 8), 0.75)
    assert term(sr, hr, ctx).item() == pytest.approx(2 * 0.5)
    assert term(hr, hr, ctx).item() == 0.0


@pytest.mark.parametrize("distance", ["l1", "mse", "cosine"])
def test_identity_term_is_zero_for_identical_inputs_and_grows_with_the_feature_distance(distance, tmp_path):
    """A real recogniser (random weights, eval mode): the same image gives 0; moving the target
    further away along one direction gives a larger term, for every distance."""
    torch.manual_seed(0)
    config = load_config(id_params(tmp_path, recogniser={"model": {"arch": "small_cnn", "width": 8, "depth": 2,
                                                                   "dropout": 0.0, "base_size": 64}})).recogniser
    recogniser = Recogniser(config, torch.arange(PEOPLE), 32, torch.device("cpu"), None, torch.contiguous_format)
    term = identity_term(distance=distance, layers=["body", EMBEDDING, LOGITS])
    ctx = LossContext(torch.zeros(1), torch.zeros(1), None, recogniser=recogniser.features)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25
    direction = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)) - 0.5
    assert term(x, x, ctx).item() == pytest.approx(0.0, abs=1e-6)
    values = [term(x, x + scale * direction, ctx).item() for scale in (0.02, 0.1, 0.4)]
    assert 0 < values[0] < values[1] < values[2], values


def test_feature_distances_match_hand_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert feature_distance(a, b, "l1").item() == pytest.approx((1 + 1 + 0 + 1) / 4)
    assert feature_distance(a, b, "mse").item() == pytest.approx((1 + 1 + 0 + 1) / 4)
    assert feature_distance(a, b, "cosine").item() == pytest.approx(((1 - 0) + (1 - 1)) / 2)


@pytest.mark.parametrize("entry, message", [
    ({**IDENTITY, "layers": []}, r"srgan\.pretrain_losses\[0\]\.layers must name"),
    ({**IDENTITY, "distance": "l3"}, r"srgan\.pretrain_losses\[0\]\.distance"),
    ({"type": "identity", "weight": 1.0, "distance": "l1"}, r"srgan\.pretrain_losses\[0\]\.layers"),
])
def test_a_bad_identity_entry_is_one_config_error_line(entry, message):
    with pytest.raises(ConfigError, match=message):
        WeightedLoss([entry], "srgan.pretrain_losses", discriminator=False)


def test_mixed_crops_take_each_cell_from_sr_or_hr():
    sr, hr = torch.zeros(8, 3, 16, 16), torch.ones(8, 3, 16, 16)
    mixed = mixed_crops(sr, hr, grid=4, gen=torch.Generator().manual_seed(0))
    cells = mixed[:, 0].reshape(8, 4, 4, 4, 4)  # (n, cell row, 4 px, cell col, 4 px)
    assert ((cells == cells[:, :, :1, :, :1]).all())  # each 4x4 cell is one source
    assert 0 < mixed.mean() < 1 and set(mixed.unique().tolist()) == {0.0, 1.0}


# ----------------------------------------------------------------------------------------------
# The recogniser: frozen in the generator's step, trained on the training side only
# ----------------------------------------------------------------------------------------------
def test_gradients_reach_the_generator_and_not_the_frozen_recogniser(frames, tmp_path):
    params = id_params(tmp_path, pretrain_losses=[{**IDENTITY}], recogniser={"update": "frozen"})
    params["identity"]["pretrain_terms"] = []  # the identity term alone: its own gradient
    trainer = make_trainer(frames, params)
    before = recogniser_weights(trainer)
    lr_b, hr_b = trainer.batch(0)
    sr = trainer.generator(lr_b)
    loss, _ = trainer.pretrain_loss(sr.float(), hr_b, trainer.context(lr_b, sr, None))
    loss.backward()
    assert loss.item() > 0
    grads = [p.grad for p in trainer.generator.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in trainer.recogniser.model.parameters())
    # and a whole step (identity + mse + gan, frozen recogniser) leaves its weights exactly as they were
    for step in range(trainer.total_steps):
        trainer.step(step)
    assert_state_equal(recogniser_weights(trainer), before)


def test_alternating_updates_train_the_recogniser_between_generator_steps(frames, tmp_path):
    trainer = make_trainer(frames, id_params(tmp_path, recogniser={"update": "alternate", "update_every": 2}))
    before = recogniser_weights(trainer)
    losses = trainer.step(0)  # step 1 of every 2: no recogniser step
    assert "loss_recogniser" not in losses and "loss_identity" in losses
    assert_state_equal(recogniser_weights(trainer), before)
    losses = trainer.step(1)
    assert losses["loss_recogniser"] > 0
    after = recogniser_weights(trainer)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in trainer.recogniser.model.parameters())  # frozen again
    assert not trainer.recogniser.model.training


def test_the_recogniser_never_sees_a_validation_or_test_frame(tmp_path, monkeypatch):
    """Training targets have pixel values <= 100, validation frames >= 150: every image the recogniser
    learns from (pretraining crops; the HR crops of its alternating steps; their labels) is training side."""
    train = labelled_frames(12, seed=1, low=0, high=100)
    val = labelled_frames(3, seed=2, low=150, high=255)
    val["labels"] = val["labels"] + PEOPLE  # people of the validation side are told apart by their labels too
    seen: list[tuple[list[torch.Tensor], torch.Tensor]] = []
    real_update = Recogniser.update

    def spy(self, batches, labels):
        seen.append(([b.detach().clone() for b in batches], labels.clone()))
        return real_update(self, batches, labels)

    monkeypatch.setattr(Recogniser, "update", spy)
    params = id_params(tmp_path, recogniser={"update": "alternate", "update_every": 1})
    tracker = MemoryTracker()
    _, report = train_generator(variant_config(params, ID_SPEC), train["lr"], train["hr"], val["lr"], val["hr"], tracker,
                                name=ID_NAME, train_labels=train["labels"], val_labels=val["labels"])
    steps = params["recogniser"]["steps"]
    total = params["pretrain_steps"] + params["gan_steps"]
    assert len(seen) == steps + total
    for batches, labels in seen[:steps]:  # pretraining: HR crops of the training targets
        assert len(batches) == 1 and batches[0].max() <= 100 / 255 + 1e-6
        assert labels.max() < PEOPLE
    for batches, labels in seen[steps:]:  # alternating: SR, HR, mixed
        assert len(batches) == 3 and batches[1].max() <= 100 / 255 + 1e-6
        assert labels.max() < PEOPLE
    # validation only measures it
    assert {"srgan/srgan_id/recogniser/val_top1_hr", "srgan/srgan_id/val_recogniser_top1_sr",
            "srgan/srgan_id/val_recogniser_top1_bicubic"} <= set(tracker.history)
    assert report["recogniser"]["source"] == "train" and report["recogniser"]["pretrain"]["resumed_from"] == 0


def test_srgan_id_is_srgans_recipe_plus_the_identity_terms_in_its_own_checkpoints(tmp_path):
    params = id_params(tmp_path)
    config = variant_config(params, variant_specs(id_variants())["srgan"])
    id_config = variant_config(params, ID_SPEC)
    assert id_config.pretrain_losses == [*config.pretrain_losses, *config.identity.pretrain_terms]
    assert id_config.gan_losses == [*config.gan_losses, *config.identity.gan_terms]
    assert config.checkpoint_dir == f"{tmp_path}/srgan" and id_config.checkpoint_dir == f"{tmp_path}/srgan_id"
    assert (id_config.generator, id_config.pretrain_steps, id_config.pairs) == \
        (config.generator, config.pretrain_steps, config.pairs)


def test_srgans_checkpoint_ignores_srgan_id_and_recogniser_settings(frames, tmp_path):
    """Switching srgan_id on, or changing its recogniser, never restarts srgan's own training."""
    t, v = frames["train"], frames["val"]

    def fingerprint(params, declared):
        config = variant_config(params, variant_specs(declared)["srgan"])
        trainer = SRTrainer.from_arrays(config, t["lr"], t["hr"], v["lr"], v["hr"])
        assert trainer.recogniser is None
        return trainer.loop_config().fingerprint

    off = tiny_params(tmp_path)
    on = id_params(tmp_path, recogniser={"steps": 7, "update": "frozen"})
    assert fingerprint(off, base_params("variants")) == fingerprint(on, id_variants())


def test_a_rerun_resumes_the_recogniser_and_the_generator_to_the_same_weights(frames, tmp_path):
    params = id_params(tmp_path)
    first, _ = make_trainer(frames, copy.deepcopy(params)).train()
    again, report = make_trainer(frames, copy.deepcopy(params)).train()
    assert report["steps"]["resumed_from"] == report["steps"]["pretrain"] + report["steps"]["gan"]
    assert report["recogniser"]["pretrain"]["resumed_from"] == params["recogniser"]["steps"]
    assert_state_equal(first["state_dict"], again["state_dict"])
    assert (tmp_path / "srgan_id" / "recogniser" / "last.pt").is_file()


# ----------------------------------------------------------------------------------------------
# A recogniser file, and the term in srgan's own lists
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def classifier_file(tmp_path):
    """A classifier file as the classifier stage saves it (config, weights, input scaling)."""
    torch.manual_seed(3)
    model = build_model("backbone", {"arch": "small_cnn", "num_classes": PEOPLE, "input_size": 32, "width": 4,
                                     "depth": 2, "dropout": 0.0, "base_size": 64})
    path = tmp_path / "classifier_hr.pt"
    torch.save({"variant": "hr", "config": model.config(), "state_dict": model.state_dict(),
                "normalisation": {"mean": 0.5, "std": 0.25}, "class_names": ["a", "b", "c"]}, path)
    return path, model


def test_an_identity_term_in_srgans_own_list_reads_a_recogniser_file(frames, classifier_file, tmp_path):
    path, model = classifier_file
    params = tiny_params(tmp_path, gan_losses=[{"type": "mse", "weight": 1.0}, {"type": "gan", "weight": 1.0e-3},
                                               {**IDENTITY, "weight": 0.5}])
    params["recogniser"] = {**params["recogniser"], "source": "file", "file": str(path), "steps": 0,
                            "update": "frozen"}
    t, v = frames["train"], frames["val"]
    trainer = SRTrainer.from_arrays(load_config(params), t["lr"], t["hr"], v["lr"], v["hr"])  # no labels needed
    assert_state_equal(trainer.recogniser.model.state_dict(), model.state_dict())
    tracker = MemoryTracker()
    _, report = trainer.train(tracker)
    assert "srgan/srgan/loss_identity" in tracker.history and report["recogniser"]["source"] == "file"
    assert_state_equal(trainer.recogniser.model.state_dict(), model.state_dict())  # frozen throughout


def test_a_recogniser_trained_here_needs_labels_which_srgans_own_training_has_not(frames, tmp_path):
    params = tiny_params(tmp_path, pretrain_losses=[{"type": "mse", "weight": 1.0}, IDENTITY])
    t, v = frames["train"], frames["val"]
    with pytest.raises(ConfigError, match=r"srgan\.recogniser\.source=train needs .* srgan\.recogniser\.source=file"):
        SRTrainer.from_arrays(load_config(params), t["lr"], t["hr"], v["lr"], v["hr"])


@pytest.mark.parametrize("update, steps", [("alternate", 0), ("frozen", 2)])
def test_a_recogniser_file_in_srgans_own_list_cannot_be_trained_there(frames, classifier_file, tmp_path, update,
                                                                       steps):
    path, _ = classifier_file
    params = tiny_params(tmp_path, pretrain_losses=[{"type": "mse", "weight": 1.0}, IDENTITY])
    params["recogniser"] = {**params["recogniser"], "source": "file", "file": str(path), "steps": steps,
                            "update": update}
    t, v = frames["train"], frames["val"]
    with pytest.raises(ConfigError, match=r"srgan\.recogniser: .* set steps: 0 and update: frozen"):
        SRTrainer.from_arrays(load_config(params), t["lr"], t["hr"], v["lr"], v["hr"])


@pytest.mark.parametrize("recogniser, message", [
    ({"source": "file", "file": None}, r"srgan\.recogniser\.source=file needs srgan\.recogniser\.file"),
    ({"update": "sometimes"}, r"srgan\.recogniser\.update must be one of frozen \| alternate"),
    ({"steps": -1}, r"srgan\.recogniser\.steps must be >= 0"),
    ({"model": {"arch": "resnet", "width": 4, "depth": 2, "dropout": 0.0, "base_size": 64}}, r"srgan\.recogniser\.model\.arch"),
])
def test_recogniser_settings_are_checked_before_any_work(tmp_path, recogniser, message):
    with pytest.raises(ConfigError, match=message):
        load_config(id_params(tmp_path, recogniser=recogniser))


def test_a_missing_or_foreign_recogniser_file_is_one_line_naming_the_parameter(frames, tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    for path in (tmp_path / "missing.pt", foreign):
        params = id_params(tmp_path, recogniser={"source": "file", "file": str(path)})
        with pytest.raises(ConfigError, match=r"srgan\.recogniser\.file"):
            make_trainer(frames, params)


def test_an_unknown_layer_names_the_term_and_lists_the_recognisers_layers(frames, tmp_path):
    params = id_params(tmp_path)
    params["identity"]["gan_terms"] = [{**IDENTITY, "layers": ["body.99"]}]
    with pytest.raises(ConfigError, match=r"srgan\.gan_losses\[2\]\.layers: the recogniser has no layer 'body\.99'"):
        make_trainer(frames, params)


# ----------------------------------------------------------------------------------------------
# The node
# ----------------------------------------------------------------------------------------------
def node_inputs(frames):
    import pandas as pd

    t, v = frames["train"], frames["val"]
    return {"lr_train": t["lr"], "hr_train": t["hr"], "lr_val": v["lr"], "hr_val": v["hr"],
            "train_index": pd.DataFrame({"label": t["labels"]}), "val_index": pd.DataFrame({"label": v["labels"]})}


def train_srgan_id(inputs, params, declared=None):
    """srgan_id's node (srgan.srgan_id.train), as the pipeline calls it."""
    return train_generator_variant(**inputs, srgan=params, variants=declared or id_variants(), variant=ID_NAME)


def test_srgan_id_off_has_no_node_and_on_trains_with_the_peoples_labels():
    """conf/base: srgan_id is off, so nothing is computed for it; variants.srgan_id.enabled=true adds its path."""
    predict = base_params("predict")
    off = build_pipelines({"variants": base_params("variants"), "predict": predict})["full"]
    assert not [n.name for n in off.nodes if ".srgan_id." in n.name]
    assert not {"sr_generator_srgan_id", "sr_report_srgan_id", "srgan_id_train"} & off.all_outputs()
    on = build_pipelines({"variants": id_variants(), "predict": predict})["full"]
    by_name = {n.name: n for n in on.nodes}
    assert {"srgan.srgan_id.train", "srgan.srgan_id.plot_samples",
            "classifier.srgan_id.train", "evaluation.srgan_id.evaluate"} <= set(by_name)
    assert {"train_index", "val_index"} <= set(by_name["srgan.srgan_id.train"].inputs)
    assert by_name["srgan.srgan_id.train"].outputs == ["sr_generator_srgan_id", "sr_report_srgan_id"]


def test_a_skipped_identity_variant_is_a_skip_marker_with_its_reason(frames, tmp_path):
    """srgan_id on a source whose frames cannot make pairs is a skip marker with the reason; nothing trains."""
    inputs = node_inputs(frames)
    empty = np.zeros((0, 0, 0, 3), dtype=np.uint8)
    inputs.update(lr_train=np.ascontiguousarray(inputs["lr_train"][:, ::4, ::4]), hr_train=empty, hr_val=empty)
    generator, report = train_srgan_id(inputs, id_params(tmp_path))
    assert generator == {"skipped": report["skipped"]}
    assert report == {"variant": "srgan_id", "skipped": "the 2 px frames are smaller than srgan.scale=4: no self pairs"}
    assert not (tmp_path / "srgan_id").exists()


def test_train_srgan_id_trains_and_reports_psnr_ssim_and_its_recogniser(frames, tmp_path):
    generator, report = train_srgan_id(node_inputs(frames), id_params(tmp_path))
    assert set(generator) == {"config", "state_dict"}
    assert {"val_psnr", "val_ssim", "val_psnr_bicubic", "val_recogniser_top1_sr"} <= set(report["val"])
    assert report["recogniser"]["config"]["num_classes"] == PEOPLE
    assert (tmp_path / "srgan_id" / "last.pt").is_file()
    assert (tmp_path / "srgan_id" / "recogniser" / "last.pt").is_file()


def test_train_srgan_id_checks_its_parameters_before_any_work_and_the_run_checks_them_even_when_off(frames,
                                                                                                    tmp_path):
    params = tiny_params(tmp_path / "ckpt")
    params["recogniser"] = {**params["recogniser"], "update": "never"}
    with pytest.raises(ConfigError, match=r"srgan\.recogniser\.update"):
        train_srgan_id(node_inputs(frames), params)
    assert not (tmp_path / "ckpt").exists()
    # srgan_id off (conf/base): the run's up-front check still reads srgan's block, recogniser included
    with pytest.raises(ConfigError, match=r"srgan\.recogniser\.update"):
        validate_parameters({"srgan": params, "variants": base_params("variants")}, {"srgan", "variants"})


def test_an_identity_variant_without_identity_terms_is_refused_naming_the_variant(tmp_path):
    params = tiny_params(tmp_path)
    params["identity"] = {**params["identity"], "pretrain_terms": [], "gan_terms": []}
    with pytest.raises(ConfigError, match=r"^variants\.srgan_id\.identity: srgan\.identity lists no term"):
        variant_config(params, ID_SPEC)


def test_without_truth_srgan_id_learns_the_frames_identity_on_self_pairs(frames, tmp_path):
    """A source without truth (OrCam's): self pairs, the recogniser trained on the frames themselves."""
    t, v = frames["train"], frames["val"]
    empty = np.zeros((0, 0, 0, 3), dtype=np.uint8)
    tracker = MemoryTracker()
    _, report = train_generator(variant_config(id_params(tmp_path), ID_SPEC), t["hr"], empty, v["hr"], empty, tracker,
                                name=ID_NAME, train_labels=t["labels"], val_labels=v["labels"])
    assert report["pairs"] == "self" and report["hr_size"] == list(t["hr"].shape[1:3])
    assert report["recogniser"]["config"]["input_size"] == t["hr"].shape[1]
    assert "srgan/srgan_id/loss_identity" in tracker.history


def test_the_seed_environment_trains_srgan_id_with_a_bigger_recogniser():
    import yaml

    from ..conftest import PROJECT_ROOT

    def merged(base: dict, override: dict) -> dict:  # conf/seed overrides conf/base key by key (settings.py)
        return {k: merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                for k, v in {**base, **override}.items()}

    seed = yaml.safe_load((PROJECT_ROOT / "conf" / "seed" / "parameters.yml").read_text())
    assert variant_specs(merged(base_params("variants"), seed["variants"]))["srgan_id"].enabled
    assert not variant_specs(base_params("variants"))["srgan_id"].enabled
    config = load_config(merged(base_params("srgan"), seed["srgan"]))
    assert config.recogniser.model.width == 64
    assert config.recogniser.steps > base_params("srgan")["recogniser"]["steps"]
