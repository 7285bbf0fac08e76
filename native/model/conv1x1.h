// 1x1 convolutions through oneDNN on the CPU in the case PyTorch sends to its slow im2col path:
// one intra-op thread and a batch under 16 (a heuristic tuned for MKL). With OpenBLAS that path is
// about 4x slower than oneDNN, and a data-parallel worker on one core hits it at every step.
#pragma once
#include <torch/torch.h>

namespace carclass {

// True where `x` (NCHW, any memory format) would take PyTorch's slow 1x1 path and oneDNN can run it.
// CARCLASS_CONV1X1_ONEDNN=0 turns the detour off (PyTorch's own choice everywhere).
bool UseOneDnnConv1x1(const torch::Tensor& x, int64_t kernel, int64_t padH, int64_t padW);
// Whether the detour can run at all: LibTorch has oneDNN and the switch is not off.
bool OneDnnConv1x1Active();

// y = conv2d(x, w, b, stride) for a 1x1 kernel: forward and input gradient as oneDNN convolutions,
// weight and bias gradients as matrix products over the pixels. `b` may be undefined.
torch::Tensor OneDnnConv1x1(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride);

struct Conv1x1Agreement {
  double output = 0, inputGrad = 0, weightGrad = 0, biasGrad = 0;  // max |a - b| / max |reference| (biasGrad 0 without a bias)
};

// Compares OneDnnConv1x1 with at::conv2d (forward and all three gradients) on seeded random data.
Conv1x1Agreement CheckOneDnnConv1x1(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t stride, bool bias, uint64_t seed);

}  // namespace carclass
