"""Which memory format and precision are fastest for each model on this CPU (training and inference steps).

    python bench/bench_layout.py [--repeats 7] [--threads N]

For the classifier (conf/base's backbone on 64 and 256 px inputs, batch ``classifier.batch_size``)
and the generator (conf/base's and the paper's, a training step on ``srgan.crop`` crops, batch
``srgan.batch_size``; inference on 64 px frames, batch ``upscaling.batch_size.cpu``), in fp32 and,
where this CPU has native bf16, bf16 autocast, each in contiguous NCHW and channels_last: the
median seconds of ``--repeats`` steps (after two warm-up steps), and which format
``faceless.training.device.memory_format`` picks. Interleaved (every case once per round), so a
load that changes during the run affects all cases alike. Force another CPU's path with
``ONEDNN_MAX_CPU_ISA=AVX2``. Writes nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faceless.models.classifier import FrameClassifier  # noqa: E402
from faceless.models.generator import SRResNet  # noqa: E402
from faceless.training.device import autocast, autocast_dtype, memory_format  # noqa: E402
from machine import cpu_model, usable_cores  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def conf(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text())[stage]


def classifier_case(size: int, batch: int):
    model_conf = conf("classifier")["model"]
    model = FrameClassifier(16, input_size=size, width=model_conf["width"], depth=model_conf["depth"],
                            dropout=model_conf["dropout"], base_size=model_conf["base_size"])
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 16, (batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(fmt, dtype):
        model.train()
        xb = x.contiguous(memory_format=fmt)
        with autocast(torch.device("cpu"), dtype):
            loss = F.cross_entropy(model(xb).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, step


def generator_train_case(shape: dict, crop: int, batch: int):
    model = SRResNet(scale=4, bicubic_skip=True, **shape)
    x, target = torch.rand(batch, 3, crop, crop), torch.rand(batch, 3, crop * 4, crop * 4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(fmt, dtype):
        model.train()
        with autocast(torch.device("cpu"), dtype):
            loss = F.mse_loss(model(x.contiguous(memory_format=fmt)).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, step


def generator_infer_case(shape: dict, batch: int):
    model = SRResNet(scale=4, bicubic_skip=True, **shape).eval()
    x = torch.rand(batch, 3, 64, 64)

    def step(fmt, dtype):
        with torch.inference_mode(), autocast(torch.device("cpu"), dtype):
            model(x.contiguous(memory_format=fmt))
    return model, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads or usable_cores())
    cpu = torch.device("cpu")
    native_bf16 = autocast_dtype(cpu, "auto") is not None
    precisions = {"fp32": None, **({"bf16": torch.bfloat16} if native_bf16 else {})}
    sr, clf = conf("srgan"), conf("classifier")
    default_g = {k: v for k, v in sr["generator"].items() if k not in ("arch", "bicubic_skip")}
    paper_layout = {"head_kernel": 9, "tail_kernel": 9, "upsample": "progressive"}
    same_size_paper_layout = {**default_g, **paper_layout}
    paper_g = {"channels": 64, "blocks": 16, **paper_layout}
    cases = {
        "classifier 64 px, train": classifier_case(64, clf["batch_size"]),
        "classifier 256 px, train": classifier_case(256, clf["batch_size"]),
        "generator default, train": generator_train_case(default_g, sr["crop"], sr["batch_size"]),
        "generator default size, paper layout, train": generator_train_case(same_size_paper_layout, sr["crop"],
                                                                            sr["batch_size"]),
        "generator paper, train": generator_train_case(paper_g, sr["crop"], sr["batch_size"]),
        "generator default, upscale": generator_infer_case(default_g, conf("upscaling")["batch_size"]["cpu"]),
        "generator default size, paper layout, upscale": generator_infer_case(
            same_size_paper_layout, conf("upscaling")["batch_size"]["cpu"]),
        "generator paper, upscale": generator_infer_case(paper_g, conf("upscaling")["batch_size"]["cpu"]),
    }
    formats = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
    times: dict[tuple[str, str, str], list[float]] = {}
    print(f"machine: {cpu_model()}, {usable_cores()} usable cores, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {native_bf16}, "
          f"{torch.get_num_threads()} threads", flush=True)
    for name, (model, step) in cases.items():  # warm-up: oneDNN primitives per format and precision
        for fmt in formats.values():
            model.to(memory_format=fmt)
            for dtype in precisions.values():
                step(fmt, dtype)
                step(fmt, dtype)
    for _ in range(args.repeats):
        for name, (model, step) in cases.items():
            for fmt_name, fmt in formats.items():
                model.to(memory_format=fmt)
                for prec, dtype in precisions.items():
                    started = time.perf_counter()
                    step(fmt, dtype)
                    times.setdefault((name, prec, fmt_name), []).append(time.perf_counter() - started)
    print(f"\nmedian ms per step of {args.repeats}; * = the format the pipeline uses here")
    header = f"{'case':<46}{'precision':<11}{'NCHW':>10}{'channels_last':>15}{'CL / NCHW':>11}"
    print(header)
    print("-" * len(header))
    for name in cases:
        for prec, dtype in precisions.items():
            chosen = "channels_last" if memory_format(cpu) == torch.channels_last else "NCHW"
            nchw = statistics.median(times[(name, prec, "NCHW")]) * 1e3
            cl = statistics.median(times[(name, prec, "channels_last")]) * 1e3
            marks = {"NCHW": "*" if chosen == "NCHW" else " ", "channels_last": "*" if chosen != "NCHW" else " "}
            print(f"{name:<46}{prec:<11}{nchw:>9.1f}{marks['NCHW']}{cl:>14.1f}{marks['channels_last']}{cl / nchw:>11.2f}")


if __name__ == "__main__":
    main()
