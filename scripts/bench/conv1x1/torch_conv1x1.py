#!/usr/bin/env python3
"""Why carclass routes 1x1 convolutions around PyTorch on one thread (native/model/conv1x1.cc).

PyTorch (ConvParams::use_mkldnn) sends a 1x1 convolution to its im2col + BLAS path when it has one
intra-op thread and a batch under 16, and to oneDNN otherwise. This times a ResNet50V2 bottleneck's
256->64 1x1 convolution (forward + backward, channels_last 53x80 maps, as at 212x320 input) at batch 4
and 16 on one thread, plus oneDNN called directly at batch 4.
Usage: python3 scripts/bench/conv1x1/torch_conv1x1.py   (Debian: python3-torch, the LibTorch carclass uses)
"""
import time

import torch


def ms_per_image(n, conv, reps=5):
    x = torch.randn(n, 256, 53, 80).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(64, 256, 1, 1, requires_grad=True)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        conv(x, w).sum().backward()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] / n * 1000


def main():
    torch.set_num_threads(1)
    pytorch = lambda x, w: torch.nn.functional.conv2d(x, w)
    onednn = lambda x, w: torch.mkldnn_convolution(x, w, None, [0, 0], [1, 1], [1, 1], 1)
    print(f"torch {torch.__version__}, 1 thread, 1x1 conv 256->64 on 53x80, forward + backward, median of 5")
    print(f"batch  4, PyTorch's choice (im2col + BLAS): {ms_per_image(4, pytorch):6.2f} ms/image")
    print(f"batch 16, PyTorch's choice (oneDNN):        {ms_per_image(16, pytorch):6.2f} ms/image")
    print(f"batch  4, oneDNN forward (backward PyTorch's): {ms_per_image(4, onednn):6.2f} ms/image")


if __name__ == "__main__":
    main()
