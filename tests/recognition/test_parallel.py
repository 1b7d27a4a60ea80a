"""ClassifierTrainer data-parallel on 2 gloo processes (dropout 0): every step's loss, the validation
history, the kept epoch and weights equal one process's with the same global batch and seed."""
from __future__ import annotations

import copy

import pytest
import torch

from faceless.recognition.config import ClassifierConfig
from faceless.recognition.trainer import ClassifierTrainer
from faceless.utils.config import from_params

from ..gloo import run_ranks
from .toy import tiny_params, toy_sides

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Measured deviation of 2 processes from 1 here: ~1e-7 (float rounding of split reductions). Longer
#: runs amplify rounding: AdamW steps a gradient component that is rounding noise (true value ~0) by
#: up to lr either way; measured on this toy over 4 epochs, one process on 1 vs 2 threads differs by
#: up to 3e-5 in a weight, and 2 processes from 1 by as much.
LOSS_RTOL, WEIGHT_ATOL = 1e-4, 1e-5


def run(params: dict, toy: dict) -> dict:
    cfg = from_params(ClassifierConfig, copy.deepcopy(params), "classifier")
    trainer = ClassifierTrainer(cfg, "lr", toy["train_x"], toy["train_index"], toy["val_x"], toy["val_index"],
                                seed=cfg.seeds[0])
    steps: list[dict[str, float]] = []
    step = trainer.step

    def recorded(index: int) -> dict[str, float]:
        losses = step(index)
        steps.append({"step": index, **losses})
        return losses

    trainer.step = recorded
    saved, report = trainer.train()
    return {"steps": steps, "saved": saved["state_dict"], "report": report}


def test_two_processes_train_the_classifier_one_does(tmp_path):
    toy = toy_sides()
    # 24 frames in batches of 23: chunks of 12 + 11, then 1 + 0 (an empty chunk still steps with the
    # others); JPEG re-encoding and augmentation drawn for the global batch; best_val: the kept epoch
    # follows the validation numbers, which must agree on every rank.
    params = tiny_params(None, epochs=2, batch_size=23, model__dropout=0.0, selection="best_val",
                         jpeg_augment__probability=0.5)
    single = run(params, toy)
    first, second = run_ranks(run, 2, params, toy)
    assert [s["step"] for s in first["steps"]] == list(range(4))
    deviation = 0.0
    for got, want in zip(first["steps"], single["steps"], strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=LOSS_RTOL), got["step"]
        deviation = max(deviation, abs(got["loss"] - want["loss"]) / want["loss"])
    assert first["steps"] == second["steps"]
    assert first["report"]["best_epoch"] == second["report"]["best_epoch"] == single["report"]["best_epoch"]
    assert first["report"]["history"] == second["report"]["history"]
    for got, want in zip(first["report"]["history"], single["report"]["history"], strict=True):
        assert got == pytest.approx(want, rel=LOSS_RTOL, abs=1e-6)
    for key, value in single["saved"].items():
        got, value = first["saved"][key].double(), value.double()
        assert torch.equal(first["saved"][key], second["saved"][key]), key
        torch.testing.assert_close(got, value, rtol=0, atol=WEIGHT_ATOL)
        deviation = max(deviation, float((got - value).abs().max()))
    assert first["report"]["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": [12, 11]}
    print(f"largest deviation 2 processes vs 1: {deviation:.2e}")
