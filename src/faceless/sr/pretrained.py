"""Generators pretrained elsewhere, in SR training and as the ``srgan_pretrained`` variant.

* :func:`initial_generator`: the generator SR training starts from: fresh (``srgan.generator``), or
  the one in ``srgan.init_weights``. A file that names its architecture (this project's
  ``sr_generator``, krasserm's Keras ``.h5``, BasicSR's ``.pth``: :mod:`faceless.models.pretrained`)
  brings it, and ``srgan.generator`` is not used; a bare state_dict is read into ``srgan.generator``.
* :func:`import_pretrained`: an import variant (``srgan_pretrained``, the seed's method): a generic
  pretrained generator (the variant's ``import`` file) used as it is, no training on this data. Its report says
  what was read and measures it on the validation side (PSNR/SSIM against bicubic), as the trained
  generators are measured. Nothing is downloaded: the file is the user's.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
from torch import nn

from faceless.inference import precision_name
from faceless.models import build_model
from faceless.models.pretrained import ImportedGenerator, read_generator_file
from faceless.sr.config import STAGE, SRConfig
from faceless.sr.metrics import evaluate_sr, measure_geometry
from faceless.sr.pairs import make_pairs
from faceless.training.device import autocast_dtype, select_device
from faceless.training.tracker import NullTracker, Tracker, metric_name
from faceless.utils.errors import ConfigError

logger = logging.getLogger(__name__)

def read_for_scale(path: str, param: str, scale: int, bare_config: dict[str, Any] | None = None) -> ImportedGenerator:
    """The generator in ``path``, which must upscale ``scale`` x (``srgan.scale``)."""
    imported = read_generator_file(path, param, bare_config)
    if imported.scale != scale:
        raise ConfigError(f"{param}: the {imported.arch} generator in '{path}' upscales {imported.scale}x, "
                          f"but {STAGE}.scale={scale}")
    return imported


def initial_generator(config: SRConfig, name: str) -> nn.Module:
    """The generator training starts from (see the module docstring)."""
    if not config.init_weights:
        return build_model("generator", config.generator_config())
    imported = read_for_scale(config.init_weights, f"{STAGE}.init_weights", config.scale,
                              bare_config=config.generator_config())
    generator = build_model("generator", imported.saved["config"])
    generator.load_state_dict(imported.saved["state_dict"])
    if imported.source["format"] != "state_dict":
        logger.info("%s: fine-tuning the %s generator in %s (%s; its architecture, not %s.generator)", name,
                    imported.arch, config.init_weights, imported.source["format"], STAGE)
    else:
        logger.info("%s: generator initialised from %s", name, config.init_weights)
    return generator


def import_pretrained(config: SRConfig, path: str, lr_val: np.ndarray, hr_val: np.ndarray | None,
                      tracker: Tracker | None = None, name: str = "srgan_pretrained"
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the generator file ``path`` (the variant ``name``'s ``import``), as it is; its report)."""
    started = time.perf_counter()
    param = f"variants.{name}.import"
    imported = read_for_scale(str(path), param, config.scale)
    logger.info("%s: %s generator %s read from %s (%s), used as it is", name, imported.arch,
                imported.saved["config"], path, imported.source["format"])
    report: dict[str, Any] = {"variant": name, "source": imported.source,
                              "generator": imported.saved["config"], "trained_here": False}
    report.update(_validation(config, imported, lr_val, hr_val, tracker or NullTracker(), name))
    report["seconds"] = round(time.perf_counter() - started, 2)
    return imported.saved, report


def _validation(config: SRConfig, imported: ImportedGenerator, lr_val: np.ndarray, hr_val: np.ndarray | None,
                tracker: Tracker, name: str) -> dict[str, Any]:
    """PSNR/SSIM on the validation pairs (truth where the source has it, else self pairs), or why not."""
    if not len(lr_val):
        return {"val": None, "val_skipped": "no validation frames"}
    if (hr_val is None or not hr_val.size) and min(lr_val.shape[1:3]) < config.scale:
        return {"val": None, "val_skipped": f"the {tuple(lr_val.shape[1:3])} px frames are too small for self pairs "
                                            f"({STAGE}.scale={config.scale})"}
    lr, hr, kind = make_pairs(lr_val, hr_val, "auto", config.scale, "val")
    if config.val_frames:
        lr, hr = lr[:config.val_frames], hr[:config.val_frames]
    geometry = measure_geometry(*hr.shape[-2:], config.eval_border)
    if geometry.note:
        logger.info("%s: PSNR/SSIM on %s", name, geometry.note)
    device = select_device(config.device)
    dtype = autocast_dtype(device, config.precision)
    generator = build_model("generator", imported.saved["config"])
    generator.load_state_dict(imported.saved["state_dict"])
    generator = generator.to(device).eval()
    args = (config.scale, device)
    sr = evaluate_sr(generator, lr, hr, *args, dtype, config.eval_border, config.eval_batch_size)
    bicubic = evaluate_sr(None, lr, hr, *args, None, config.eval_border, config.eval_batch_size)
    val = {"val_psnr": sr["psnr"], "val_ssim": sr["ssim"], "val_psnr_bicubic": bicubic["psnr"],
           "val_ssim_bicubic": bicubic["ssim"], "val_psnr_gain": sr["psnr"] - bicubic["psnr"]}
    tracker.log_metrics({metric_name(STAGE, name, k): v for k, v in val.items()}, 0)
    logger.info("%s: validation PSNR %.2f dB (bicubic %.2f dB, gain %+.2f dB) on %d %s pairs", name,
                val["val_psnr"], val["val_psnr_bicubic"], val["val_psnr_gain"], len(lr), kind)
    return {"pairs": kind, "val_pairs": len(lr), "device": str(device), "precision": precision_name(dtype),
            "measure": geometry.as_dict(),
            "val": {k: round(v, 4) if math.isfinite(v) else None for k, v in val.items()}}
