// Node-API surface of the engine: a Model class whose steps run as promise-returning AsyncWorkers.
// JS values are converted here on the main thread; the engine itself never sees Node-API.
#include <ATen/Parallel.h>

#include <mutex>

#include "binding/common.h"
#include "engine/engine.h"
#include "engine/executor.h"
#include "engine/runtime.h"

namespace carclass {

void RunOnEngine(const std::shared_ptr<Engine>& engine, int threads, const std::function<void()>& work) {
  std::lock_guard<std::mutex> lock(engine->mutex());
  Executor::Shared().Run([&] {
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
    work();
  });
}

namespace {

using EnginePtr = std::shared_ptr<Engine>;

// Pixels and labels copied from JS typed arrays, or a loader batch kept alive by its shared_ptr.
struct OwnedInput {
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> weights;
  BatchPtr batch;
};

// Optional per-sample weights (Float32Array, one per sample), copied into `owned`.
void ReadSampleWeights(Napi::Value weights, StepInput& in, OwnedInput& owned) {
  if (weights.IsUndefined()) return;
  Napi::Env env = weights.Env();
  if (!weights.IsTypedArray() || weights.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "Expected Float32Array for sampleWeights");
  auto wa = weights.As<Napi::Float32Array>();
  if (wa.ElementLength() != static_cast<size_t>(in.n))
    throw Napi::RangeError::New(env, "sampleWeights has " + std::to_string(wa.ElementLength()) + " entries for " + std::to_string(in.n) + " samples");
  owned.weights.assign(wa.Data(), wa.Data() + wa.ElementLength());
  in.sampleWeights = owned.weights.data();
}

StepInput ReadInput(Napi::Value value) {
  Napi::Env env = value.Env();
  auto owned = std::make_shared<OwnedInput>();
  StepInput in;
  // A loader batch: { handle } (or the bare handle); UnwrapBatch checks the type tag.
  const bool isBatch = value.IsExternal() || (value.IsObject() && value.As<Napi::Object>().Has("handle"));
  if (isBatch) {
    owned->batch = UnwrapBatch(value.IsExternal() ? value : value.As<Napi::Object>().Get("handle"));
    const Batch& b = *owned->batch;
    in.n = b.size;
    in.h = b.height;
    in.w = b.width;
    in.c = b.channels;
    in.features = b.features;
    const size_t count = static_cast<size_t>(b.size * b.height * b.width * b.channels);
    if (b.isUint8 && b.preprocess != image::Preprocess::None) {
      if (b.pixelsU8.size() < count) throw Napi::Error::New(env, "batch holds fewer pixels than its shape says");
      if (!b.adjust.empty() && b.adjust.size() < static_cast<size_t>(b.size)) throw Napi::Error::New(env, "batch adjustments are shorter than the batch");
      in.xU8 = b.pixelsU8.data();  // the engine preprocesses (on the device for CUDA)
      in.preprocess = b.preprocess;
      if (!b.adjust.empty()) in.adjust = b.adjust.data();
    } else if (b.isUint8) {
      if (b.pixelsU8.size() < count) throw Napi::Error::New(env, "batch holds fewer pixels than its shape says");
      owned->x.assign(b.pixelsU8.begin(), b.pixelsU8.begin() + count);
      in.x = owned->x.data();
    } else {
      if (b.pixels.size() < count) throw Napi::Error::New(env, "batch holds fewer pixels than its shape says");
      in.x = b.pixels.data();
    }
    if (b.labels.size() >= static_cast<size_t>(b.size)) in.labels = b.labels.data();
    if (!b.sampleWeights.empty()) {
      if (b.sampleWeights.size() < static_cast<size_t>(b.size)) throw Napi::Error::New(env, "batch sampleWeights are shorter than the batch");
      in.sampleWeights = b.sampleWeights.data();
    }
    // { handle, sampleWeights }: weights given with the step (fit()'s classWeights) replace the batch's own.
    if (!value.IsExternal()) ReadSampleWeights(value.As<Napi::Object>().Get("sampleWeights"), in, *owned);
    in.owner = owned;
    return in;
  }
  if (!value.IsObject()) throw Napi::TypeError::New(env, "Expected a loader batch handle or { x, shape, labels?, sampleWeights? }");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Value x = obj.Get("x");
  Napi::Value shape = obj.Get("shape");
  if (!x.IsTypedArray() || x.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "Expected Float32Array for x");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 4) throw Napi::TypeError::New(env, "Expected [n, h, w, c] for shape");
  Napi::Array s = shape.As<Napi::Array>();
  int64_t dims[4];
  for (uint32_t i = 0; i < 4; ++i) {
    Napi::Value d = s.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().Int64Value() < 1) throw Napi::TypeError::New(env, "Expected positive integers in shape");
    dims[i] = d.As<Napi::Number>().Int64Value();
  }
  auto xa = x.As<Napi::Float32Array>();
  const size_t count = static_cast<size_t>(dims[0] * dims[1] * dims[2] * dims[3]);
  if (xa.ElementLength() != count)
    throw Napi::RangeError::New(env, "x has " + std::to_string(xa.ElementLength()) + " values but shape needs " + std::to_string(count));
  owned->x.assign(xa.Data(), xa.Data() + count);
  in.n = dims[0];
  in.h = dims[1];
  in.w = dims[2];
  in.c = dims[3];
  in.x = owned->x.data();
  Napi::Value labels = obj.Get("labels");
  if (!labels.IsUndefined()) {
    if (!labels.IsTypedArray() || labels.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw Napi::TypeError::New(env, "Expected Int32Array for labels");
    auto la = labels.As<Napi::Int32Array>();
    if (la.ElementLength() != static_cast<size_t>(in.n))
      throw Napi::RangeError::New(env, "labels has " + std::to_string(la.ElementLength()) + " entries for " + std::to_string(in.n) + " samples");
    owned->labels.assign(la.Data(), la.Data() + la.ElementLength());
    in.labels = owned->labels.data();
  }
  ReadSampleWeights(obj.Get("sampleWeights"), in, *owned);
  in.owner = owned;
  return in;
}

Napi::Array ShapeArray(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

Napi::Float32Array ToFloat32Array(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

ModelConfig ReadModelConfig(const Napi::Object& o) {
  Napi::Env env = o.Env();
  ModelConfig c;
  c.arch = GetString(o, "arch", c.arch);
  c.head = GetString(o, "head", c.head);
  c.numClasses = GetInt(o, "numClasses", c.numClasses);
  c.seed = static_cast<uint64_t>(GetInt(o, "seed", 1));
  Napi::Value shape = o.Get("inputShape");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 3) throw Napi::TypeError::New(env, "Expected [h, w, c] for inputShape");
  Napi::Array s = shape.As<Napi::Array>();
  c.height = s.Get(0u).As<Napi::Number>().Int64Value();
  c.width = s.Get(1u).As<Napi::Number>().Int64Value();
  c.channels = s.Get(2u).As<Napi::Number>().Int64Value();
  return c;
}

void ReadUnfreeze(Napi::Value v, bool* all, std::vector<std::string>* patterns) {
  *all = false;
  patterns->clear();
  if (v.IsUndefined() || v.IsNull()) return;
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "all") *all = true;
    else if (s != "none") throw Napi::TypeError::New(v.Env(), "Expected 'all', 'none' or an array of patterns for unfreeze");
    return;
  }
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "Expected 'all', 'none' or an array of patterns for unfreeze");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) patterns->push_back(a.Get(i).As<Napi::String>().Utf8Value());
}

std::vector<NamedArray> ReadWeights(Napi::Value value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) throw Napi::TypeError::New(env, "Expected an object of { shape, data } weights");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Array keys = obj.GetPropertyNames();
  std::vector<NamedArray> out;
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    NamedArray a;
    a.name = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value entry = obj.Get(a.name);
    if (!entry.IsObject()) throw Napi::TypeError::New(env, "Expected { shape, data } for weight " + a.name);
    Napi::Object e = entry.As<Napi::Object>();
    Napi::Value shape = e.Get("shape");
    Napi::Value data = e.Get("data");
    if (!shape.IsArray()) throw Napi::TypeError::New(env, "Expected number[] for " + a.name + ".shape");
    if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, "Expected Float32Array for " + a.name + ".data");
    Napi::Array s = shape.As<Napi::Array>();
    for (uint32_t d = 0; d < s.Length(); ++d) a.shape.push_back(s.Get(d).As<Napi::Number>().Int64Value());
    auto f = data.As<Napi::Float32Array>();
    a.data.assign(f.Data(), f.Data() + f.ElementLength());
    out.push_back(std::move(a));
  }
  return out;
}

Napi::Object WeightsObject(Napi::Env env, const std::vector<NamedArray>& weights) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& w : weights) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("shape", ShapeArray(env, w.shape));
    e.Set("data", ToFloat32Array(env, w.data));
    out.Set(w.name, e);
  }
  return out;
}

Napi::Object ReportObject(Napi::Env env, const SetWeightsReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loaded", Napi::Number::New(env, static_cast<double>(r.loaded)));
  Napi::Array skipped = Napi::Array::New(env, r.skipped.size());
  for (size_t i = 0; i < r.skipped.size(); ++i) skipped.Set(static_cast<uint32_t>(i), r.skipped[i]);
  o.Set("skipped", skipped);
  return o;
}

Napi::Object StepObject(Napi::Env env, const StepResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("accuracy", r.accuracy);
  o.Set("count", Napi::Number::New(env, static_cast<double>(r.count)));
  o.Set("correct", Napi::Number::New(env, static_cast<double>(r.correct)));
  o.Set("top5Correct", Napi::Number::New(env, static_cast<double>(r.top5Correct)));
  return o;
}

// Runs `work` with the model's lock held and the caller's thread count applied on the worker thread
// (OpenMP thread counts are per thread).
template <typename Result, typename Work>
Napi::Promise RunLocked(Napi::Env env, EnginePtr engine, Work work, typename PromiseWorker<Result>::Done done) {
  const int threads = GetThreads();
  return RunAsync<Result>(
      env,
      [engine, work, threads]() -> Result {
        Result r{};
        RunOnEngine(engine, threads, [&] { r = work(); });
        return r;
      },
      std::move(done));
}

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "NativeModel",
        {InstanceMethod("info", &ModelWrap::Info), InstanceMethod("layers", &ModelWrap::Layers),
         InstanceMethod("weightSpec", &ModelWrap::WeightSpec), InstanceMethod("countParams", &ModelWrap::CountParams),
         InstanceMethod("setTrainable", &ModelWrap::SetTrainable), InstanceMethod("train", &ModelWrap::Train),
         InstanceMethod("trainWithoutBatch", &ModelWrap::TrainWithoutBatch),
         InstanceMethod("evaluate", &ModelWrap::Evaluate), InstanceMethod("predict", &ModelWrap::Predict),
         InstanceMethod("features", &ModelWrap::Features), InstanceMethod("gradCam", &ModelWrap::GradCam),
         InstanceMethod("getWeights", &ModelWrap::GetWeights), InstanceMethod("getWeightsSync", &ModelWrap::GetWeightsSync),
         InstanceMethod("setWeights", &ModelWrap::SetWeights), InstanceMethod("setWeightsSync", &ModelWrap::SetWeightsSync),
         InstanceMethod("save", &ModelWrap::Save), InstanceMethod("load", &ModelWrap::Load)});
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));
    exports.Set("NativeModel", cls);
  }

  static EnginePtr EngineOf(Napi::Value value) {
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor->Value()))
      throw Napi::TypeError::New(value.Env(), "Expected a native model (createModel / loadModel)");
    return Unwrap(value.As<Napi::Object>())->engine_;
  }

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "NativeModel is created by createModel()");
    engine_ = *info[0].As<Napi::External<EnginePtr>>().Data();
  }

 private:
  // Synchronous calls must not race a running step: they fail fast instead of blocking the event loop.
  std::unique_lock<std::mutex> TryLock(Napi::Env env) {
    std::unique_lock<std::mutex> lock(engine_->mutex(), std::try_to_lock);
    if (!lock.owns_lock()) throw Napi::Error::New(env, "the model is busy with a step; await it before calling a synchronous method");
    return lock;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Network& net = engine_->network();
    Napi::Object o = Napi::Object::New(env);
    o.Set("device", engine_->deviceName());
    o.Set("camLayer", net.defaultCamLayer());
    o.Set("baseOutput", net.layers()[net.baseOutputLayer()].name);
    o.Set("iterations", Napi::Number::New(env, static_cast<double>(engine_->iterations())));
    return o;
  }

  Napi::Value Layers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Network& net = engine_->network();
    const auto& layers = net.layers();
    Napi::Array out = Napi::Array::New(env, layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerDef& L = layers[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", L.name);
      o.Set("type", Network::TypeName(L.op));
      o.Set("outputShape", ShapeArray(env, L.outputShape));
      o.Set("params", Napi::Number::New(env, static_cast<double>(net.LayerParams(static_cast<int>(i)))));
      o.Set("trainable", L.trainable);
      Napi::Array inputs = Napi::Array::New(env, L.inputs.size());
      for (size_t k = 0; k < L.inputs.size(); ++k) inputs.Set(static_cast<uint32_t>(k), layers[L.inputs[k]].name);
      o.Set("inputs", inputs);
      o.Set("head", L.head);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value WeightSpec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Network& net = engine_->network();
    const auto& params = net.params();
    Napi::Array out = Napi::Array::New(env, params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", p.name);
      o.Set("shape", ShapeArray(env, p.KerasShape()));
      o.Set("trainable", net.layers()[p.layerIndex].trainable && !p.isStatistic);
      o.Set("layer", p.layer);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value CountParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = engine_->network().CountParams();
    Napi::Object o = Napi::Object::New(env);
    o.Set("total", Napi::Number::New(env, static_cast<double>(c.total)));
    o.Set("trainable", Napi::Number::New(env, static_cast<double>(c.trainable)));
    o.Set("nonTrainable", Napi::Number::New(env, static_cast<double>(c.nonTrainable)));
    return o;
  }

  Napi::Value SetTrainable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bool all = false;
    std::vector<std::string> patterns;
    ReadUnfreeze(info[0], &all, &patterns);
    auto lock = TryLock(env);
    try {
      engine_->network().SetTrainable(all, patterns);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  static TrainOptions ReadTrainOptions(const Napi::CallbackInfo& info, size_t at) {
    TrainOptions o;
    if (info.Length() > at && info[at].IsObject()) {
      Napi::Object opts = info[at].As<Napi::Object>();
      o.learningRate = GetNumber(opts, "learningRate", o.learningRate);
      o.weightDecay = GetNumber(opts, "weightDecay", o.weightDecay);
      o.labelSmoothing = GetNumber(opts, "labelSmoothing", o.labelSmoothing);
    }
    return o;
  }

  Napi::Value Train(const Napi::CallbackInfo& info) {
    StepInput input = ReadInput(info[0]);
    TrainOptions o = ReadTrainOptions(info, 1);
    EnginePtr engine = engine_;
    return RunLocked<StepResult>(info.Env(), engine, [engine, input, o] { return engine->Train(input, o); }, StepObject);
  }

  Napi::Value TrainWithoutBatch(const Napi::CallbackInfo& info) {
    TrainOptions o = ReadTrainOptions(info, 0);
    EnginePtr engine = engine_;
    return RunLocked<StepResult>(info.Env(), engine, [engine, o] { return engine->TrainWithoutBatch(o); }, StepObject);
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    StepInput input = ReadInput(info[0]);
    double smoothing = 0;
    if (info.Length() > 1 && info[1].IsObject()) smoothing = GetNumber(info[1].As<Napi::Object>(), "labelSmoothing", 0);
    EnginePtr engine = engine_;
    return RunLocked<StepResult>(info.Env(), engine, [engine, input, smoothing] { return engine->Evaluate(input, smoothing); }, StepObject);
  }

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    StepInput input = ReadInput(info[0]);
    EnginePtr engine = engine_;
    return RunLocked<std::vector<float>>(info.Env(), engine, [engine, input] { return engine->Predict(input); },
                                         [](Napi::Env env, std::vector<float>& v) -> Napi::Value { return ToFloat32Array(env, v); });
  }

  Napi::Value Features(const Napi::CallbackInfo& info) {
    StepInput input = ReadInput(info[0]);
    EnginePtr engine = engine_;
    using R = std::pair<std::vector<float>, int64_t>;
    return RunLocked<R>(
        info.Env(), engine,
        [engine, input] {
          R r;
          r.first = engine->Features(input, &r.second);
          return r;
        },
        [](Napi::Env env, R& r) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("data", ToFloat32Array(env, r.first));
          o.Set("dim", Napi::Number::New(env, static_cast<double>(r.second)));
          return o;
        });
  }

  Napi::Value GradCam(const Napi::CallbackInfo& info) {
    StepInput input = ReadInput(info[0]);
    int64_t classIndex = -1;
    std::string layer;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      classIndex = GetInt(opts, "classIndex", -1);
      layer = GetString(opts, "layer", "");
    }
    EnginePtr engine = engine_;
    return RunLocked<GradCamResult>(
        info.Env(), engine, [engine, input, classIndex, layer] { return engine->GradCam(input, classIndex, layer); },
        [](Napi::Env env, GradCamResult& r) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("heatmap", ToFloat32Array(env, r.heatmap));
          o.Set("height", Napi::Number::New(env, static_cast<double>(r.height)));
          o.Set("width", Napi::Number::New(env, static_cast<double>(r.width)));
          o.Set("classIndex", Napi::Number::New(env, static_cast<double>(r.classIndex)));
          o.Set("probability", r.probability);
          o.Set("layer", r.layer);
          return o;
        });
  }

  Napi::Value GetWeights(const Napi::CallbackInfo& info) {
    EnginePtr engine = engine_;
    return RunLocked<std::vector<NamedArray>>(info.Env(), engine, [engine] { return engine->GetWeights(); },
                                              [](Napi::Env env, std::vector<NamedArray>& w) -> Napi::Value { return WeightsObject(env, w); });
  }

  Napi::Value GetWeightsSync(const Napi::CallbackInfo& info) {
    auto lock = TryLock(info.Env());
    return WeightsObject(info.Env(), engine_->GetWeights());
  }

  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    auto weights = std::make_shared<std::vector<NamedArray>>(ReadWeights(info[0]));
    const bool allowPartial = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    EnginePtr engine = engine_;
    return RunLocked<SetWeightsReport>(info.Env(), engine, [engine, weights, allowPartial] { return engine->SetWeights(*weights, allowPartial); },
                                       [](Napi::Env env, SetWeightsReport& r) -> Napi::Value { return ReportObject(env, r); });
  }

  Napi::Value SetWeightsSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto weights = ReadWeights(info[0]);
    const bool allowPartial = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    auto lock = TryLock(env);
    try {
      return ReportObject(env, engine_->SetWeights(weights, allowPartial));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "Expected string for path");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    std::map<std::string, std::string> metadata;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object m = info[1].As<Napi::Object>();
      Napi::Array keys = m.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        const std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
        metadata[k] = m.Get(k).ToString().Utf8Value();
      }
    }
    EnginePtr engine = engine_;
    return RunLocked<bool>(
        env, engine,
        [engine, path, metadata] {
          engine->SaveCheckpoint(path, metadata);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "Expected string for path");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    EnginePtr engine = engine_;
    using Meta = std::map<std::string, std::string>;
    return RunLocked<Meta>(env, engine, [engine, path] { return engine->LoadCheckpoint(path); },
                           [](Napi::Env env, Meta& m) -> Napi::Value {
                             Napi::Object o = Napi::Object::New(env);
                             for (const auto& [k, v] : m) o.Set(k, v);
                             return o;
                           });
  }

  EnginePtr engine_;
};

Napi::FunctionReference* ModelWrap::constructor = nullptr;

void DeleteEnginePtr(Napi::Env, EnginePtr* p) { delete p; }

Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Expected a model config object");
  Napi::Object o = info[0].As<Napi::Object>();
  EngineConfig config;
  config.model = ReadModelConfig(o);
  ReadUnfreeze(o.Get("unfreeze"), &config.model.unfreezeAll, &config.model.unfreezePatterns);
  config.device = GetString(o, "device", "auto");
  config.precision = GetString(o, "precision", "fp32");
  const int threads = GetThreads();
  return RunAsync<EnginePtr>(
      env,
      [config, threads] {
        return Executor::Shared().Run([&] {
          if (at::get_num_threads() != threads) at::set_num_threads(threads);
          return std::make_shared<Engine>(config);
        });
      },
      [](Napi::Env env, EnginePtr& engine) -> Napi::Value {
        auto external = Napi::External<EnginePtr>::New(env, new EnginePtr(engine), DeleteEnginePtr);
        return ModelWrap::constructor->New({external});
      });
}

Napi::Value GradCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Expected (config, input, samples?, eps?)");
  ModelConfig config = ReadModelConfig(info[0].As<Napi::Object>());
  StepInput input = ReadInput(info[1]);
  if (!input.labels) throw Napi::TypeError::New(env, "gradCheck64 needs labels");
  const int samples = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 1;
  const double eps = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 1e-6;
  return RunAsync<GradCheckResult>(
      env, [config, input, samples, eps] { return Executor::Shared().Run([&] { return GradCheck64(config, input, samples, eps); }); },
      [](Napi::Env env, GradCheckResult& r) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        Napi::Array names = Napi::Array::New(env, r.names.size());
        auto analytic = Napi::Float64Array::New(env, r.analytic.size());
        auto numeric = Napi::Float64Array::New(env, r.numeric.size());
        for (size_t i = 0; i < r.names.size(); ++i) {
          names.Set(static_cast<uint32_t>(i), r.names[i]);
          analytic[i] = r.analytic[i];
          numeric[i] = r.numeric[i];
        }
        o.Set("names", names);
        o.Set("analytic", analytic);
        o.Set("numeric", numeric);
        o.Set("loss", r.loss);
        return o;
      });
}

// Test-only: wraps plain arrays in a loader Batch handle so the no-copy batch path can be tested
// without the loader.
Napi::Value TestBatch(const Napi::CallbackInfo& info) {
  StepInput in = ReadInput(info[0]);
  if (!in.x) throw Napi::TypeError::New(info.Env(), "testBatch takes float32 pixels");
  auto batch = std::make_shared<Batch>();
  batch->size = in.n;
  batch->height = in.h;
  batch->width = in.w;
  batch->channels = in.c;
  batch->pixels.assign(in.x, in.x + in.n * in.h * in.w * in.c);
  if (in.labels) batch->labels.assign(in.labels, in.labels + in.n);
  else batch->labels.assign(static_cast<size_t>(in.n), -1);
  if (in.sampleWeights) batch->sampleWeights.assign(in.sampleWeights, in.sampleWeights + in.n);
  return WrapBatch(info.Env(), batch);
}

}  // namespace

std::shared_ptr<Engine> UnwrapEngine(Napi::Value nativeModel) { return ModelWrap::EngineOf(nativeModel); }

void InitModel(Napi::Env env, Napi::Object exports) {
  ModelWrap::Init(env, exports);
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
  exports.Set("gradCheck64", Napi::Function::New(env, GradCheck, "gradCheck64"));
  exports.Set("testBatch", Napi::Function::New(env, TestBatch, "testBatch"));
}

}  // namespace carclass
