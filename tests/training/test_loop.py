"""The shared training loop: exact resume, fingerprints, atomic checkpoints, eval cadence, tracking."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from faceless.training import loop as loop_module
from faceless.training.tracker import MemoryTracker
from faceless.training.loop import (
    CHECKPOINT_NAME, PREVIOUS_NAME,
    Checkpointer,
    LoopConfig,
    fingerprint_of,
    run_loop,
    step_generator,
)

LOGGER = "faceless.training.loop"
SEED = 7


def loop_config(**values) -> LoopConfig:
    """A loop config logging every 10 steps (what the stages' configs say unless they differ)."""
    return LoopConfig(**{"log_every": 10, **values})


@pytest.fixture
def loop_log(logger_records):
    """Records of the loop's logger, whatever propagation another test's logging config left."""
    return logger_records(LOGGER)


class Trainer:
    """A 2-layer MLP + Adam whose every step draws its batch from ``step_generator(SEED, step)``."""

    def __init__(self, init_seed: int = 0):
        torch.manual_seed(init_seed)
        self.model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        self.steps_seen: list[int] = []
        self.evals: list[int] = []

    def step_fn(self, step: int) -> dict[str, float]:
        self.steps_seen.append(step)
        gen = step_generator(SEED, step)
        x = torch.randn(16, 4, generator=gen)
        y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(16, 1, generator=gen)
        loss = nn.functional.mse_loss(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    def get_state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def set_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def eval_fn(self, step: int) -> dict[str, float]:
        self.evals.append(step)
        return {"metric": float(step) / 10}

    def run(self, cfg: LoopConfig, with_eval: bool = False, tracker=None) -> dict:
        return run_loop(cfg, self.step_fn, self.get_state, self.set_state,
                        self.eval_fn if with_eval else None, tracker=tracker)


def assert_same(a, b) -> None:
    """Recursive exact equality of nested dicts / lists / tensors / scalars."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


# ----------------------------------------------------------------------------------------------
# Resume
# ----------------------------------------------------------------------------------------------
def test_checkpoint_then_resume_equals_an_uninterrupted_run(tmp_path, loop_log):
    straight = Trainer()
    hist_a = straight.run(loop_config(steps=8, eval_every=0, checkpoint_every=0, checkpoint_dir=None, resume=True))
    assert hist_a["resumed_from"] == 0 and hist_a["steps_run"] == 8

    first = Trainer()
    first.run(loop_config(steps=4, checkpoint_every=2, checkpoint_dir=str(tmp_path), eval_every=0, resume=True))
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    loop_log.clear()

    second = Trainer(init_seed=123)  # a new model and optimiser, different init: the checkpoint wins
    hist_b = second.run(loop_config(steps=8, checkpoint_every=2, checkpoint_dir=str(tmp_path), resume=True,
                                   eval_every=0))

    assert hist_b["resumed_from"] == 4
    assert hist_b["steps_run"] == 4
    assert second.steps_seen == [4, 5, 6, 7]
    assert any("resuming from checkpoint" in m for m in messages(loop_log))
    assert_same(straight.model.state_dict(), second.model.state_dict())
    assert_same(straight.opt.state_dict(), second.opt.state_dict())


def test_a_different_fingerprint_starts_fresh_and_says_so(tmp_path, loop_log):
    Trainer().run(loop_config(steps=4, checkpoint_every=2, checkpoint_dir=str(tmp_path),
                             eval_every=0, resume=True, fingerprint={"lr": 1e-2}))
    loop_log.clear()
    other = Trainer()
    hist = other.run(loop_config(steps=6, checkpoint_every=2, checkpoint_dir=str(tmp_path),
                                eval_every=0, resume=True, fingerprint={"lr": 2e-2}))
    assert hist["resumed_from"] == 0
    assert other.steps_seen == list(range(6))
    logged = messages(loop_log)
    assert any("starting fresh" in m for m in logged)
    assert not any("resuming from checkpoint" in m for m in logged)


def test_resume_false_ignores_an_existing_checkpoint(tmp_path, loop_log):
    Trainer().run(loop_config(steps=4, checkpoint_every=2, checkpoint_dir=str(tmp_path), eval_every=0, resume=True))
    loop_log.clear()
    again = Trainer()
    hist = again.run(loop_config(steps=6, checkpoint_every=2, checkpoint_dir=str(tmp_path), resume=False, eval_every=0))
    assert hist["resumed_from"] == 0
    assert again.steps_seen == list(range(6))
    assert not any("resuming from checkpoint" in m for m in messages(loop_log))
    # ... and overwrites it with this run's final state
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 6


def test_a_finished_run_resumed_runs_no_steps(tmp_path):
    cfg = loop_config(steps=4, checkpoint_every=3, checkpoint_dir=str(tmp_path), eval_every=0, resume=True)
    done = Trainer()
    done.run(cfg)  # the final state is checkpointed even though 4 is not a multiple of 3
    again = Trainer(init_seed=5)
    hist = again.run(cfg)
    assert hist["resumed_from"] == 4 and hist["steps_run"] == 0
    assert again.steps_seen == []
    assert_same(done.model.state_dict(), again.model.state_dict())


# ----------------------------------------------------------------------------------------------
# Checkpoint files
# ----------------------------------------------------------------------------------------------
def test_checkpoint_loads_weights_only_and_leaves_no_temp_file(tmp_path):
    trainer = Trainer()
    trainer.run(loop_config(steps=4, checkpoint_every=2, checkpoint_dir=str(tmp_path),
                           eval_every=0, resume=True, fingerprint={"a": 1}))
    saved = torch.load(tmp_path / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    assert saved["step"] == 4
    assert saved["fingerprint"] == fingerprint_of({"a": 1})
    assert_same(saved["state"]["model"], trainer.model.state_dict())
    assert list(tmp_path.glob("*tmp-*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CHECKPOINT_NAME, PREVIOUS_NAME])


def test_a_crash_inside_torch_save_leaves_the_existing_checkpoint_intact(tmp_path, monkeypatch):
    ckpt = Checkpointer(tmp_path, fingerprint_of({}))
    good = {"w": torch.arange(5.0)}
    ckpt.save(good, 3)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def crashing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkp")  # a partial write, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(loop_module.torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save({"w": torch.zeros(5)}, 4)
    monkeypatch.undo()

    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    step, state = ckpt.load()
    assert step == 3 and torch.equal(state["w"], good["w"])


def test_checkpointer_without_a_directory_is_a_no_op(tmp_path):
    ckpt = Checkpointer(None, "x")
    ckpt.save({"w": torch.zeros(1)}, 1)
    assert ckpt.load() is None


# ----------------------------------------------------------------------------------------------
# Evaluation and metrics
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("steps", "eval_every", "expected"),
    [(7, 3, [3, 6, 7]), (6, 3, [3, 6]), (5, 0, [5]), (4, 10, [4])],
)
def test_eval_runs_every_eval_every_steps_and_once_at_the_end(steps, eval_every, expected):
    trainer = Trainer()
    hist = trainer.run(loop_config(steps=steps, eval_every=eval_every, checkpoint_every=0, checkpoint_dir=None,
                                  resume=True), with_eval=True)
    assert trainer.evals == expected
    assert [e["step"] for e in hist["eval"]] == expected
    assert hist["eval"][-1]["metric"] == pytest.approx(steps / 10)


def test_losses_and_evals_reach_the_tracker_with_their_steps_and_prefix():
    tracker = MemoryTracker()
    Trainer().run(loop_config(steps=4, eval_every=2, checkpoint_every=0, checkpoint_dir=None, resume=True, log_every=2,
                             metric_prefix="t."), with_eval=True,
                  tracker=tracker)
    assert set(tracker.history) == {"t.loss", "t.metric"}
    assert [step for step, _ in tracker.history["t.loss"]] == [2, 4]
    assert tracker.history["t.metric"] == [(2, pytest.approx(0.2)), (4, pytest.approx(0.4))]


# ----------------------------------------------------------------------------------------------
# Per-step randomness and fingerprints
# ----------------------------------------------------------------------------------------------
def test_step_generator_is_a_function_of_seed_and_step():
    def draw(seed, step):
        return torch.rand(8, generator=step_generator(seed, step))

    assert torch.equal(draw(0, 5), draw(0, 5))
    assert torch.equal(draw(3, 0), draw(3, 0))
    assert not torch.equal(draw(0, 5), draw(0, 6))
    assert not torch.equal(draw(0, 5), draw(1, 5))
    assert not torch.equal(draw(1, 0), draw(0, 1))


def test_fingerprint_is_stable_and_order_independent():
    assert fingerprint_of({"a": 1, "b": [1, 2]}) == fingerprint_of({"b": [1, 2], "a": 1})
    assert fingerprint_of({"a": 1}) != fingerprint_of({"a": 2})
    assert len(fingerprint_of({})) == 16
