#include "model/conv1x1.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdlib>
#include <cstring>

namespace carclass {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor Rows(const torch::Tensor& t) {  // NCHW -> [N*H*W, C] over the channels_last layout
  return t.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1}).reshape({-1, t.size(1)});
}

torch::Tensor OneDnn(const torch::Tensor& x, const torch::Tensor& w, const c10::optional<torch::Tensor>& b) {
  return at::mkldnn_convolution(x, w, b, {0, 0}, {1, 1}, {1, 1}, 1);
}

// Forward and input gradient as oneDNN 1x1 convolutions; weight and bias gradients as products over pixels.
struct Conv1x1Backward {
  static variable_list Grads(AutogradContext* ctx, const torch::Tensor& gradOut, bool bias) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const torch::Tensor g = gradOut.contiguous(at::MemoryFormat::ChannelsLast);
    torch::Tensor gx, gw, gb;
    // dL/dx is the 1x1 convolution of dL/dy with the transposed kernel.
    if (ctx->needs_input_grad(0)) gx = OneDnn(g, w.transpose(0, 1).contiguous(), c10::nullopt);
    if (ctx->needs_input_grad(1)) gw = Rows(g).t().mm(Rows(x)).view(w.sizes());
    if (bias && ctx->needs_input_grad(2)) gb = g.sum({0, 2, 3});
    return bias ? variable_list{gx, gw, gb} : variable_list{gx, gw};
  }
};

// Autograd functions take defined tensors only: one with a bias, one without.
class Conv1x1BiasFunction : public torch::autograd::Function<Conv1x1BiasFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    ctx->save_for_backward({x, w});
    return OneDnn(x, w, b);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) { return Conv1x1Backward::Grads(ctx, grads[0], true); }
};

class Conv1x1Function : public torch::autograd::Function<Conv1x1Function> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w) {
    ctx->save_for_backward({x, w});
    return OneDnn(x, w, c10::nullopt);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) { return Conv1x1Backward::Grads(ctx, grads[0], false); }
};

bool Enabled() {
  static const bool on = [] {
    const char* v = std::getenv("CARCLASS_CONV1X1_ONEDNN");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

double RelativeError(const torch::Tensor& a, const torch::Tensor& ref) {
  const double scale = ref.abs().max().item<double>();
  return (a - ref).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

}  // namespace

bool OneDnnConv1x1Active() { return Enabled() && at::hasMKLDNN(); }

bool UseOneDnnConv1x1(const torch::Tensor& x, int64_t kernel, int64_t padH, int64_t padW) {
  // PyTorch's own rule (ConvParams::use_mkldnn) picks oneDNN for these when it has more threads or a batch of 16+.
  return kernel == 1 && padH == 0 && padW == 0 && OneDnnConv1x1Active() && x.device().is_cpu() &&
         x.scalar_type() == at::kFloat && !x.is_mkldnn() && x.dim() == 4 && x.size(0) < 16 && at::get_num_threads() == 1;
}

torch::Tensor OneDnnConv1x1(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t stride) {
  // A strided 1x1 convolution reads every stride-th pixel: slice first (autograd scatters the gradient back).
  const torch::Tensor in = stride > 1 ? x.slice(2, 0, c10::nullopt, stride).slice(3, 0, c10::nullopt, stride) : x;
  return b.defined() ? Conv1x1BiasFunction::apply(in, w, b) : Conv1x1Function::apply(in, w);
}

Conv1x1Agreement CheckOneDnnConv1x1(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t stride, bool bias, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto randn = [&](std::vector<int64_t> shape) { return at::normal(0.0, 1.0, shape, gen); };
  const auto x0 = randn({n, cin, h, w}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto w0 = randn({cout, cin, 1, 1}), b0 = randn({cout});
  auto run = [&](bool oneDnn) {
    auto x = x0.clone().requires_grad_(), k = w0.clone().requires_grad_();
    torch::Tensor b = bias ? b0.clone().requires_grad_() : torch::Tensor();
    auto y = oneDnn ? OneDnnConv1x1(x, k, b, stride) : at::conv2d(x, k, b, {stride, stride});
    // A weighted sum, so every output element has its own gradient.
    auto weights = at::linspace(-1.0, 1.0, y.numel(), y.options()).view(y.sizes());
    (y * weights).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), x.grad(), k.grad(), bias ? b.grad() : torch::zeros({1})};
  };
  const auto a = run(true), ref = run(false);
  return {RelativeError(a[0], ref[0]), RelativeError(a[1], ref[1]), RelativeError(a[2], ref[2]), RelativeError(a[3], ref[3])};
}

}  // namespace carclass
