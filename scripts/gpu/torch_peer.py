#!/usr/bin/env python3
"""Python PyTorch peer for scripts/gpu/bench-train.js: the same Keras ResNet50V2 as the CPU benchmark
(scripts/bench/train/peer.py), on CUDA, channels_last, fp32 or bf16 autocast (AMP), Adam, with the
batch uploaded each step as uint8 and preprocessed on the GPU (as carclass's uint8 batches are).
Prints one JSON line: train and inference img/s (medians of --steps timed steps after warm-up).
Usage: python3 torch_peer.py --batch 64 --precision bf16 [--device cuda] [--steps 10]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "train"))
from peer import ResNet50V2  # noqa: E402  the one definition of the network


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--height", type=int, default=212)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--classes", type=int, default=300)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--device", default="cuda")
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    device = torch.device(a.device if a.device != "cuda" or torch.cuda.is_available() else "cpu")
    torch.manual_seed(1)
    torch.backends.cudnn.benchmark = True
    model = ResNet50V2(a.classes).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    host = torch.randint(0, 256, (a.batch, a.height, a.width, 3), dtype=torch.uint8)
    if device.type == "cuda":
        host = host.pin_memory()
    y = torch.randint(0, a.classes, (a.batch,), device=device)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=a.precision == "bf16")

    def batch():
        x = host.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=torch.channels_last)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(batch()).float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    def infer_step():
        model.eval()
        with torch.no_grad(), autocast:
            return torch.softmax(model(batch()).float(), 1).cpu()

    def timed(step):
        for _ in range(a.warmup):  # cuDNN benchmark picks its algorithms
            step()
        times = []
        for _ in range(a.steps):
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
        return times

    train, infer = timed(train_step), timed(infer_step)
    print(json.dumps({
        "engine": "Python PyTorch, channels_last" + (", AMP bf16" if a.precision == "bf16" else ""),
        "trainImgPerSec": a.batch / statistics.median(train),
        "inferImgPerSec": a.batch / statistics.median(infer),
        "trainSteps": train,
        "inferSteps": infer,
        "device": str(device),
        "precision": a.precision,
        "batch": a.batch,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "peakGpuMiB": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else 0,
    }))


if __name__ == "__main__":
    main()
