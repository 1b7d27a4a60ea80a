"""SRTrainer: the generator file, the report, checkpoints and resume, init_weights, the discriminator
frozen during the generator step, loss lists from conf, and that training beats bicubic."""
from __future__ import annotations

import io
import logging
import math
import shutil
import numpy as np
import pytest
import torch

from faceless.data.datasets import TorchWeightsDataset
from faceless.inference import load_generator
from faceless.models.generator import SRResNet
from faceless.sr import trainer as trainer_module
from faceless.sr.config import load_config
from faceless.sr.losses import LOSS_TERMS, LossTerm, register
from faceless.sr.trainer import SRTrainer
from faceless.training.tracker import MemoryTracker
from faceless.utils.errors import ConfigError

from ..conftest import assert_state_equal, logger_messages
from .helpers import EMPTY_HR, HR_SIZE, LR_SIZE, smooth_frames, tiny_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_trainer(data, params) -> SRTrainer:
    return SRTrainer.from_arrays(load_config(params), data["lr_train"], data["hr_train"], data["lr_val"],
                                 data["hr_val"])


def train(data, params, tracker=None):
    return make_trainer(data, params).train(tracker)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One tiny training run with truth pairs, shared by the tests that only read its results."""
    ckpt = tmp_path_factory.mktemp("srgan_ckpt")
    params = tiny_params(ckpt)
    tracker = MemoryTracker()
    sr_generator, report = train(data, params, tracker)
    return {"params": params, "ckpt": ckpt, "sr_generator": sr_generator, "report": report, "tracker": tracker}


# ----------------------------------------------------------------------------------------------
# The run: export, report, metrics
# ----------------------------------------------------------------------------------------------
def test_train_exports_a_rebuildable_generator(trained, data):
    sr_generator = trained["sr_generator"]
    assert set(sr_generator) == {"config", "state_dict"}
    assert sr_generator["config"]["arch"] == "srresnet"
    assert sr_generator["config"]["blocks"] == 1 and sr_generator["config"]["channels"] == 8
    model = load_generator(sr_generator)
    assert isinstance(model, SRResNet) and not model.training
    lr = torch.from_numpy(data["lr_val"]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        out = model(lr)
    assert out.shape == (3, 3, HR_SIZE, HR_SIZE)
    assert torch.isfinite(out).all()
    for v in sr_generator["state_dict"].values():
        # plain tensors (not Parameters) on the CPU: what weights_only loading accepts anywhere
        assert v.device.type == "cpu" and type(v) is torch.Tensor


def test_export_is_the_ema_not_the_raw_generator(trained, data, tmp_path):
    trainer = make_trainer(data, tiny_params(tmp_path, pretrain_steps=3, gan_steps=0, checkpoint_every=0))
    trainer.train()
    exported = trainer.export()["state_dict"]
    assert_state_equal(exported, {k: v.detach() for k, v in trainer.ema.module.state_dict().items()})
    raw = trainer.generator.state_dict()
    assert any(not torch.equal(exported[k], raw[k]) for k in raw if raw[k].is_floating_point())


def test_train_report(trained):
    report = trained["report"]
    assert report["pairs"] == "truth"
    assert report["device"] == "cpu" and report["precision"] == "fp32"
    assert report["train_pairs"] == 12 and report["val_pairs"] == 3
    assert report["lr_size"] == [LR_SIZE, LR_SIZE] and report["hr_size"] == [HR_SIZE, HR_SIZE]
    assert report["steps"] == {"pretrain": 6, "gan": 4, "run_now": 10, "resumed_from": 0}
    for key in ("val_psnr", "val_ssim", "val_psnr_bicubic", "val_ssim_bicubic", "val_psnr_gain"):
        assert math.isfinite(report["val"][key]), key
    assert 0 < report["val"]["val_ssim"] <= 1
    assert report["val"]["val_psnr_gain"] == pytest.approx(
        report["val"]["val_psnr"] - report["val"]["val_psnr_bicubic"], abs=2e-4)
    assert [h["step"] for h in report["history"]] == [5, 10]
    assert "checkpoint_dir" not in report["params"]
    assert report["params"]["gan_losses"] == [{"type": "mse", "weight": 1.0}, {"type": "gan", "weight": 1.0e-3}]
    assert report["generator"] == trained["sr_generator"]["config"]
    assert report["train_images_per_s"] > 0


def test_every_loss_term_and_eval_number_reaches_the_tracker(trained):
    history = trained["tracker"].history
    # logged every 10 steps and at the end: step 10 is the last step, in stage 2
    assert [step for step, _ in history["srgan/srgan/loss_mse"]] == [10]
    for name in ("srgan/srgan/loss_gan", "srgan/srgan/loss_d"):
        assert [step for step, _ in history[name]] == [10], name
    assert [step for step, _ in history["srgan/srgan/val_psnr"]] == [5, 10]
    assert history["srgan/srgan/val_psnr"][-1][1] == trained["report"]["history"][-1]["val_psnr"]


def test_stage_one_reports_its_own_terms(data, tmp_path):
    params = tiny_params(tmp_path, pretrain_steps=10, gan_steps=0, checkpoint_every=0,
                         pretrain_losses=[{"type": "l1", "weight": 1.0}])
    tracker = MemoryTracker()
    train(data, params, tracker)
    losses = {name for name in tracker.history if name.startswith("srgan/srgan/loss_")}
    assert losses == {"srgan/srgan/loss_l1"}


# ----------------------------------------------------------------------------------------------
# Checkpoints and resume
# ----------------------------------------------------------------------------------------------
def test_rerun_resumes_at_the_final_step_with_identical_weights(trained, data):
    sr_generator, report = train(data, trained["params"])
    assert report["steps"]["resumed_from"] == 10
    assert report["steps"]["run_now"] == 0
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])
    assert report["val"] == trained["report"]["val"]


def test_resumed_after_a_crash_equals_an_uninterrupted_run(trained, data, tmp_path, monkeypatch):
    params = tiny_params(tmp_path)
    real_random_crops = trainer_module.random_crops
    calls = {"n": 0}

    def crash_at_step_7(*args, **kwargs):
        if calls["n"] == 7:
            raise RuntimeError("killed")
        calls["n"] += 1
        return real_random_crops(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "random_crops", crash_at_step_7)
    with pytest.raises(RuntimeError, match="killed"):
        train(data, params)
    monkeypatch.setattr(trainer_module, "random_crops", real_random_crops)

    sr_generator, report = train(data, params)
    assert report["steps"]["resumed_from"] == 5
    assert report["steps"]["run_now"] == 5
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])


def test_state_dict_round_trip_continues_identically(data, tmp_path):
    """A trainer loaded from another's saved state_dict (mid stage 2) takes the very same next step."""
    params = tiny_params(tmp_path, checkpoint_every=0)
    first, second = make_trainer(data, params), make_trainer(data, params)
    for step in range(7):
        first.step(step)
    # through a file, as a checkpoint goes: Adam's loaded state would otherwise share tensors with
    # the first trainer's (its step counts), and the first trainer's next step would move both
    saved = io.BytesIO()
    torch.save(first.state_dict(), saved)
    saved.seek(0)
    second.load_state_dict(torch.load(saved, weights_only=True))
    assert first.step(7) == second.step(7)
    assert_state_equal(first.export()["state_dict"], second.export()["state_dict"])
    assert_state_equal(first.discriminator.state_dict(), second.discriminator.state_dict())


def test_other_gan_steps_start_from_scratch(trained, data, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    _, report = train(data, tiny_params(ckpt, gan_steps=2))
    assert report["steps"] == {"pretrain": 6, "gan": 2, "run_now": 8, "resumed_from": 0}


def test_other_losses_start_from_scratch(trained, data, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    params = tiny_params(ckpt, gan_losses=[{"type": "mse", "weight": 1.0}, {"type": "gan", "weight": 2.0e-3}])
    _, report = train(data, params)
    assert report["steps"]["resumed_from"] == 0


def test_resume_false_starts_from_scratch(trained, data, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], ckpt)
    _, report = train(data, tiny_params(ckpt, pretrain_steps=2, gan_steps=0, resume=False))
    assert report["steps"]["resumed_from"] == 0 and report["steps"]["run_now"] == 2


# ----------------------------------------------------------------------------------------------
# Pairs and validation
# ----------------------------------------------------------------------------------------------
def test_self_pairs_without_truth(data, tmp_path):
    frames = {"lr_train": data["hr_train"], "hr_train": EMPTY_HR, "lr_val": data["hr_val"], "hr_val": EMPTY_HR}
    params = tiny_params(tmp_path, pairs="self", pretrain_steps=3, gan_steps=2, eval_every=0)
    sr_generator, report = train(frames, params)
    assert report["pairs"] == "self"
    assert report["lr_size"] == [HR_SIZE // 4, HR_SIZE // 4] and report["hr_size"] == [HR_SIZE, HR_SIZE]
    assert report["steps"]["run_now"] == 5
    assert math.isfinite(report["val"]["val_psnr"])
    model = load_generator(sr_generator)
    with torch.no_grad():
        out = model(torch.rand(1, 3, HR_SIZE, HR_SIZE))
    assert out.shape == (1, 3, HR_SIZE * 4, HR_SIZE * 4)


def test_auto_pairs_with_empty_truth_self_supervise(data, tmp_path):
    frames = {"lr_train": data["hr_train"], "hr_train": EMPTY_HR, "lr_val": data["hr_val"], "hr_val": EMPTY_HR}
    _, report = train(frames, tiny_params(tmp_path, pretrain_steps=2, gan_steps=0, eval_every=0))
    assert report["pairs"] == "self"


def test_without_validation_frames_evaluates_on_training_pairs(data, tmp_path, logger_records):
    caplog = logger_records("faceless.sr.trainer", logging.WARNING)
    frames = {**data, "lr_val": np.zeros((0, LR_SIZE, LR_SIZE, 3), dtype=np.uint8), "hr_val": EMPTY_HR}
    _, report = train(frames, tiny_params(tmp_path, pretrain_steps=2, gan_steps=0, eval_every=0))
    assert report["val_pairs"] == 12
    assert any("no validation frames" in m for m in logger_messages(caplog, "faceless.sr.trainer"))
    assert math.isfinite(report["val"]["val_psnr"])


def test_val_frames_limits_the_validation_pairs(data, tmp_path):
    trainer = make_trainer(data, tiny_params(tmp_path, val_frames=2))
    assert len(trainer.data.lr_val) == 2 and len(trainer.data.hr_val) == 2


# ----------------------------------------------------------------------------------------------
# init_weights
# ----------------------------------------------------------------------------------------------
def test_init_weights_missing_file_names_the_parameter(data, tmp_path):
    params = tiny_params(tmp_path / "ckpt", init_weights=str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match=r"srgan\.init_weights"):
        train(data, params)


def test_init_weights_accepts_a_saved_generator_file(trained, data, tmp_path):
    path = tmp_path / "sr_generator.pt"
    TorchWeightsDataset(str(path)).save(trained["sr_generator"])
    # zero steps: the exported (EMA) generator is exactly the initial one
    params = tiny_params(tmp_path / "ckpt", init_weights=str(path), pretrain_steps=0, gan_steps=0)
    sr_generator, report = train(data, params)
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])
    assert report["val"]["val_psnr"] == pytest.approx(trained["report"]["val"]["val_psnr"], abs=1e-4)


def test_init_weights_accepts_a_bare_state_dict(trained, data, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(trained["sr_generator"]["state_dict"], path)
    params = tiny_params(tmp_path / "ckpt", init_weights=str(path), pretrain_steps=0, gan_steps=0)
    sr_generator, _ = train(data, params)
    assert_state_equal(sr_generator["state_dict"], trained["sr_generator"]["state_dict"])


# ----------------------------------------------------------------------------------------------
# The adversarial step: discriminator frozen while the generator learns
# ----------------------------------------------------------------------------------------------
def test_the_generator_step_leaves_the_discriminator_untouched(data, tmp_path):
    trainer = make_trainer(data, tiny_params(tmp_path, pretrain_steps=0, checkpoint_every=0))
    disc_params = list(trainer.discriminator.parameters())
    backward_passes = {id(p): 0 for p in disc_params}
    for p in disc_params:
        p.register_hook(lambda grad, key=id(p): backward_passes.__setitem__(key, backward_passes[key] + 1))
    after_d_step = {}
    real_d_step = trainer.opt_d.step

    def d_step_then_snapshot(*args, **kwargs):
        result = real_d_step(*args, **kwargs)
        after_d_step["weights"] = [p.detach().clone() for p in disc_params]
        after_d_step["grads"] = [p.grad.clone() for p in disc_params]
        return result

    trainer.opt_d.step = d_step_then_snapshot
    g_before = [p.detach().clone() for p in trainer.generator.parameters()]
    losses = trainer.step(0)

    assert set(losses) == {"loss_mse", "loss_gan", "loss_d"}
    # one gradient per discriminator weight: the discriminator's own step; none from the generator's
    assert set(backward_passes.values()) == {1}
    for p, weight, grad in zip(disc_params, after_d_step["weights"], after_d_step["grads"]):
        assert torch.equal(p.detach(), weight) and torch.equal(p.grad, grad)
        assert p.requires_grad  # unfrozen again for the next discriminator step
    # ...while the generator did learn from the adversarial term
    assert any(not torch.equal(a, b.detach()) for a, b in zip(g_before, trainer.generator.parameters()))


def test_a_loss_term_sees_the_discriminator_frozen(data, tmp_path):
    """What a term sees: a discriminator whose weights take no gradient."""
    seen = []

    @register("records_frozen_discriminator")
    class RecordsFrozen(LossTerm):
        uses_discriminator = True

        def forward(self, sr, hr, ctx):
            seen.append(all(not p.requires_grad for p in trainer.discriminator.parameters()))
            return ctx.sr_logits.mean() * 0

    try:
        params = tiny_params(tmp_path, pretrain_steps=0, gan_steps=1, checkpoint_every=0,
                             gan_losses=[{"type": "mse", "weight": 1.0},
                                         {"type": "records_frozen_discriminator", "weight": 1.0}])
        trainer = make_trainer(data, params)
        trainer.step(0)
    finally:
        del LOSS_TERMS["records_frozen_discriminator"]
    assert seen == [True]
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------
def test_a_custom_loss_from_conf_contributes_weight_times_its_value(data, tmp_path):
    """A term registered outside the trainer is used from a YAML list: its value, weighted, is in the
    generator's loss (a constant term adds nothing to the gradient, so the weights stay identical)."""

    @register("constant_offset")
    class ConstantOffset(LossTerm):
        def forward(self, sr, hr, ctx):
            return sr.sum() * 0 + 2.0

    try:
        base = tiny_params(tmp_path, pretrain_steps=1, gan_steps=0, checkpoint_every=0)
        with_offset = {**base, "pretrain_losses": [{"type": "mse", "weight": 1.0},
                                                   {"type": "constant_offset", "weight": 0.25}]}
        plain, offset = make_trainer(data, base), make_trainer(data, with_offset)
        totals = {}
        for name, trainer in (("plain", plain), ("offset", offset)):
            loss_fn = trainer.pretrain_loss
            trainer.pretrain_loss = lambda *a, fn=loss_fn, key=name: totals.setdefault(key, fn(*a))
        assert offset.step(0) == {"loss_mse": plain.step(0)["loss_mse"], "loss_constant_offset": 2.0}
    finally:
        del LOSS_TERMS["constant_offset"]
    assert totals["offset"][0].item() == pytest.approx(totals["plain"][0].item() + 0.25 * 2.0)
    assert_state_equal(offset.export()["state_dict"], plain.export()["state_dict"])


@pytest.mark.parametrize(("override", "message"), [
    ({"generator": {"arch": "edsr", "blocks": 1, "channels": 8, "bicubic_skip": True, "head_kernel": 3,
                    "tail_kernel": 3, "upsample": "single"}}, r"srgan\.generator\.arch"),
    ({"discriminator": {"arch": "patchgan", "channels": 8, "pooled_size": 6}}, r"srgan\.discriminator\.arch"),
    ({"gan_losses": [{"type": "mse", "weight": 1.0}, {"type": "perceptual", "weight": 1.0}]},
     r"srgan\.gan_losses\[1\]\.type"),
    ({"pretrain_losses": [{"type": "gan", "weight": 1.0}]}, r"srgan\.pretrain_losses\[0\]"),
    ({"adam_betas": [0.9]}, r"srgan\.adam_betas"),
    ({"adversarial_weight": 1.0e-3}, r"unknown parameter srgan\.adversarial_weight"),
])
def test_config_errors_are_one_line_naming_the_parameter(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(tiny_params(tmp_path, **override))
    assert "\n" not in str(info.value)


def test_a_missing_key_is_a_config_error(tmp_path):
    params = tiny_params(tmp_path)
    del params["gan_losses"]
    with pytest.raises(ConfigError, match=r"missing parameter srgan\.gan_losses"):
        load_config(params)


def test_learning_rate_schedule(data, tmp_path):
    trainer = make_trainer(data, tiny_params(tmp_path, pretrain_steps=4, gan_steps=4))
    cfg = trainer.config
    assert [trainer.learning_rate(s) for s in range(8)] == (
        [cfg.lr_pretrain] * 4 + [cfg.lr_gan] * 2 + [cfg.lr_gan * cfg.lr_gan_decay] * 2)


@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_the_cosine_schedule_decays_stage_1_to_its_floor_and_leaves_stage_2(data, tmp_path, floor):
    trainer = make_trainer(data, tiny_params(tmp_path, pretrain_steps=5, gan_steps=4,
                                             lr_pretrain_schedule="cosine", lr_pretrain_floor=floor))
    cfg = trainer.config
    stage_1 = [trainer.learning_rate(s) for s in range(5)]
    assert stage_1[0] == cfg.lr_pretrain and stage_1[-1] == pytest.approx(cfg.lr_pretrain * floor, abs=1e-12)
    assert stage_1[2] == pytest.approx(cfg.lr_pretrain * (floor + (1 - floor) / 2))  # half way: half the drop
    assert all(a > b for a, b in zip(stage_1, stage_1[1:]))
    assert [trainer.learning_rate(s) for s in range(5, 9)] == [cfg.lr_gan] * 2 + [cfg.lr_gan * cfg.lr_gan_decay] * 2


def test_an_unknown_schedule_is_one_config_error(tmp_path):
    params = tiny_params(tmp_path, lr_pretrain_schedule="linear")
    with pytest.raises(ConfigError, match=r"srgan\.lr_pretrain_schedule"):
        load_config(params)


# ----------------------------------------------------------------------------------------------
# It learns
# ----------------------------------------------------------------------------------------------
def test_training_improves_psnr_over_bicubic_on_a_small_fixed_problem(tmp_path):
    """A tiny generator, 150 pixel-loss + 20 adversarial steps on smooth synthetic frames with detail
    bicubic cannot restore (8x8 random values upsampled to 32 px; LR by area downscale)."""
    lr_train, hr_train = smooth_frames(32, seed=1, detail=8)
    lr_val, hr_val = smooth_frames(8, seed=2, detail=8)
    frames = {"lr_train": lr_train, "hr_train": hr_train, "lr_val": lr_val, "hr_val": hr_val}
    params = tiny_params(tmp_path, pretrain_steps=150, gan_steps=20, batch_size=8, lr_pretrain=2.0e-3,
                         ema_decay=0.9, eval_every=0, checkpoint_every=0)
    _, report = train(frames, params)
    assert report["val"]["val_psnr_gain"] > 3.0, report["val"]  # about +9 dB here
    assert report["val"]["val_ssim"] > report["val"]["val_ssim_bicubic"]


# ----------------------------------------------------------------------------------------------
# Small and odd frames: mod-cropped self pairs, the crop and the metrics adapt, nothing raises
# ----------------------------------------------------------------------------------------------
def test_8px_frames_train_on_2px_self_pairs_with_an_adapted_crop_and_metrics(data, tmp_path, logger_records):
    caplog = logger_records("faceless.sr.trainer")
    frames = {"lr_train": data["lr_train"], "hr_train": EMPTY_HR, "lr_val": data["lr_val"], "hr_val": EMPTY_HR}
    _, report = train(frames, tiny_params(tmp_path, crop=24, eval_border=4, pretrain_steps=2, gan_steps=2,
                                          eval_every=0))
    assert report["pairs"] == "self" and report["lr_size"] == [2, 2] and report["hr_size"] == [8, 8]
    assert report["crop"] == {"asked": 24, "used": 2}
    assert report["measure"]["border"] == 0 and report["measure"]["ssim_window"] == 7
    assert math.isfinite(report["val"]["val_psnr"]) and math.isfinite(report["val"]["val_ssim"])
    messages = logger_messages(caplog, "faceless.sr.trainer")
    assert any("training crops of 2 LR px" in m for m in messages)
    assert any("SSIM window 7 px" in m for m in messages)


def test_odd_frames_are_mod_cropped_into_self_pairs(tmp_path):
    rng = np.random.default_rng(0)
    frames = {"lr_train": rng.integers(0, 256, (6, 25, 25, 3), dtype=np.uint8), "hr_train": EMPTY_HR,
              "lr_val": rng.integers(0, 256, (2, 25, 25, 3), dtype=np.uint8), "hr_val": EMPTY_HR}
    _, report = train(frames, tiny_params(tmp_path, crop=24, pretrain_steps=2, gan_steps=0, eval_every=0))
    assert report["lr_size"] == [6, 6] and report["hr_size"] == [24, 24]
    assert report["crop"]["used"] == 6 and report["measure"]["note"] is None  # 24 px: border 4, 11 px window
    assert math.isfinite(report["val"]["val_ssim"])


def test_srgan_self_on_8px_frames_with_truth_measures_both(data, tmp_path):
    from faceless.sr.trainer import train_generator

    config = load_config(tiny_params(tmp_path, pairs="self", pretrain_steps=2, gan_steps=0, eval_every=0))
    _, report = train_generator(config, data["lr_train"], data["hr_train"], data["lr_val"], data["hr_val"],
                                name="srgan_self")
    assert report["pairs"] == "self"  # the truth given is not trained on
    assert report["hr_size"] == [LR_SIZE, LR_SIZE] and report["measure"]["ssim_window"] == 7
    assert report["measure_truth"] == {"border": 4, "ssim_window": 11, "ssim_sigma": 1.5, "note": None}
    assert math.isfinite(report["val_truth"]["val_ssim"])


def test_other_peoples_pairs_train_on_their_truth_and_validate_on_the_validation_sides(data, tmp_path):
    """pairs: other: truth pairs of other people's frames; validation on the validation side's truth where
    it has one, else on its self pairs; the report says what it learnt from."""
    from faceless.sr.trainer import train_generator

    config = load_config(tiny_params(tmp_path, pairs="truth", pretrain_steps=2, gan_steps=0, eval_every=0))
    lr_other, hr_other = smooth_frames(6, seed=7)
    _, report = train_generator(config, lr_other, hr_other, data["lr_val"], data["hr_val"], name="srgan_other",
                                other_people=True)
    assert report["trained_on"] == "other people's high-resolution frames"
    assert report["pairs"] == "truth" and report["train_pairs"] == 6 and report["val_pairs"] == len(data["lr_val"])
    assert report["hr_size"] == [HR_SIZE, HR_SIZE]
    _, without_truth = train_generator(config, lr_other, hr_other, data["lr_val"], EMPTY_HR, name="srgan_other",
                                       other_people=True)
    assert without_truth["pairs"] == "truth" and without_truth["val_pairs"] == len(data["lr_val"])
    assert without_truth["measure"]["ssim_window"] == 7  # self pairs of the 8 px validation frames: 2 -> 8 px
    assert math.isfinite(without_truth["val"]["val_psnr"])
