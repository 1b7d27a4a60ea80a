"""Calibrate the demo dataset's difficulty with a plain CNN on the video-disjoint split.

Not a test: it renders a demo tree into a temporary folder, splits and samples it with the
project's own nodes and parameters (whole videos held out per person), then
trains the same small CNN on the 256 px truth and on the 64 px frames of the training side, and
prints frame and sequence top-1 on the VALIDATION side's videos. The demo should be learnable from
the truth (sequence top-1 well above chance) and clearly harder, yet above chance, at 64 px.

The test side is never loaded: the demo's difficulty is a choice, and choices are made on
validation (the split is joint, so the test side's index exists in memory; it is dropped unread).
The validation side is small (on the default demo one video a person: 16 people x 2 sequences =
32 sequences), so a sequence is 3.1 points and a top-1 near 50 % has a standard error of about
9 points (more: a video's two sequences agree); read differences below ~20 points as noise.

    python bench/calibrate_demo.py [--people 16] [--group 4] [--epochs 25] [--threads 2]
    python bench/calibrate_demo.py --people 4 --group 2 --epochs 1    # a smoke run
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import OmegaConf

from faceless.pipelines.ingestion.nodes import prepare_source, scan_frames
from faceless.training.device import autocast, autocast_dtype
from faceless.pipelines.sampling.nodes import load_split_frames, sample_splits, split_frames

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
CPU = torch.device("cpu")
#: bf16 where the CPU has native bf16, else fp32 (emulated bf16 on an AVX2 CPU is several times slower).
DTYPE = autocast_dtype(CPU, "auto")


class SmallCNN(nn.Module):
    def __init__(self, classes: int, width: int = 32, stem_stride: int = 1):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3 if stem_stride == 1 else 7, stride=stem_stride,
                                            padding=1 if stem_stride == 1 else 3), nn.BatchNorm2d(w), nn.ReLU())
        blocks = []
        for i in range(3):
            blocks += [nn.Conv2d(w * 2**i, w * 2 ** (i + 1), 3, padding=1), nn.BatchNorm2d(w * 2 ** (i + 1)),
                       nn.ReLU(), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(w * 8, classes))

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3)))


def augment(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    flip = torch.rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = torch.empty(n, 1, 1, 1).uniform_(0.7, 1.3)
    tint = torch.empty(n, 3, 1, 1).uniform_(0.85, 1.15)
    x = x * gain * tint
    # random translation by up to 1/8 of the size
    s = x.shape[-1]
    pad = s // 8
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    i, j = np.random.randint(0, 2 * pad + 1, 2)
    return xp[..., i:i + s, j:j + s]


def run(train_x, train_y, val_x, val_y, val_seq, classes, epochs, stem_stride):
    torch.manual_seed(0)
    np.random.seed(0)
    model = SmallCNN(classes, stem_stride=stem_stride)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    steps = epochs * int(np.ceil(len(train_x) / 32))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(train_x))
        for b in range(0, len(perm), 32):
            idx = perm[b:b + 32]
            xb = augment(train_x[idx].float() / 255)
            with autocast(CPU, DTYPE):
                loss = F.cross_entropy(model(xb), train_y[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad(), autocast(CPU, DTYPE):
        logp = torch.cat([F.log_softmax(model(val_x[b:b + 64].float() / 255).float(), 1)
                          for b in range(0, len(val_x), 64)])
    frame_top1 = (logp.argmax(1) == val_y).float().mean().item()
    df = pd.DataFrame(logp.numpy()).assign(seq=val_seq, y=val_y.numpy())
    agg = df.groupby("seq").mean()
    seq_top1 = (agg.drop(columns="y").to_numpy().argmax(1) == agg["y"].to_numpy()).mean()
    return frame_top1, seq_top1, time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=16)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = OmegaConf.to_container(OmegaConf.load(CONF / "parameters_ingestion.yml"))["ingestion"]
    sampling = OmegaConf.to_container(OmegaConf.load(CONF / "parameters_sampling.yml"))["sampling"]
    with tempfile.TemporaryDirectory() as tmp:
        params["demo"].update(root=str(Path(tmp) / "demo"), people=args.people, lookalike_group_size=args.group)
        t0 = time.time()
        source = prepare_source(params)
        print(f"rendered the demo in {time.time() - t0:.1f} s")
        frame_index, _ = scan_frames(source, params)
        split_index, split_info = split_frames(frame_index, sampling)
        # The test side's index is made with the others (the split is joint) and dropped unread.
        train, val, _, report = sample_splits(split_index, split_info, sampling)
        if len(val) == 0:
            raise SystemExit("calibrate_demo: the split left no validation side (sampling.val_fraction)")
        print(f"train {len(train)} frames, validation {len(val)} frames / {report['sides']['val']['sequences']} "
              f"sequences in {val.groupby(['person', 'video']).ngroups} videos; quotas train "
              f"{report['sides']['train']['quota']} validation {report['sides']['val']['quota']}")
        lr_tr, hr_tr = load_split_frames(train, sampling)
        lr_va, hr_va = load_split_frames(val, sampling)
        y_tr, y_va = torch.tensor(train.label.to_numpy()), torch.tensor(val.label.to_numpy())
        seq = (val.person.astype(str) + "/" + val.video.astype(str) + "/" + val.sequence.astype(str)).to_numpy()
        nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {DTYPE or torch.float32}; "
              f"chance = {1 / args.people:.3f}")
        print("validation side:")
        print(f"{'variant':8} {'frame_top1':>10} {'seq_top1':>9} {'seconds':>8}")
        for name, (x_tr, x_va), stride in (("lr", (lr_tr, lr_va), 1), ("hr", (hr_tr, hr_va), 4)):
            f1, s1, sec = run(nchw(x_tr), y_tr, nchw(x_va), y_va, seq, args.people, args.epochs, stride)
            print(f"{name:8} {f1:10.3f} {s1:9.3f} {sec:8.1f}")


if __name__ == "__main__":
    main()
