"""The one training loop every stage shares: progress, periodic eval, metric logging,
checkpoints and resume.

A stage describes *what* one step does (``step_fn``) and how to evaluate (``eval_fn``); the loop
owns *when*: it counts steps, shows a progress bar with live losses, evaluates every
``eval_every`` steps, reports every number to the tracker it is given, with its step, saves a checkpoint
every ``checkpoint_every`` steps (atomically: a crash never leaves a half-written checkpoint) and,
when asked to resume, continues from the last checkpoint whose fingerprint matches this run.

Determinism across a resume: each step draws its batch and augmentation from a generator seeded
by ``(seed, step)`` (see :func:`step_generator`), so a resumed run sees exactly the batches an
uninterrupted one would have seen; no RNG state needs saving.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faceless.training.parallel import barrier, broadcast_object, is_main, rank, world_size
from faceless.training.tracker import NullTracker, PrefixedTracker, Tracker
from faceless.utils.atomic import atomic_path, remove_stale_temporaries
from faceless.utils.errors import ConfigError
from faceless.utils.progress import tqdm
from faceless.utils.torchfile import DamagedFileError, load_torch_file

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
PREVIOUS_NAME = "previous.pt"


@dataclass(kw_only=True)
class LoopConfig:
    steps: int
    eval_every: int              # 0 = only at the end
    checkpoint_every: int        # 0 = no checkpoints
    checkpoint_dir: str | None
    resume: bool
    log_every: int               # steps between logged metrics (the stage's config says)
    desc: str = "training"
    metric_prefix: str = ""
    fingerprint: dict[str, Any] = field(default_factory=dict)


#: Seeds are taken modulo this (torch's seeds are 64-bit signed).
SEED_MODULUS = 2**63 - 1


def step_seed(seed: int, step: int) -> int:
    """The seed of one step's draws from stream ``seed``: the same whenever that step runs, and apart
    from every other step's and stream's (streams are ``seed``, ``seed + 1``, ...)."""
    return (int(seed) * 1_000_003 + int(step)) % SEED_MODULUS


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator for one step's randomness, the same whenever that step runs."""
    gen = torch.Generator(device=device)
    gen.manual_seed(step_seed(seed, step))
    return gen


def fingerprint_of(obj: Any) -> str:
    """A short stable hash of a json-able description (params, data shapes, data checksums)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_weights_file(path: str | os.PathLike, param: str) -> dict[str, torch.Tensor]:
    """The state_dict in a local weights file: a bare state_dict or a ``{"state_dict": ...}`` model
    file as the pipeline saves them; checked, then loaded ``weights_only``. A missing or damaged
    file is one line naming ``param``."""
    if not Path(path).is_file():
        raise ConfigError(f"{param}: no file at '{path}'")
    saved = load_torch_file(path, param)
    return saved.get("state_dict", saved) if isinstance(saved, dict) else saved


class Checkpointer:
    """Atomic save/load of a training state dict in ``checkpoint_dir/last.pt``; the one before it is
    kept as ``previous.pt``. A checkpoint is checked before it is used: a damaged one is logged in
    one line and moved aside (``<name>.damaged``), and the run resumes from the previous one, or
    starts fresh. Temporary files of killed saves are removed."""

    def __init__(self, directory: str | os.PathLike | None, fingerprint: str):
        self.path = Path(directory) / CHECKPOINT_NAME if directory else None
        self.previous = Path(directory) / PREVIOUS_NAME if directory else None
        self.fingerprint = fingerprint

    def save(self, state: dict[str, Any], step: int) -> None:
        if self.path is None:
            return
        with atomic_path(self.path) as temporary:
            torch.save({"step": step, "fingerprint": self.fingerprint, "state": state}, temporary)
            if self.path.is_file():
                # Until the rename below, previous.pt alone holds a checkpoint: load() falls back to it.
                os.replace(self.path, self.previous)

    def load(self) -> tuple[int, dict[str, Any]] | None:
        """The saved (step, state) of the newest sound checkpoint of this same run, else None."""
        if self.path is None:
            return None
        removed = remove_stale_temporaries(self.path.parent)
        if removed:
            logger.info("removed %d temporary files of interrupted checkpoint saves in %s", len(removed),
                        self.path.parent)
        for path in (self.path, self.previous):
            if not path.is_file():
                continue
            try:
                saved = load_torch_file(path, "checkpoint")
                if not isinstance(saved, dict) or not {"step", "fingerprint", "state"} <= set(saved):
                    raise DamagedFileError(f"checkpoint: '{path}' is damaged or not a weights file: not a checkpoint")
            except DamagedFileError as err:
                aside = path.with_name(path.name + ".damaged")
                os.replace(path, aside)
                logger.warning("%s; moved aside to %s", err, aside.name)
                continue
            if saved.get("fingerprint") != self.fingerprint:
                logger.info("checkpoint %s belongs to another configuration or data: starting fresh", path)
                return None
            return int(saved["step"]), saved["state"]
        return None


def run_loop(
    cfg: LoopConfig,
    step_fn: Callable[[int], Mapping[str, float]],
    get_state: Callable[[], dict[str, Any]],
    set_state: Callable[[dict[str, Any]], None],
    eval_fn: Callable[[int], Mapping[str, float]] | None = None,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """Run steps ``[start, cfg.steps)``; returns the loss/eval history and timing.

    ``step_fn(step)`` does one optimisation step and returns its losses; ``get_state`` /
    ``set_state`` (de)serialise everything a resume needs (modules, optimisers, schedulers, EMA);
    ``eval_fn(step)`` returns evaluation metrics. Every number goes to ``tracker`` under
    ``cfg.metric_prefix``.

    Inside a process group (:mod:`faceless.training.parallel`) every rank runs the loop: all resume
    from the checkpoint rank 0 finds, rank 0 alone writes checkpoints (the others wait for it) and
    draws the progress bar.
    """
    tracker = PrefixedTracker(tracker or NullTracker(), cfg.metric_prefix)
    checkpointer = Checkpointer(cfg.checkpoint_dir, fingerprint_of(cfg.fingerprint))
    start = 0
    if cfg.resume:
        loaded = _load_on_every_rank(checkpointer)
        if loaded is not None:
            start, state = loaded
            set_state(state)
            logger.info("%s: resuming from checkpoint at step %d/%d (%s)", cfg.desc, start, cfg.steps,
                        checkpointer.path)
    history: dict[str, Any] = {"train": [], "eval": [], "resumed_from": start}
    t0 = time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=cfg.desc, unit="step",
               dynamic_ncols=True, mininterval=1.0, disable=not is_main())
    step = start
    for step in bar:
        losses = {k: float(v) for k, v in step_fn(step).items()}
        done = step + 1
        if done % max(1, cfg.log_every) == 0 or done == cfg.steps:
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            tracker.log_metrics(losses, done)
            history["train"].append({"step": done, **losses})
        if eval_fn is not None and cfg.eval_every and done % cfg.eval_every == 0 and done != cfg.steps:
            _evaluate(eval_fn, done, cfg, history, tracker)
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0:
            _save_on_main(checkpointer, get_state, done)
    bar.close()
    seconds = time.perf_counter() - t0
    if eval_fn is not None:
        _evaluate(eval_fn, cfg.steps, cfg, history, tracker)
    if cfg.checkpoint_every and start < cfg.steps:
        _save_on_main(checkpointer, get_state, cfg.steps)
    history["seconds"] = seconds
    history["steps_run"] = cfg.steps - start
    return history


def _save_on_main(checkpointer: Checkpointer, get_state: Callable[[], dict[str, Any]], step: int) -> None:
    """Rank 0 writes the checkpoint; every rank continues once it is written."""
    if is_main():
        checkpointer.save(get_state(), step)
    barrier()


def _load_on_every_rank(checkpointer: Checkpointer) -> tuple[int, dict[str, Any]] | None:
    """The checkpoint to resume from, the same on every rank: rank 0 looks first (it alone moves a
    damaged file aside), then the others read the one it chose (shared storage on several machines)."""
    if world_size() == 1:
        return checkpointer.load()
    loaded = checkpointer.load() if is_main() else None
    step = broadcast_object(None if loaded is None else loaded[0])
    if not is_main() and step is not None:
        loaded = checkpointer.load()
        if loaded is None or loaded[0] != step:
            raise RuntimeError(f"rank {rank()}: cannot read the step-{step} checkpoint rank 0 resumes from "
                               f"({checkpointer.path}); every machine needs the checkpoint_dir on shared storage")
    return loaded


def _evaluate(eval_fn, step: int, cfg: LoopConfig, history: dict[str, Any], tracker: Tracker) -> None:
    metrics = {k: float(v) for k, v in eval_fn(step).items()}
    tracker.log_metrics(metrics, step)
    history["eval"].append({"step": step, **metrics})
    logger.info("%s step %d: %s", cfg.desc, step, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
