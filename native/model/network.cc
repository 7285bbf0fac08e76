#include "model/network.h"

#include "model/conv1x1.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <regex>
#include <stdexcept>

namespace carclass {

namespace {

constexpr double kBnEpsilon = 1.001e-5;
constexpr double kBnMomentum = 0.01;  // Keras momentum 0.99 in torch semantics

struct ResNetPreset {
  const char* name;
  int64_t stem;
  std::vector<std::pair<int64_t, int>> stacks;  // (bottleneck filters, blocks); output = 4 x filters
  double bnMomentum;  // torch semantics (1 - Keras momentum)
};

const std::vector<ResNetPreset>& ResNetPresets() {
  static const std::vector<ResNetPreset> presets = {
      // Keras-exact: momentum 0.99. The small presets train from scratch in a few hundred steps, where
      // 0.99 leaves the moving statistics far from the batch statistics, so they use Keras 0.9.
      {"resnet50v2", 64, {{64, 3}, {128, 4}, {256, 6}, {512, 3}}, kBnMomentum},
      {"resnet-small", 32, {{32, 2}, {64, 2}, {128, 2}, {256, 2}}, 0.1},
      {"resnet-tiny", 16, {{16, 1}, {32, 1}, {64, 1}, {128, 1}}, 0.1},
  };
  return presets;
}

int64_t Product(const std::vector<int64_t>& v) {
  int64_t n = 1;
  for (auto d : v) n *= d;
  return n;
}

}  // namespace

const std::vector<std::string>& ArchNames() {
  static const std::vector<std::string> names = {"resnet50v2", "resnet-small", "resnet-tiny", "vgg16"};
  return names;
}

std::vector<int64_t> Param::KerasShape() const {
  auto s = value.sizes().vec();
  if (s.size() == 4) return {s[2], s[3], s[1], s[0]};
  if (s.size() == 2) return {s[1], s[0]};
  return s;
}

torch::Tensor ToKerasLayout(const Param& p, const torch::Tensor& t) {
  (void)p;
  if (t.dim() == 4) return t.permute({2, 3, 1, 0}).contiguous();
  if (t.dim() == 2) return t.t().contiguous();
  return t.contiguous();
}

torch::Tensor FromKerasLayout(const Param& p, const torch::Tensor& keras) {
  (void)p;
  if (keras.dim() == 4) return keras.permute({3, 2, 0, 1}).contiguous();
  if (keras.dim() == 2) return keras.t().contiguous();
  return keras.contiguous();
}

const char* Network::TypeName(LayerOp op) {
  switch (op) {
    case LayerOp::Input: return "InputLayer";
    case LayerOp::ZeroPad: return "ZeroPadding2D";
    case LayerOp::Conv: return "Conv2D";
    case LayerOp::BatchNorm: return "BatchNormalization";
    case LayerOp::Relu: return "Activation";
    case LayerOp::MaxPool: return "MaxPooling2D";
    case LayerOp::Add: return "Add";
    case LayerOp::GlobalAvgPool: return "GlobalAveragePooling2D";
    case LayerOp::Flatten: return "Flatten";
    case LayerOp::Dense: return "Dense";
    case LayerOp::Dropout: return "Dropout";
  }
  return "Layer";
}

int Network::Add(LayerDef def) {
  layers_.push_back(std::move(def));
  return static_cast<int>(layers_.size()) - 1;
}

void Network::AddParam(int layer, const std::string& kind, std::vector<int64_t> torchShape, bool statistic) {
  Param p;
  p.layer = layers_[layer].name;
  p.kind = kind;
  p.name = p.layer + "/" + kind;
  p.layerIndex = layer;
  p.isStatistic = statistic;
  p.value = torch::zeros(torchShape, torch::kFloat32);
  layers_[layer].params.push_back(static_cast<int>(params_.size()));
  params_.push_back(std::move(p));
}

Network::Network(const ModelConfig& config) : config_(config) {
  for (const auto& p : ResNetPresets())
    if (config.arch == p.name) bnMomentum_ = p.bnMomentum;
  if (config.channels != 3) throw std::invalid_argument("inputShape must have 3 channels (RGB)");
  if (config.height < 32 || config.width < 32) throw std::invalid_argument("inputShape height and width must be at least 32");
  if (config.numClasses < 1) throw std::invalid_argument("numClasses must be a positive integer");
  LayerDef input;
  input.name = "input_1";
  input.op = LayerOp::Input;
  Add(input);
  if (config.arch == "vgg16") {
    BuildVgg16();
  } else {
    BuildResNetV2(config.arch);
  }
  baseOutput_ = static_cast<int>(layers_.size()) - 1;
  BuildHead(baseOutput_);
  featureLayer_ = baseOutput_ + 1 < static_cast<int>(layers_.size()) && layers_[baseOutput_ + 1].op == LayerOp::GlobalAvgPool
                      ? baseOutput_ + 1 : baseOutput_;
  dropoutGenerator_ = at::make_generator<at::CPUGeneratorImpl>(config.seed ^ 0x64726f706f7574ULL);
  InferShapes();
  Initialise();
  SetTrainable(config.unfreezeAll, config.unfreezePatterns);
}

void Network::BuildResNetV2(const std::string& presetName) {
  const ResNetPreset* preset = nullptr;
  for (const auto& p : ResNetPresets())
    if (presetName == p.name) preset = &p;
  if (!preset) {
    std::string all;
    for (const auto& n : ArchNames()) all += (all.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown arch '" + presetName + "'; expected one of: " + all);
  }
  auto pad = [&](const std::string& name, int from, int64_t p) {
    LayerDef d;
    d.name = name;
    d.op = LayerOp::ZeroPad;
    d.inputs = {from};
    d.padTop = d.padBottom = d.padLeft = d.padRight = p;
    return Add(d);
  };
  auto conv = [&](const std::string& name, int from, int64_t filters, int64_t kernel, int64_t stride, bool bias) {
    LayerDef d;
    d.name = name;
    d.op = LayerOp::Conv;
    d.inputs = {from};
    d.filters = filters;
    d.kernel = kernel;
    d.stride = stride;
    d.bias = bias;
    return Add(d);
  };
  auto simple = [&](const std::string& name, LayerOp op, std::vector<int> inputs) {
    LayerDef d;
    d.name = name;
    d.op = op;
    d.inputs = std::move(inputs);
    return Add(d);
  };
  auto maxPool = [&](const std::string& name, int from, int64_t k, int64_t s) {
    LayerDef d;
    d.name = name;
    d.op = LayerOp::MaxPool;
    d.inputs = {from};
    d.kernel = k;
    d.stride = s;
    return Add(d);
  };
  // Keras block2: pre-activation bottleneck. Layer order follows Keras' depth-sorted model.layers:
  // the shortcut layer (0_conv or max pooling) comes right before 3_conv.
  auto block = [&](int x, int64_t filters, int64_t stride, bool convShortcut, const std::string& name) {
    int preact = simple(name + "_preact_bn", LayerOp::BatchNorm, {x});
    preact = simple(name + "_preact_relu", LayerOp::Relu, {preact});
    int y = conv(name + "_1_conv", preact, filters, 1, 1, false);
    y = simple(name + "_1_bn", LayerOp::BatchNorm, {y});
    y = simple(name + "_1_relu", LayerOp::Relu, {y});
    y = pad(name + "_2_pad", y, 1);
    y = conv(name + "_2_conv", y, filters, 3, stride, false);
    y = simple(name + "_2_bn", LayerOp::BatchNorm, {y});
    y = simple(name + "_2_relu", LayerOp::Relu, {y});
    int shortcut = x;
    if (convShortcut) {
      shortcut = conv(name + "_0_conv", preact, 4 * filters, 1, stride, true);
    } else if (stride > 1) {
      // Keras leaves this layer unnamed: max_pooling2d, max_pooling2d_1, ... in a fresh session.
      std::string auto_name = "max_pooling2d" + (maxPoolCount_ ? "_" + std::to_string(maxPoolCount_) : std::string());
      ++maxPoolCount_;
      shortcut = maxPool(auto_name, x, 1, stride);
    }
    y = conv(name + "_3_conv", y, 4 * filters, 1, 1, true);
    camLayer_ = name + "_3_conv";
    return simple(name + "_out", LayerOp::Add, {shortcut, y});
  };

  int x = pad("conv1_pad", 0, 3);
  x = conv("conv1_conv", x, preset->stem, 7, 2, true);
  x = pad("pool1_pad", x, 1);
  x = maxPool("pool1_pool", x, 3, 2);
  for (size_t s = 0; s < preset->stacks.size(); ++s) {
    const auto [filters, blocks] = preset->stacks[s];
    const std::string stack = "conv" + std::to_string(s + 2);
    const int64_t lastStride = s + 1 == preset->stacks.size() ? 1 : 2;
    if (blocks == 1) {
      x = block(x, filters, lastStride, true, stack + "_block1");
      continue;
    }
    x = block(x, filters, 1, true, stack + "_block1");
    for (int b = 2; b < blocks; ++b) x = block(x, filters, 1, false, stack + "_block" + std::to_string(b));
    x = block(x, filters, lastStride, false, stack + "_block" + std::to_string(blocks));
  }
  x = simple("post_bn", LayerOp::BatchNorm, {x});
  simple("post_relu", LayerOp::Relu, {x});
}

void Network::BuildVgg16() {
  const std::vector<std::pair<int64_t, int>> blocks = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  int x = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const std::string prefix = "block" + std::to_string(b + 1);
    for (int c = 1; c <= blocks[b].second; ++c) {
      LayerDef d;
      d.name = prefix + "_conv" + std::to_string(c);
      d.op = LayerOp::Conv;
      d.inputs = {x};
      d.filters = blocks[b].first;
      d.kernel = 3;
      d.padSame = true;
      d.activation = "relu";
      x = Add(d);
      camLayer_ = d.name;
    }
    LayerDef p;
    p.name = prefix + "_pool";
    p.op = LayerOp::MaxPool;
    p.inputs = {x};
    p.kernel = 2;
    p.stride = 2;
    x = Add(p);
  }
}

void Network::BuildHead(int input) {
  auto add = [&](const std::string& name, LayerOp op, int from, int64_t units = 0, const std::string& act = "", double rate = 0) {
    LayerDef d;
    d.name = name;
    d.op = op;
    d.inputs = {from};
    d.filters = units;
    d.activation = act;
    d.rate = rate;
    d.head = true;
    return Add(d);
  };
  const int64_t k = config_.numClasses;
  if (config_.head == "gap") {
    int x = add("head_gap", LayerOp::GlobalAvgPool, input);
    add("head_pred", LayerOp::Dense, x, k, "softmax");
  } else if (config_.head == "vgg") {
    int x = add("head_flatten", LayerOp::Flatten, input);
    x = add("head_fc_1", LayerOp::Dense, x, 1024, "relu");
    x = add("head_drop_1", LayerOp::Dropout, x, 0, "", 0.3);
    x = add("head_fc_2", LayerOp::Dense, x, 1024, "relu");
    x = add("head_drop_2", LayerOp::Dropout, x, 0, "", 0.3);
    add("head_pred", LayerOp::Dense, x, k, "softmax");
  } else if (config_.head == "imagenet") {
    if (config_.arch == "vgg16") {
      int x = add("flatten", LayerOp::Flatten, input);
      x = add("fc1", LayerOp::Dense, x, 4096, "relu");
      x = add("fc2", LayerOp::Dense, x, 4096, "relu");
      add("predictions", LayerOp::Dense, x, k, "softmax");
    } else {
      int x = add("avg_pool", LayerOp::GlobalAvgPool, input);
      add("predictions", LayerOp::Dense, x, k, "softmax");
    }
  } else {
    throw std::invalid_argument("unknown head '" + config_.head + "'; expected one of: gap, vgg, imagenet");
  }
}

void Network::InferShapes() {
  const size_t n = layers_.size();
  consumers_.assign(n, 0);
  lastUse_.assign(n, -1);
  fusedPad_.assign(n, -1);
  passThrough_.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    LayerDef& L = layers_[i];
    for (int in : L.inputs) {
      consumers_[in]++;
      lastUse_[in] = static_cast<int>(i);
    }
    const std::vector<int64_t> in = L.inputs.empty() ? std::vector<int64_t>{} : layers_[L.inputs[0]].outputShape;
    auto spatialOut = [](int64_t size, int64_t k, int64_t s) { return (size - k) / s + 1; };
    switch (L.op) {
      case LayerOp::Input:
        L.outputShape = {config_.height, config_.width, config_.channels};
        break;
      case LayerOp::ZeroPad:
        L.outputShape = {in[0] + L.padTop + L.padBottom, in[1] + L.padLeft + L.padRight, in[2]};
        break;
      case LayerOp::Conv: {
        const int64_t p = L.padSame ? L.kernel / 2 : 0;
        L.outputShape = {spatialOut(in[0] + 2 * p, L.kernel, L.stride), spatialOut(in[1] + 2 * p, L.kernel, L.stride), L.filters};
        AddParam(static_cast<int>(i), "kernel", {L.filters, in[2], L.kernel, L.kernel}, false);
        if (L.bias) AddParam(static_cast<int>(i), "bias", {L.filters}, false);
        break;
      }
      case LayerOp::BatchNorm:
        L.outputShape = in;
        AddParam(static_cast<int>(i), "gamma", {in[2]}, false);
        AddParam(static_cast<int>(i), "beta", {in[2]}, false);
        AddParam(static_cast<int>(i), "moving_mean", {in[2]}, true);
        AddParam(static_cast<int>(i), "moving_variance", {in[2]}, true);
        break;
      case LayerOp::MaxPool:
        L.outputShape = {spatialOut(in[0], L.kernel, L.stride), spatialOut(in[1], L.kernel, L.stride), in[2]};
        break;
      case LayerOp::Relu:
      case LayerOp::Dropout:
        L.outputShape = in;
        break;
      case LayerOp::Add:
        if (layers_[L.inputs[0]].outputShape != layers_[L.inputs[1]].outputShape)
          throw std::logic_error("shape mismatch at " + L.name);
        L.outputShape = in;
        break;
      case LayerOp::GlobalAvgPool:
        L.outputShape = {in[2]};
        break;
      case LayerOp::Flatten:
        L.outputShape = {Product(in)};
        break;
      case LayerOp::Dense:
        L.outputShape = {L.filters};
        AddParam(static_cast<int>(i), "kernel", {L.filters, in[0]}, false);
        AddParam(static_cast<int>(i), "bias", {L.filters}, false);
        break;
    }
    for (auto d : L.outputShape)
      if (d < 1) throw std::invalid_argument("inputShape " + std::to_string(config_.height) + "x" + std::to_string(config_.width) +
                                             " is too small for " + config_.arch + " (layer " + L.name + ")");
  }
  // Symmetric zero padding read only by a conv is folded into the conv's own padding: same result.
  for (size_t i = 0; i < n; ++i) {
    const LayerDef& L = layers_[i];
    if (L.op != LayerOp::Conv) continue;
    const int in = L.inputs[0];
    const LayerDef& P = layers_[in];
    if (P.op == LayerOp::ZeroPad && consumers_[in] == 1 && P.padTop == P.padBottom && P.padLeft == P.padRight) {
      fusedPad_[i] = in;
      passThrough_[in] = true;
    }
  }
}

void Network::Initialise() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(config_.seed);
  torch::NoGradGuard noGrad;
  for (auto& p : params_) {
    if (p.kind == "kernel") {
      // Keras glorot_uniform: limit = sqrt(6 / (fan_in + fan_out)), receptive field included.
      const auto s = p.value.sizes();
      const double receptive = s.size() == 4 ? static_cast<double>(s[2] * s[3]) : 1.0;
      const double fanIn = s[1] * receptive, fanOut = s[0] * receptive;
      const double limit = std::sqrt(6.0 / (fanIn + fanOut));
      p.value.uniform_(-limit, limit, gen);
    } else if (p.kind == "gamma" || p.kind == "moving_variance") {
      p.value.fill_(1.0);
    }
  }
}

int Network::FindLayer(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].name == name) return static_cast<int>(i);
  return -1;
}

int Network::FindParam(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

void Network::SetTrainable(bool all, const std::vector<std::string>& patterns) {
  std::vector<std::regex> res;
  for (const auto& p : patterns) {
    try {
      res.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("invalid unfreeze pattern '" + p + "': " + e.what());
    }
  }
  for (auto& L : layers_) {
    bool trainable = L.head || all;
    for (const auto& re : res)
      if (!trainable && std::regex_search(L.name, re)) trainable = true;
    L.trainable = trainable;
  }
  config_.unfreezeAll = all;
  config_.unfreezePatterns = patterns;
  for (auto& p : params_) p.value.requires_grad_(layers_[p.layerIndex].trainable && !p.isStatistic);
}

void Network::To(torch::Device device, torch::ScalarType dtype, bool channelsLast) {
  torch::NoGradGuard noGrad;
  for (auto& p : params_) {
    const bool grad = p.value.requires_grad();
    auto v = p.value.to(device, dtype);
    if (channelsLast && v.dim() == 4) v = v.contiguous(at::MemoryFormat::ChannelsLast);
    p.value = v.detach().requires_grad_(grad);
  }
}

torch::Tensor Network::Forward(const torch::Tensor& x, const ForwardOptions& options) const {
  const size_t n = layers_.size();
  std::vector<torch::Tensor> outs(n);
  auto W = [&](const LayerDef& L, size_t k) -> const torch::Tensor& { return params_[L.params[k]].value; };
  const size_t last = options.stopAtBase ? static_cast<size_t>(baseOutput_) : n - 1;
  size_t first = 0;
  if (options.fromFeatures) {
    first = static_cast<size_t>(featureLayer_) + 1;
    outs[featureLayer_] = x;
  }
  for (size_t i = first; i <= last; ++i) {
    const LayerDef& L = layers_[i];
    const torch::Tensor& in = L.inputs.empty() ? x : outs[L.inputs[0]];
    // In-place activation is safe when nothing else reads the input and autograd needs no copy of it.
    const bool exclusive = !L.inputs.empty() && consumers_[L.inputs[0]] == 1 && L.inputs[0] != options.captureLayer &&
                           L.inputs[0] != 0;
    torch::Tensor y;
    switch (L.op) {
      case LayerOp::Input:
        y = x;
        break;
      case LayerOp::ZeroPad:
        y = passThrough_[i] ? in : at::constant_pad_nd(in, {L.padLeft, L.padRight, L.padTop, L.padBottom}, 0);
        break;
      case LayerOp::Conv: {
        int64_t ph = 0, pw = 0;
        if (fusedPad_[i] >= 0) {
          ph = layers_[fusedPad_[i]].padTop;
          pw = layers_[fusedPad_[i]].padLeft;
        } else if (L.padSame) {
          ph = pw = L.kernel / 2;
        }
        if (UseOneDnnConv1x1(in, L.kernel, ph, pw))
          y = OneDnnConv1x1(in, W(L, 0), L.bias ? W(L, 1) : torch::Tensor(), L.stride);
        else
          y = at::conv2d(in, W(L, 0), L.bias ? W(L, 1) : torch::Tensor(), {L.stride, L.stride}, {ph, pw});
        if (L.activation == "relu") y = at::relu_(y);
        break;
      }
      case LayerOp::BatchNorm: {
        const bool batchStats = options.training && L.trainable;
        y = at::batch_norm(in, W(L, 0), W(L, 1), W(L, 2), W(L, 3), batchStats, bnMomentum_, kBnEpsilon, true);
        break;
      }
      case LayerOp::Relu: {
        const LayerOp from = layers_[L.inputs[0]].op;
        y = exclusive && (from == LayerOp::BatchNorm || from == LayerOp::Add) ? at::relu_(outs[L.inputs[0]]) : at::relu(in);
        break;
      }
      case LayerOp::MaxPool:
        y = L.kernel == 1 ? in.slice(2, 0, c10::nullopt, L.stride).slice(3, 0, c10::nullopt, L.stride)
                          : at::max_pool2d(in, {L.kernel, L.kernel}, {L.stride, L.stride});
        break;
      case LayerOp::Add:
        y = outs[L.inputs[0]] + outs[L.inputs[1]];
        break;
      case LayerOp::GlobalAvgPool:
        y = in.mean({2, 3});
        break;
      case LayerOp::Flatten:
        y = in.permute({0, 2, 3, 1}).flatten(1);  // Keras flattens H, W, C order
        break;
      case LayerOp::Dense:
        y = at::linear(in, W(L, 0), W(L, 1));
        if (L.activation == "relu") y = at::relu_(y);
        // softmax of the last layer is left to the caller (fused log-softmax in the loss)
        break;
      case LayerOp::Dropout:
        if (options.training && L.rate > 0 && in.is_cpu()) {
          // at::dropout's arithmetic (mask / (1 - p), times the input) with the network's generator.
          auto mask = at::empty_like(in).bernoulli_(1.0 - L.rate, dropoutGenerator_).div_(1.0 - L.rate);
          y = in * mask;
        } else {
          y = at::dropout(in, L.rate, options.training);
        }
        break;
    }
    if (static_cast<int>(i) == options.captureLayer) {
      y = y.detach().requires_grad_(true);
      if (options.captured) *options.captured = y;
    }
    outs[i] = std::move(y);
    for (int src : L.inputs)
      if (lastUse_[src] == static_cast<int>(i)) outs[src] = torch::Tensor();
  }
  return outs[last];
}

bool Network::BaseFrozen() const {
  for (const auto& p : params_)
    if (!layers_[p.layerIndex].head && p.value.requires_grad()) return false;
  return true;
}

int64_t Network::LayerParams(int layer) const {
  int64_t n = 0;
  for (int p : layers_[layer].params) n += params_[p].value.numel();
  return n;
}

Network::Counts Network::CountParams() const {
  Counts c;
  for (const auto& p : params_) {
    const int64_t n = p.value.numel();
    c.total += n;
    if (layers_[p.layerIndex].trainable && !p.isStatistic)
      c.trainable += n;
    else
      c.nonTrainable += n;
  }
  return c;
}

}  // namespace carclass
