#include "engine/engine.h"

#include <algorithm>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>

#include "engine/cpu_allocator.h"
#include "engine/safetensors.h"

namespace carclass {

namespace {

constexpr const char* kCheckpointFormat = "carclass-checkpoint-1";

// bf16 autocast is thread-local: enabled for the duration of one step on the worker thread.
class AutocastScope {
 public:
  AutocastScope(bool enable, bool cuda) : enable_(enable), cuda_(cuda) {
    if (!enable_) return;
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~AutocastScope() {
    if (!enable_) return;
    if (cuda_)
      at::autocast::set_enabled(false);
    else
      at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool enable_, cuda_;
};

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

// One problem per line, the first `limit` of them, then "and N more" (a wrong checkpoint can mismatch hundreds).
std::string FirstAndMore(const std::vector<std::string>& problems, size_t limit = 20) {
  std::string out;
  for (size_t i = 0; i < problems.size() && i < limit; ++i) out += "\n  " + problems[i];
  if (problems.size() > limit) out += "\n  and " + std::to_string(problems.size() - limit) + " more";
  return out;
}

torch::Tensor CrossEntropyPerSample(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing) {
  auto logp = torch::log_softmax(logits.scalar_type() == torch::kFloat64 ? logits : logits.to(torch::kFloat32), 1);
  if (smoothing <= 0) return -logp.gather(1, labels.unsqueeze(1)).squeeze(1);
  const int64_t k = logits.size(1);
  auto target = torch::full_like(logp, smoothing / static_cast<double>(k));
  target.scatter_add_(1, labels.unsqueeze(1), torch::full({labels.size(0), 1}, 1.0 - smoothing, logp.options()));
  return -(target * logp).sum(1);
}

// Keras semantics: mean over the batch of w_i * CE_i (sum_over_batch_size).
torch::Tensor Loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& weights, double smoothing) {
  auto ce = CrossEntropyPerSample(logits, labels, smoothing);
  if (weights.defined()) ce = ce * weights.to(ce.dtype());
  return ce.mean();
}

void CountCorrect(const torch::Tensor& logits, const torch::Tensor& labels, StepResult& r) {
  torch::NoGradGuard noGrad;
  auto cpuLogits = logits.detach().to(torch::kCPU, torch::kFloat32);
  auto cpuLabels = labels.to(torch::kCPU);
  r.count = logits.size(0);
  r.correct = cpuLogits.argmax(1).eq(cpuLabels).sum().item<int64_t>();
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  auto top = std::get<1>(cpuLogits.topk(k, 1));
  r.top5Correct = top.eq(cpuLabels.unsqueeze(1)).any(1).sum().item<int64_t>();
  r.accuracy = r.count ? static_cast<double>(r.correct) / static_cast<double>(r.count) : 0.0;
}

std::vector<float> ToVector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

torch::Device ParseDevice(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      const std::string digits = spec.substr(5);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 3)
        throw std::invalid_argument("invalid device '" + spec + "'; expected auto, cpu, cuda or cuda:N");
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available())
      throw std::runtime_error("device '" + spec + "' was requested but CUDA is not available: this LibTorch build has no CUDA support "
                               "or no GPU is visible (use device 'cpu' or 'auto', or build against a CUDA LibTorch)");
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
      throw std::runtime_error("device '" + spec + "' was requested but only " + std::to_string(count) + " CUDA device(s) exist");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("invalid device '" + spec + "'; expected auto, cpu, cuda or cuda:N");
}

Engine::Engine(const EngineConfig& config) : config_(config), device_(ParseDevice(config.device)) {
  if (config.precision != "fp32" && config.precision != "bf16")
    throw std::invalid_argument("invalid precision '" + config.precision + "'; expected fp32 or bf16");
  bf16_ = config.precision == "bf16";
  InstallCachingCpuAllocator();
  // NHWC batches are viewed as channels_last NCHW; CARCLASS_CHANNELS_LAST=0 makes a contiguous NCHW copy instead.
  const char* cl = std::getenv("CARCLASS_CHANNELS_LAST");
  channelsLast_ = device_.is_cuda() || !(cl && std::strcmp(cl, "0") == 0);
  net_ = std::make_unique<Network>(config.model);
  if (device_.is_cuda()) {
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (!device_.is_cpu() || channelsLast_) net_->To(device_, torch::kFloat32, channelsLast_);
  expAvg_.resize(net_->params().size());
  expAvgSq_.resize(net_->params().size());
}

std::string Engine::deviceName() const { return device_.str(); }

torch::Tensor Engine::InputTensor(const StepInput& input) const {
  const ModelConfig& m = net_->config();
  if (input.n < 1) throw std::invalid_argument("the batch is empty");
  if (input.features) return FeatureTensor(input);
  if (input.h != m.height || input.w != m.width || input.c != m.channels)
    throw std::invalid_argument("input shape [" + std::to_string(input.n) + "," + std::to_string(input.h) + "," + std::to_string(input.w) +
                                "," + std::to_string(input.c) + "] does not match the model's inputShape [" + std::to_string(m.height) +
                                "," + std::to_string(m.width) + "," + std::to_string(m.channels) + "]");
  if (input.xU8) return InputTensorU8(input);
  auto nhwc = torch::from_blob(const_cast<float*>(input.x), {input.n, input.h, input.w, input.c}, torch::kFloat32);
  auto nchw = nhwc.permute({0, 3, 1, 2});  // a channels_last view: no copy
  if (device_.is_cuda()) {
    return nhwc.pin_memory().to(device_, /*non_blocking=*/true).permute({0, 3, 1, 2});
  }
  return channelsLast_ ? nchw : nchw.contiguous();
}

torch::Tensor Engine::FeatureTensor(const StepInput& input) const {
  const auto& shape = net_->featureShape();  // [H, W, C] or [C]
  const std::vector<int64_t> given = shape.size() == 3 ? std::vector<int64_t>{input.h, input.w, input.c} : std::vector<int64_t>{input.h * input.w * input.c};
  if (given != shape)
    throw std::invalid_argument("cached features of shape " + ShapeText(given) + " do not fit this model's head input " + ShapeText(shape));
  std::vector<int64_t> sizes = {input.n};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  auto t = torch::from_blob(const_cast<float*>(input.x), sizes, torch::kFloat32);
  if (device_.is_cuda()) t = t.pin_memory().to(device_, /*non_blocking=*/true);
  return shape.size() == 3 ? t.permute({0, 3, 1, 2}) : t;
}

// A uint8 batch becomes the float batch the loader would have made: tf/caffe, then brightness and
// contrast with the loader's per-sample means, each an IEEE float operation in the CPU's order.
torch::Tensor Engine::InputTensorU8(const StepInput& input) const {
  if (input.c != 3) throw std::invalid_argument("uint8 batches have 3 channels, got " + std::to_string(input.c));
  auto u8 = torch::from_blob(const_cast<uint8_t*>(input.xU8), {input.n, input.h, input.w, input.c}, torch::kUInt8);
  if (!device_.is_cuda()) {
    // Fused into the one conversion pass, one sample per task.
    auto out = torch::empty({input.n, input.h, input.w, input.c}, torch::kFloat32);
    float* dst = out.data_ptr<float>();
    const size_t pixels = size_t(input.h * input.w);
    at::parallel_for(0, input.n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        image::PreprocessU8(input.xU8 + size_t(i) * pixels * 3, pixels, input.preprocess, input.adjust ? input.adjust + i : nullptr,
                            dst + size_t(i) * pixels * 3);
    });
    auto nchw = out.permute({0, 3, 1, 2});
    return channelsLast_ ? nchw : nchw.contiguous();
  }
  // CUDA: a quarter of the bytes cross the bus; the arithmetic runs there.
  auto x = u8.pin_memory().to(device_, /*non_blocking=*/true);
  auto floatOnDevice = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  if (input.preprocess == image::Preprocess::Caffe) {
    auto mean = torch::tensor({image::kCaffeMeanBgr[0], image::kCaffeMeanBgr[1], image::kCaffeMeanBgr[2]}).to(device_);
    x = x.flip({3}).to(torch::kFloat32).sub_(mean);
  } else if (input.preprocess == image::Preprocess::Tf) {
    // A device tensor, not a scalar: a scalar divisor becomes a multiplication by its reciprocal.
    x = x.to(torch::kFloat32).div_(torch::full({}, image::kTfScale, floatOnDevice)).sub_(1.0);
  } else {
    x = x.to(torch::kFloat32);
  }
  if (input.adjust) {
    auto params = torch::empty({input.n, 6}, torch::kFloat32);
    float* p = params.data_ptr<float>();
    for (int64_t i = 0; i < input.n; ++i, p += 6) {
      const image::SampleAdjust& a = input.adjust[i];
      p[0] = a.applied ? a.brightness : 0.f;  // identity for a sample left alone: x + 0, (x - 0) * 1 + 0
      p[1] = a.applied ? a.contrast : 1.f;
      for (int c = 0; c < 3; ++c) p[2 + c] = a.applied ? a.mean[c] : 0.f;
      p[5] = a.applied && a.adjustContrast ? 1.f : 0.f;
    }
    params = params.pin_memory().to(device_, /*non_blocking=*/true);
    auto brightness = params.select(1, 0).view({input.n, 1, 1, 1});
    auto contrast = params.select(1, 1).view({input.n, 1, 1, 1});
    auto mean = params.narrow(1, 2, 3).reshape({input.n, 1, 1, 3});
    auto withContrast = params.select(1, 5).view({input.n, 1, 1, 1}).gt(0.5f);
    x.add_(brightness);
    // (x - m) * 1 + m is not always x in float: samples without a contrast pass keep x exactly.
    x = torch::where(withContrast, (x - mean).mul_(contrast).add_(mean), x);
  }
  return x.permute({0, 3, 1, 2});
}

torch::Tensor Engine::LabelTensor(const StepInput& input) const {
  if (!input.labels) throw std::invalid_argument("this step needs labels but the batch has none");
  const int64_t k = net_->config().numClasses;
  for (int64_t i = 0; i < input.n; ++i) {
    const int32_t l = input.labels[i];
    if (l < 0 || l >= k)
      throw std::invalid_argument("label " + std::to_string(l) + " of sample " + std::to_string(i) + " is outside [0, " +
                                  std::to_string(k) + ")");
  }
  auto labels = torch::from_blob(const_cast<int32_t*>(input.labels), {input.n}, torch::kInt32).to(torch::kInt64);
  return labels.to(device_);
}

torch::Tensor Engine::Logits(const torch::Tensor& x, bool training, bool fromFeatures) {
  ForwardOptions o;
  o.training = training;
  o.fromFeatures = fromFeatures;
  return net_->Forward(x, o);
}

StepResult Engine::Train(const StepInput& input, const TrainOptions& options) {
  auto x = InputTensor(input);
  auto labels = LabelTensor(input);
  torch::Tensor weights;
  if (input.sampleWeights) weights = torch::from_blob(const_cast<float*>(input.sampleWeights), {input.n}, torch::kFloat32).to(device_);
  StepResult r;
  torch::Tensor loss, logits;
  {
    AutocastScope autocast(bf16_, device_.is_cuda());
    logits = Logits(x, true, input.features);
    loss = Loss(logits, labels, weights, options.labelSmoothing);
  }
  r.loss = loss.item<double>();
  if (sync_) sync_->BeforeBackward(*net_, input.n, std::isfinite(r.loss));
  if (loss.requires_grad()) loss.backward();
  const bool replicaNotFinite = sync_ && sync_->AfterBackward(*net_);
  if (!std::isfinite(r.loss)) throw std::runtime_error("the loss became " + std::to_string(r.loss) + " (NaN/Inf): lower the learning rate");
  if (replicaNotFinite) throw std::runtime_error("the loss became NaN/Inf on another data-parallel replica: lower the learning rate");
  AdamStep(options);
  CountCorrect(logits, labels, r);
  return r;
}

StepResult Engine::TrainWithoutBatch(const TrainOptions& options) {
  if (!sync_) throw std::logic_error("a training step without a batch exists only under data parallel");
  sync_->BeforeBackward(*net_, 0, true);
  const bool replicaNotFinite = sync_->AfterBackward(*net_);
  if (replicaNotFinite) throw std::runtime_error("the loss became NaN/Inf on another data-parallel replica: lower the learning rate");
  if (!sync_->GlobalBatchEmpty()) AdamStep(options);
  return StepResult();
}

void Engine::AdamStep(const TrainOptions& o) {
  torch::NoGradGuard noGrad;
  ++iterations_;
  const double t = static_cast<double>(iterations_);
  // Keras Adam: alpha = lr * sqrt(1 - b2^t) / (1 - b1^t); var -= alpha * m / (sqrt(v) + epsilon).
  const double alpha = o.learningRate * std::sqrt(1.0 - std::pow(o.beta2, t)) / (1.0 - std::pow(o.beta1, t));
  auto& params = net_->params();
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i].value;
    if (!p.requires_grad() || !p.grad().defined()) continue;
    auto g = p.grad();
    if (!expAvg_[i].defined()) {
      expAvg_[i] = torch::zeros_like(p);
      expAvgSq_[i] = torch::zeros_like(p);
    }
    if (o.weightDecay > 0) p.sub_(p * (o.learningRate * o.weightDecay));  // decoupled, as Keras AdamW
    expAvg_[i].mul_(o.beta1).add_(g, 1.0 - o.beta1);
    expAvgSq_[i].mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
    p.addcdiv_(expAvg_[i], expAvgSq_[i].sqrt().add_(o.epsilon), -alpha);
    p.mutable_grad() = torch::Tensor();
  }
}

StepResult Engine::Evaluate(const StepInput& input, double labelSmoothing) {
  torch::NoGradGuard noGrad;
  auto x = InputTensor(input);
  auto labels = LabelTensor(input);
  torch::Tensor weights;
  if (input.sampleWeights) weights = torch::from_blob(const_cast<float*>(input.sampleWeights), {input.n}, torch::kFloat32).to(device_);
  AutocastScope autocast(bf16_, device_.is_cuda());
  auto logits = Logits(x, false, input.features);
  StepResult r;
  r.loss = Loss(logits, labels, weights, labelSmoothing).item<double>();
  CountCorrect(logits, labels, r);
  return r;
}

std::vector<float> Engine::Predict(const StepInput& input) {
  torch::NoGradGuard noGrad;
  auto x = InputTensor(input);
  AutocastScope autocast(bf16_, device_.is_cuda());
  return ToVector(torch::softmax(Logits(x, false, input.features).to(torch::kFloat32), 1));
}

torch::Tensor Engine::BaseOutput(const StepInput& input, const char* caller) {
  if (input.features) throw std::invalid_argument(std::string(caller) + " needs pixels, not cached features");
  torch::NoGradGuard noGrad;
  auto x = InputTensor(input);
  AutocastScope autocast(bf16_, device_.is_cuda());
  ForwardOptions o;
  o.stopAtBase = true;
  return net_->Forward(x, o);
}

torch::Tensor Engine::HeadInput(const StepInput& input) {
  torch::NoGradGuard noGrad;
  auto f = BaseOutput(input, "headInput");
  // The head's own pooling, as its forward pass runs it, so cached [C] vectors are bit-equal.
  if (net_->featureLayer() != net_->baseOutputLayer()) return f.mean({2, 3}).to(torch::kCPU, torch::kFloat32).contiguous();
  return f.permute({0, 2, 3, 1}).to(torch::kCPU, torch::kFloat32).contiguous();
}

std::vector<float> Engine::Features(const StepInput& input, int64_t* dim) {
  torch::NoGradGuard noGrad;
  auto f = BaseOutput(input, "features").to(torch::kFloat32).mean({2, 3});
  *dim = f.size(1);
  return ToVector(f);
}

GradCamResult Engine::GradCam(const StepInput& input, int64_t classIndex, const std::string& layerName) {
  if (input.n != 1) throw std::invalid_argument("gradCam takes exactly one image, got " + std::to_string(input.n));
  if (input.features) throw std::invalid_argument("gradCam needs pixels, not cached features");
  const std::string name = layerName.empty() ? net_->defaultCamLayer() : layerName;
  const int layer = net_->FindLayer(name);
  if (layer < 0) throw std::invalid_argument("gradCam layer '" + name + "' does not exist in this model");
  const LayerDef& L = net_->layers()[layer];
  if (L.head || L.outputShape.size() != 3 || L.op == LayerOp::Input || L.op == LayerOp::ZeroPad)
    throw std::invalid_argument("gradCam layer '" + name + "' must be a convolutional feature layer of the base");
  const int64_t k = net_->config().numClasses;
  if (classIndex >= k) throw std::invalid_argument("classIndex " + std::to_string(classIndex) + " is outside [0, " + std::to_string(k) + ")");
  auto x = InputTensor(input);
  torch::Tensor activation;
  ForwardOptions o;
  o.captureLayer = layer;
  o.captured = &activation;
  // d log p = dp / p: the same channel weights up to one positive factor, so the normalised map is the
  // seed's softmax-probability Grad-CAM, but without the zero gradient of a saturated p == 1.0f.
  auto logProbs = torch::log_softmax(net_->Forward(x, o).to(torch::kFloat32), 1);
  GradCamResult r;
  r.layer = name;
  r.classIndex = classIndex >= 0 ? classIndex : logProbs.argmax(1).item<int64_t>();
  auto score = logProbs.select(0, 0).select(0, r.classIndex);
  r.probability = std::exp(score.item<double>());
  auto grad = torch::autograd::grad({score}, {activation})[0];
  torch::NoGradGuard noGrad;
  auto channelWeights = grad.mean({2, 3}, /*keepdim=*/true);
  auto cam = torch::relu((channelWeights * activation).sum(1, /*keepdim=*/true)).to(torch::kFloat32);
  cam = torch::upsample_bilinear2d(cam, {input.h, input.w}, /*align_corners=*/false);  // half-pixel centres as tf.image.resize
  auto lo = cam.min(), hi = cam.max();
  const double range = (hi - lo).item<double>();
  cam = range > 0 ? (cam - lo) / range : torch::zeros_like(cam);
  r.height = input.h;
  r.width = input.w;
  r.heatmap = ToVector(cam);
  return r;
}

std::vector<NamedArray> Engine::GetWeights() const {
  std::vector<NamedArray> out;
  for (const auto& p : net_->params()) {
    NamedArray a;
    a.name = p.name;
    a.shape = p.KerasShape();
    a.data = ToVector(ToKerasLayout(p, p.value.detach().to(torch::kCPU, torch::kFloat32)));
    out.push_back(std::move(a));
  }
  return out;
}

SetWeightsReport Engine::SetWeights(const std::vector<NamedArray>& weights, bool allowPartial) {
  auto& params = net_->params();
  std::vector<std::string> problems;
  std::vector<int> target(weights.size(), -1);
  std::set<int> provided;
  SetWeightsReport report;
  for (size_t i = 0; i < weights.size(); ++i) {
    const NamedArray& w = weights[i];
    const int p = net_->FindParam(w.name);
    if (p < 0) {
      problems.push_back("unexpected weight '" + w.name + "'");
      report.skipped.push_back(w.name);
      continue;
    }
    provided.insert(p);  // a mis-shaped weight is reported once, not also as missing
    const auto expected = params[p].KerasShape();
    int64_t count = 1;
    for (auto d : w.shape) count *= d;
    if (w.shape != expected || count != static_cast<int64_t>(w.data.size())) {
      problems.push_back("weight '" + w.name + "' has shape " + ShapeText(w.shape) + " (" + std::to_string(w.data.size()) +
                         " values) but the model expects " + ShapeText(expected));
      report.skipped.push_back(w.name);
      continue;
    }
    target[i] = p;
  }
  for (size_t p = 0; p < params.size(); ++p)
    if (!provided.count(static_cast<int>(p))) problems.push_back("missing weight '" + params[p].name + "'");
  if (!allowPartial && !problems.empty()) {
    throw std::invalid_argument("setWeights: " + std::to_string(problems.size()) + " problem(s):" + FirstAndMore(problems));
  }
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (target[i] < 0) continue;
    Param& p = params[target[i]];
    auto keras = torch::from_blob(const_cast<float*>(weights[i].data.data()), weights[i].shape, torch::kFloat32);
    p.value.copy_(FromKerasLayout(p, keras));
    ++report.loaded;
  }
  return report;
}

void Engine::SaveCheckpoint(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  StFile file;
  file.metadata = metadata;
  file.metadata["format"] = kCheckpointFormat;
  file.metadata["optimizer.iterations"] = std::to_string(iterations_);
  auto add = [&](const std::string& name, const Param& p, const torch::Tensor& value) {
    StTensor t;
    t.name = name;
    t.dtype = "F32";
    t.shape = p.KerasShape();
    auto v = ToVector(ToKerasLayout(p, value.detach().to(torch::kCPU, torch::kFloat32)));
    t.data.resize(v.size() * sizeof(float));
    std::memcpy(t.data.data(), v.data(), t.data.size());
    file.tensors.push_back(std::move(t));
  };
  const auto& params = net_->params();
  for (const auto& p : params) add(p.name, p, p.value);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!expAvg_[i].defined()) continue;
    add("optimizer/" + params[i].name + "/exp_avg", params[i], expAvg_[i]);
    add("optimizer/" + params[i].name + "/exp_avg_sq", params[i], expAvgSq_[i]);
  }
  WriteSafetensors(path, file);
}

std::map<std::string, std::string> Engine::LoadCheckpoint(const std::string& path) {
  StFile file = ReadSafetensors(path);
  auto& params = net_->params();
  std::vector<std::string> problems;
  struct Slot {
    int param;
    int kind;  // 0 weight, 1 exp_avg, 2 exp_avg_sq
    const StTensor* tensor;
  };
  std::vector<Slot> slots;
  std::set<int> seen;
  for (const auto& t : file.tensors) {
    std::string name = t.name;
    int kind = 0;
    if (name.rfind("optimizer/", 0) == 0) {
      const std::string rest = name.substr(10);
      for (const auto& [suffix, k] : {std::pair<std::string, int>{"/exp_avg_sq", 2}, {"/exp_avg", 1}}) {
        if (rest.size() > suffix.size() && rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) == 0) {
          name = rest.substr(0, rest.size() - suffix.size());
          kind = k;
          break;
        }
      }
      if (kind == 0) {
        problems.push_back("unexpected tensor '" + t.name + "'");
        continue;
      }
    }
    const int p = net_->FindParam(name);
    if (p < 0) {
      problems.push_back("unexpected tensor '" + t.name + "'");
      continue;
    }
    if (t.dtype != "F32") {
      problems.push_back("tensor '" + t.name + "' has dtype " + t.dtype + ", expected F32");
      if (kind == 0) seen.insert(p);  // present, if wrong: not also "missing"
      continue;
    }
    const auto expected = params[p].KerasShape();
    if (t.shape != expected) {
      problems.push_back("tensor '" + t.name + "' has shape " + ShapeText(t.shape) + " but the model expects " + ShapeText(expected));
      if (kind == 0) seen.insert(p);
      continue;
    }
    if (kind == 0) seen.insert(p);
    slots.push_back({p, kind, &t});
  }
  for (size_t p = 0; p < params.size(); ++p)
    if (!seen.count(static_cast<int>(p))) problems.push_back("missing tensor '" + params[p].name + "'");
  // Missing and unexpected names first: they say which architecture the file holds; shapes follow.
  std::stable_partition(problems.begin(), problems.end(),
                        [](const std::string& m) { return m.rfind("missing", 0) == 0 || m.rfind("unexpected", 0) == 0; });
  if (!problems.empty()) {
    std::string msg = "checkpoint " + path + " does not fit this model (" + net_->config().arch + ", head " + net_->config().head + ", " +
                      std::to_string(net_->config().numClasses) + " classes): " + std::to_string(problems.size()) + " mismatch(es):";
    throw std::runtime_error(msg + FirstAndMore(problems));
  }
  torch::NoGradGuard noGrad;
  for (auto& t : expAvg_) t = torch::Tensor();
  for (auto& t : expAvgSq_) t = torch::Tensor();
  for (const Slot& s : slots) {
    Param& p = params[s.param];
    auto keras = torch::from_blob(const_cast<uint8_t*>(s.tensor->data.data()), s.tensor->shape, torch::kFloat32);
    auto value = FromKerasLayout(p, keras);
    if (s.kind == 0) {
      p.value.copy_(value);
    } else {
      auto& slot = s.kind == 1 ? expAvg_[s.param] : expAvgSq_[s.param];
      slot = torch::zeros_like(p.value);
      slot.copy_(value);
    }
  }
  auto it = file.metadata.find("optimizer.iterations");
  iterations_ = it != file.metadata.end() ? std::stoll(it->second) : 0;
  return file.metadata;
}

GradCheckResult GradCheck64(const ModelConfig& config, const StepInput& input, int samplesPerParam, double eps) {
  if (!input.x) throw std::invalid_argument("gradCheck64 takes float32 pixels");
  ModelConfig c = config;
  c.unfreezeAll = true;
  Network net(c);
  net.To(torch::kCPU, torch::kFloat64, false);
  auto x = torch::from_blob(const_cast<float*>(input.x), {input.n, input.h, input.w, input.c}, torch::kFloat32)
               .permute({0, 3, 1, 2})
               .to(torch::kFloat64)
               .contiguous();
  auto labels = torch::from_blob(const_cast<int32_t*>(input.labels), {input.n}, torch::kInt32).to(torch::kInt64);
  torch::Tensor weights;
  if (input.sampleWeights) weights = torch::from_blob(const_cast<float*>(input.sampleWeights), {input.n}, torch::kFloat32).to(torch::kFloat64);
  ForwardOptions train;
  train.training = true;
  auto lossOf = [&]() { return Loss(net.Forward(x, train), labels, weights, 0.0); };
  auto& params = net.params();
  std::vector<torch::Tensor> leaves;
  std::vector<int> index;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].value.requires_grad()) {
      leaves.push_back(params[i].value);
      index.push_back(static_cast<int>(i));
    }
  auto loss = lossOf();
  auto grads = torch::autograd::grad({loss}, leaves);
  GradCheckResult r;
  r.loss = loss.item<double>();
  torch::NoGradGuard noGrad;
  for (size_t j = 0; j < leaves.size(); ++j) {
    auto flat = params[index[j]].value.view({-1});
    auto gflat = grads[j].reshape({-1});
    const int64_t n = flat.numel();
    for (int s = 0; s < samplesPerParam; ++s) {
      const int64_t e = (n * (2 * s + 1) / (2 * samplesPerParam) + j * 7) % n;  // spread, deterministic
      const double original = flat[e].item<double>();
      flat[e].fill_(original + eps);
      const double up = lossOf().item<double>();
      flat[e].fill_(original - eps);
      const double down = lossOf().item<double>();
      flat[e].fill_(original);
      r.names.push_back(params[index[j]].name + "[" + std::to_string(e) + "]");
      r.analytic.push_back(gflat[e].item<double>());
      r.numeric.push_back((up - down) / (2 * eps));
    }
  }
  return r;
}

}  // namespace carclass
