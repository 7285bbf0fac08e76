#!/usr/bin/python3
"""Python PyTorch peer of the carclass engine: the same Keras ResNet50V2 (pre-activation, ZeroPadding
then valid convs, BN eps 1.001e-5 momentum 0.01, GAP -> Dense softmax head), Adam, categorical CE.
Prints one JSON line: train and inference img/s (medians) and peak RSS.
Usage: /usr/bin/python3 peer.py --threads 2 --batch 16 --height 212 --width 320 --steps 5 [--channels-last]
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1.001e-5


class Block(nn.Module):
    def __init__(self, cin, filters, stride, conv_shortcut):
        super().__init__()
        self.preact_bn = nn.BatchNorm2d(cin, eps=EPS, momentum=0.01)
        self.shortcut = nn.Conv2d(cin, 4 * filters, 1, stride) if conv_shortcut else None
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, filters, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters, eps=EPS, momentum=0.01)
        self.conv2 = nn.Conv2d(filters, filters, 3, stride, padding=1, bias=False)  # == ZeroPadding 1 + valid
        self.bn2 = nn.BatchNorm2d(filters, eps=EPS, momentum=0.01)
        self.conv3 = nn.Conv2d(filters, 4 * filters, 1)

    def forward(self, x):
        preact = F.relu(self.preact_bn(x), inplace=True)
        if self.shortcut is not None:
            shortcut = self.shortcut(preact)
        elif self.stride > 1:
            shortcut = x[:, :, :: self.stride, :: self.stride]  # MaxPooling2D(1, stride)
        else:
            shortcut = x
        y = F.relu(self.bn1(self.conv1(preact)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        return shortcut + self.conv3(y)


class ResNet50V2(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3)
        blocks, cin = [], 64
        for s, (filters, n) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
            last_stride = 1 if s == 3 else 2
            for b in range(n):
                stride = last_stride if b == n - 1 else 1
                blocks.append(Block(cin, filters, stride, b == 0))
                cin = 4 * filters
        self.blocks = nn.Sequential(*blocks)
        self.post_bn = nn.BatchNorm2d(cin, eps=EPS, momentum=0.01)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.conv1(x)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # ZeroPadding 1 then valid pool, as Keras
        x = self.blocks(x)
        x = F.relu(self.post_bn(x), inplace=True)
        return self.head(x.mean((2, 3)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--height", type=int, default=212)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--classes", type=int, default=300)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ResNet50V2(a.classes)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    # NHWC batch as the loader produces it, viewed as NCHW
    x = torch.rand(a.batch, a.height, a.width, 3) * 2 - 1
    x = x.permute(0, 3, 1, 2)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, a.classes, (a.batch,))

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def infer_step():
        model.eval()
        with torch.no_grad():
            return torch.softmax(model(x), 1)

    train, infer = [], []
    train_step()  # warm-up
    for _ in range(a.steps):
        t0 = time.perf_counter()
        train_step()
        train.append(time.perf_counter() - t0)
    infer_step()
    for _ in range(a.steps):
        t0 = time.perf_counter()
        infer_step()
        infer.append(time.perf_counter() - t0)
    print(json.dumps({
        "trainImgPerSec": a.batch / statistics.median(train),
        "inferImgPerSec": a.batch / statistics.median(infer),
        "trainSteps": train,
        "inferSteps": infer,
        "trainStepSec": statistics.median(train),
        "inferStepSec": statistics.median(infer),
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "channelsLast": a.channels_last,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
