// Architectures as data: a Keras-ordered layer graph (ResNetV2 presets, VGG16, heads) with
// Keras layer names, evaluated by one interpreter on LibTorch functional ops.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace carclass {

enum class LayerOp { Input, ZeroPad, Conv, BatchNorm, Relu, MaxPool, Add, GlobalAvgPool, Flatten, Dense, Dropout };

struct ModelConfig {
  std::string arch = "resnet50v2";  // resnet50v2 | resnet-tiny | resnet-small | vgg16
  std::string head = "gap";         // gap | vgg | imagenet | none
  int64_t numClasses = 2;
  int64_t height = 224, width = 224, channels = 3;
  // 'all' | 'none' | regular expressions searched in layer names (head always trains).
  bool unfreezeAll = false;
  std::vector<std::string> unfreezePatterns;
  uint64_t seed = 1;
};

struct LayerDef {
  std::string name;
  LayerOp op = LayerOp::Input;
  std::vector<int> inputs;  // indices of earlier layers
  int64_t filters = 0, kernel = 0, stride = 1;
  bool bias = true;
  int64_t padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;
  bool padSame = false;             // Keras 'same' stride-1 conv (VGG): symmetric k/2 padding
  std::string activation;           // "", "relu", "softmax"
  double rate = 0;                  // dropout
  bool head = false;
  bool trainable = true;
  std::vector<int64_t> outputShape;  // [H, W, C] or [C], Keras order, no batch
  std::vector<int> params;          // indices into Network::params
};

// One weight in Keras naming. `value` is in torch layout (conv OIHW, dense [out, in]).
struct Param {
  std::string name;   // "<layer>/<kind>"
  std::string layer, kind;  // kind: kernel bias gamma beta moving_mean moving_variance
  int layerIndex = 0;
  bool isStatistic = false;  // BN moving stats: never trained by the optimizer
  torch::Tensor value;
  std::vector<int64_t> KerasShape() const;
};

// Torch layout <-> Keras layout (conv OIHW <-> HWIO, dense [out,in] <-> [in,out]).
torch::Tensor ToKerasLayout(const Param& p, const torch::Tensor& t);
torch::Tensor FromKerasLayout(const Param& p, const torch::Tensor& keras);

struct ForwardOptions {
  bool training = false;              // BN batch stats for trainable BN layers, dropout on
  int captureLayer = -1;              // Grad-CAM: this layer's output is detached and requires grad
  torch::Tensor* captured = nullptr;  // receives it
  bool stopAtBase = false;            // return the base output (before any head layer)
  bool fromFeatures = false;          // x is the head's input (featureLayer()'s output, see the feature cache)
};

class Network {
 public:
  explicit Network(const ModelConfig& config);

  const ModelConfig& config() const { return config_; }
  const std::vector<LayerDef>& layers() const { return layers_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  int FindLayer(const std::string& name) const;
  int FindParam(const std::string& name) const;
  // Default Grad-CAM layer: the last conv before the final Add / post_bn (or VGG's block5_conv3).
  const std::string& defaultCamLayer() const { return camLayer_; }
  int baseOutputLayer() const { return baseOutput_; }
  // The layer whose output the head's trainable part starts from: the base output, or the head's own
  // global average pooling when the head begins with one (then the cached features are [C], not a map).
  int featureLayer() const { return featureLayer_; }
  const std::vector<int64_t>& featureShape() const { return layers_[featureLayer_].outputShape; }
  // Whether every weight of the base is frozen (its output is then a fixed function of the input).
  bool BaseFrozen() const;

  // Applies 'all' | 'none' | patterns; sets requires_grad of every weight accordingly.
  void SetTrainable(bool all, const std::vector<std::string>& patterns);
  // Moves weights to a device / dtype (used for float64 gradient checks and CUDA).
  void To(torch::Device device, torch::ScalarType dtype, bool channelsLast);

  // x: NCHW (any memory format). Returns the logits of the last Dense (softmax not applied)
  // or, with stopAtBase / no head, the base feature map.
  torch::Tensor Forward(const torch::Tensor& x, const ForwardOptions& options) const;

  struct Counts { int64_t total = 0, trainable = 0, nonTrainable = 0; };
  Counts CountParams() const;
  int64_t LayerParams(int layer) const;
  static const char* TypeName(LayerOp op);

 private:
  int Add(LayerDef def);
  void AddParam(int layer, const std::string& kind, std::vector<int64_t> torchShape, bool statistic);
  void BuildResNetV2(const std::string& preset);
  void BuildVgg16();
  void BuildHead(int input);
  void InferShapes();
  void Initialise();

  ModelConfig config_;
  double bnMomentum_ = 0.01;  // torch semantics; Keras 0.99 unless the preset says otherwise
  std::vector<LayerDef> layers_;
  std::vector<Param> params_;
  std::vector<int> consumers_;  // how many layers read each layer's output
  std::vector<int> lastUse_;    // last layer index reading each output (to free early)
  std::vector<int> fusedPad_;   // per conv: the ZeroPadding layer folded into its padding, or -1
  std::vector<bool> passThrough_;  // ZeroPadding layers folded into the next conv
  std::string camLayer_;
  int baseOutput_ = 0;
  int featureLayer_ = 0;
  int maxPoolCount_ = 0;
  // Dropout masks on the CPU come from the network's own generator, seeded by config.seed, so a run
  // repeats exactly and training from cached features draws the same masks as end to end.
  mutable at::Generator dropoutGenerator_;
};

// Supported architecture names (for messages).
const std::vector<std::string>& ArchNames();

}  // namespace carclass
