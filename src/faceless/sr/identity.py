"""The recogniser behind the ``identity`` loss term (``srgan_id``: recognition-aware SR).

A :class:`Recogniser` is one of the project's classifier backbones (``faceless.models.BACKBONES``,
``small_cnn`` by default) with its input scaling, and a feature extractor the identity term reads
through :class:`~faceless.sr.losses.LossContext`: forward hooks on named modules, plus
``embedding`` (what the last linear layer reads: the pooled features) and ``logits``.

Where it comes from (``srgan.recogniser.source``):

* ``train``: trained inside the SR stage, before the generator's first step, for ``steps`` steps on
  random crops of the SR *training targets* (the HR truth where the source has it, else the frames
  themselves), the same crops the generator learns to produce, with the training frames' labels.
  It never sees a validation or test frame: the trainer hands it the training pairs only, and the
  validation pairs only measure it (``val_recogniser_top1_*``).
* ``file``: a classifier file of an earlier run (``classifier_<variant>.pt``: config, weights and
  input scaling), local only, loaded ``weights_only``; trained further for ``steps`` steps if asked.

During the generator's steps it is frozen (no parameter takes a gradient, eval mode: its
BatchNorm statistics stay), so the identity term's gradient reaches the generator only. With
``update: alternate`` (SR4IR, Kim et al. CVPR 2024) it also takes one step every ``update_every``
generator steps on the generator's SR crops (detached), the HR crops and the two mixed cell by
cell (SR4IR's CQMix), so its feature space follows the SR domain (SICNN's point: a recogniser of
HR alone diverges from it).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceless.models import build_model
from faceless.sr.config import STAGE, RecogniserConfig
from faceless.sr.pairs import training_crop
from faceless.training.device import autocast
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

#: Pseudo-layers besides the backbone's module names.
EMBEDDING, LOGITS = "embedding", "logits"

#: Offsets of the recogniser's random streams from ``srgan.seed`` (the generator's batches use the seed itself).
PRETRAIN_STREAM, MIX_STREAM = 101, 103

PARAM = f"{STAGE}.recogniser"


class Recogniser:
    """A classifier backbone, its input scaling and an optimiser; frozen unless inside :meth:`update`."""

    def __init__(self, cfg: RecogniserConfig, labels: torch.Tensor | None, input_size: int,
                 device: torch.device, dtype: torch.dtype | None, fmt: torch.memory_format) -> None:
        self.cfg, self.device, self.dtype, self.fmt = cfg, device, dtype, fmt
        if cfg.source == "file":
            model, normalisation = _load_classifier_file(cfg.file)
            trains = cfg.steps > 0 or cfg.update == "alternate"
            classes = model.config()["num_classes"]
            if trains and labels is not None and len(labels) and int(labels.max()) >= classes:
                raise ConfigError(f"{PARAM}.file: its head knows {classes} people, the training side has "
                                  f"{int(labels.max()) + 1}; use a file of a run on the same people, or steps: 0 "
                                  "and update: frozen")
        else:
            if labels is None:
                raise ConfigError(f"{PARAM}.source=train needs the training frames' labels, which only srgan_id's "
                                  f"training has: for an identity term in srgan's own lists use {PARAM}.source=file")
            model = build_model("backbone", cfg.model.model_config(max(2, int(labels.max()) + 1), input_size))
            normalisation = {"mean": cfg.normalisation.mean, "std": cfg.normalisation.std}
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False  # a hooked output must not be overwritten by the next layer
        self.model = model.to(device, memory_format=fmt).eval()
        self.model.requires_grad_(False)
        self.normalisation = normalisation
        self.modules = {name: module for name, module in self.model.named_modules() if name}
        linears = [name for name, module in self.modules.items() if isinstance(module, nn.Linear)]
        self.embedding_module = linears[-1] if linears else None
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    # ------------------------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return [*self.modules, EMBEDDING, LOGITS]

    def check_layers(self, layers: Sequence[str], param: str) -> None:
        """One ConfigError line naming ``param`` for a layer this recogniser does not have."""
        known = self.layer_names()
        for layer in layers:
            if layer not in known or (layer == EMBEDDING and self.embedding_module is None):
                raise ConfigError(f"{param}: the recogniser has no layer {layer!r}; it has {', '.join(known)}")

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.normalisation["mean"]) / self.normalisation["std"]
        return x.contiguous(memory_format=self.fmt)

    def features(self, images: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        """The feature maps at ``layers`` of ``images`` (float NCHW in [0, 1]), in eval mode; a
        gradient flows back to ``images`` (never into the frozen weights)."""
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for layer in set(layers) - {LOGITS}:
            if layer == EMBEDDING:
                handles.append(self.modules[self.embedding_module].register_forward_pre_hook(
                    lambda _m, inputs: captured.__setitem__(EMBEDDING, inputs[0])))
            else:
                handles.append(self.modules[layer].register_forward_hook(
                    lambda _m, _i, output, layer=layer: captured.__setitem__(layer, output)))
        try:
            self.model.eval()
            captured[LOGITS] = self.model(self.normalise(images))
        finally:
            for handle in handles:
                handle.remove()
        return [captured[layer] for layer in layers]

    @contextlib.contextmanager
    def trainable(self) -> Iterator[None]:
        """Inside: train mode and gradients for its weights; frozen (eval, no gradients) again after."""
        self.model.train()
        self.model.requires_grad_(True)
        try:
            yield
        finally:
            self.model.requires_grad_(False)
            self.model.eval()

    def update(self, batches: Sequence[torch.Tensor], labels: torch.Tensor) -> float:
        """One optimiser step on the summed cross-entropy of every batch (images in [0, 1], same labels)."""
        with self.trainable():
            with autocast(self.device, self.dtype):
                loss = sum(F.cross_entropy(self.model(self.normalise(b)).float(), labels,
                                           label_smoothing=self.cfg.label_smoothing) for b in batches)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return float(loss.item())

    @torch.no_grad()
    def top1(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
        """Frame top-1 accuracy on ``images`` (float NCHW in [0, 1])."""
        correct = 0
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(self.device)
            with autocast(self.device, self.dtype):
                logits = self.model(self.normalise(x)).float()
            correct += int((logits.argmax(1).cpu() == labels[start:start + batch_size].cpu()).sum())
        return correct / max(1, len(images))

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["opt"])

    def describe(self) -> dict[str, Any]:
        """What the report says about it."""
        return {"source": self.cfg.source, "file": self.cfg.file, "config": self.model.config(),
                "normalisation": self.normalisation, "steps": self.cfg.steps, "update": self.cfg.update}


def mixed_crops(sr: torch.Tensor, hr: torch.Tensor, grid: int, gen: torch.Generator) -> torch.Tensor:
    """SR4IR's cross-quality mix: each of ``grid`` x ``grid`` cells of every crop from ``sr`` or
    ``hr`` with probability 1/2 (the draws from ``gen``, on the CPU)."""
    n, _, h, w = hr.shape
    cells = (torch.rand(n, 1, grid, grid, generator=gen) < 0.5).float().to(hr.device)
    mask = F.interpolate(cells, size=(h, w), mode="nearest")
    return sr * mask + hr * (1 - mask)


def centre_crops(lr_u8: torch.Tensor, hr_u8: torch.Tensor, crop: int, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The centre ``crop`` LR px (at most the frame: :func:`~faceless.sr.pairs.training_crop`) of each
    pair and the aligned HR crop, as floats in [0, 1]: the validation counterpart of the training crops."""
    _, _, h, w = lr_u8.shape
    crop = training_crop(crop, lr_u8)
    top, left = (h - crop) // 2, (w - crop) // 2
    lr = lr_u8[:, :, top:top + crop, left:left + crop]
    hr = hr_u8[:, :, top * scale:(top + crop) * scale, left * scale:(left + crop) * scale]
    return lr.float() / 255, hr.float() / 255


def _load_classifier_file(path: str | None) -> tuple[nn.Module, dict[str, float]]:
    """A saved classifier (``{"config", "state_dict", "normalisation"}``, the classifier stage's
    file), rebuilt; one ConfigError line naming ``srgan.recogniser.file`` where it is not one."""
    if not path or not Path(path).is_file():
        raise ConfigError(f"{PARAM}.file: no file at {path!r}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model("backbone", saved["config"])
        model.load_state_dict(saved["state_dict"])
        normalisation = {k: float(v) for k, v in saved["normalisation"].items()}
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable file is a config error
        raise ConfigError(f"{PARAM}.file: {path!r} is not a classifier file of this project "
                          f"(config, state_dict, normalisation): {error}") from error
    logger.info("recogniser loaded from %s (%s)", path, saved["config"].get("arch"))
    return model, normalisation
