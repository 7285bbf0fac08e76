// Training engine: device placement, loss, Keras Adam, train/evaluate/predict/features steps,
// weights by Keras name, safetensors checkpoints and Grad-CAM. Callers serialise access with mutex().
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "image/transform.h"
#include "model/network.h"

namespace carclass {

struct EngineConfig {
  ModelConfig model;
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  std::string precision = "fp32";  // fp32 | bf16 (autocast)
};

// Pixels NHWC float32 (contiguous), or uint8 still to preprocess (and adjust, per sample), borrowed;
// `owner` keeps them alive during a step.
struct StepInput {
  const float* x = nullptr;
  const uint8_t* xU8 = nullptr;  // instead of x: a uint8 batch
  image::Preprocess preprocess = image::Preprocess::Tf;  // of xU8
  const image::SampleAdjust* adjust = nullptr;  // n entries or null (no augmentation)
  int64_t n = 0, h = 0, w = 0, c = 0;
  const int32_t* labels = nullptr;  // n entries or null
  const float* sampleWeights = nullptr;  // n entries or null
  bool features = false;  // x holds cached head inputs (Network::featureShape, NHWC) instead of pixels
  std::shared_ptr<void> owner;
};

struct TrainOptions {
  double learningRate = 1e-4;
  double weightDecay = 0;
  double labelSmoothing = 0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7;
};

struct StepResult {
  double loss = 0;      // mean_i(w_i * CE_i)
  double accuracy = 0;  // unweighted
  int64_t count = 0, correct = 0, top5Correct = 0;
};

struct NamedArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct SetWeightsReport {
  int64_t loaded = 0;
  std::vector<std::string> skipped;
};

struct GradCamResult {
  std::vector<float> heatmap;  // height * width, min-max normalised to [0, 1]
  int64_t height = 0, width = 0;
  int64_t classIndex = 0;
  double probability = 0;
  std::string layer;
};

struct GradCheckResult {
  std::vector<std::string> names;
  std::vector<double> analytic, numeric;
  double loss = 0;
};

torch::Device ParseDevice(const std::string& spec);

// Data parallel: a train step calls BeforeBackward once the local loss is known and AfterBackward
// before the optimizer, so an implementation can average gradients across replicas (native/distributed).
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  virtual void BeforeBackward(Network& net, int64_t batchSize, bool lossFinite) = 0;
  // Leaves every trainable param's grad averaged over the global batch; true when any replica's loss was not finite.
  // When every replica's batch was empty, the grads are left undefined and GlobalBatchEmpty() says so.
  virtual bool AfterBackward(Network& net) = 0;
  virtual bool GlobalBatchEmpty() const = 0;
};

class Engine {
 public:
  explicit Engine(const EngineConfig& config);

  std::mutex& mutex() { return mutex_; }
  const Network& network() const { return *net_; }
  Network& network() { return *net_; }
  const EngineConfig& config() const { return config_; }
  std::string deviceName() const;
  int64_t iterations() const { return iterations_; }

  StepResult Train(const StepInput& input, const TrainOptions& options);
  // Data parallel: this replica's batch was all unreadable files; it still joins the step's all-reduces
  // with no samples, so it applies the same update as the others (none when every batch was empty).
  StepResult TrainWithoutBatch(const TrainOptions& options);
  StepResult Evaluate(const StepInput& input, double labelSmoothing);
  std::vector<float> Predict(const StepInput& input);   // [n, K] probabilities
  std::vector<float> Features(const StepInput& input, int64_t* dim);  // [n, C] pooled base output
  // The head's input for pixels (inference mode), float32 on the CPU, NHWC contiguous: what the
  // feature cache stores and what a `features` StepInput gives back.
  torch::Tensor HeadInput(const StepInput& input);
  GradCamResult GradCam(const StepInput& input, int64_t classIndex, const std::string& layer);

  std::vector<NamedArray> GetWeights() const;  // Keras layout and order
  SetWeightsReport SetWeights(const std::vector<NamedArray>& weights, bool allowPartial);

  // Weights + Adam state (+ metadata strings) as safetensors, written atomically.
  void SaveCheckpoint(const std::string& path, const std::map<std::string, std::string>& metadata) const;
  // Validates every name and shape first; one error lists all mismatches. Returns the file's metadata.
  std::map<std::string, std::string> LoadCheckpoint(const std::string& path);

  // Data parallel: gradients averaged by `sync` (null: this process alone); Adam moments per param
  // (undefined until its first step) and the step count, so replicas can adopt rank 0's state.
  void SetGradientSync(std::shared_ptr<GradientSync> sync) { sync_ = std::move(sync); }
  std::vector<torch::Tensor>& adamMoments(bool second) { return second ? expAvgSq_ : expAvg_; }
  void SetIterations(int64_t n) { iterations_ = n; }

 private:
  torch::Tensor InputTensor(const StepInput& input) const;
  torch::Tensor FeatureTensor(const StepInput& input) const;
  torch::Tensor BaseOutput(const StepInput& input, const char* caller);  // the base's output map for pixels, no grad
  torch::Tensor InputTensorU8(const StepInput& input) const;
  torch::Tensor LabelTensor(const StepInput& input) const;
  torch::Tensor Logits(const torch::Tensor& x, bool training, bool fromFeatures);
  void AdamStep(const TrainOptions& options);

  EngineConfig config_;
  torch::Device device_;
  bool channelsLast_ = true;
  bool bf16_ = false;
  std::unique_ptr<Network> net_;
  std::vector<torch::Tensor> expAvg_, expAvgSq_;  // per param, Keras Adam m and v (lazily created)
  int64_t iterations_ = 0;
  std::shared_ptr<GradientSync> sync_;
  std::mutex mutex_;
};

// Test-only: analytic vs central-difference gradients of the loss in float64 on a fresh network.
GradCheckResult GradCheck64(const ModelConfig& config, const StepInput& input, int samplesPerParam, double eps);

}  // namespace carclass
