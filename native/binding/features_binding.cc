// Node-API surface of the feature cache: open a store, fill it from loader batches through a
// model's frozen base, and hand out head-input batches for training from it.
#include <cstring>

#include "binding/common.h"
#include "engine/engine.h"
#include "engine/runtime.h"
#include "features/feature_store.h"

namespace carclass {
namespace {

using features::FeatureStore;
using StorePtr = std::shared_ptr<FeatureStore>;

features::StoreLayout ReadLayout(const Napi::Object& o) {
  Napi::Env env = o.Env();
  features::StoreLayout layout;
  layout.key = GetString(o, "key", "");
  layout.records = GetInt(o, "records", 0);
  layout.orientations = int32_t(GetInt(o, "orientations", 1));
  layout.shape = GetNumbers<int64_t>(env, o.Get("shape"), "shape");
  const std::string dtype = GetString(o, "dtype", "float32");
  if (dtype != "float32" && dtype != "float16") throw Napi::TypeError::New(env, "dtype must be float32 or float16");
  layout.dtype = dtype == "float16" ? features::Dtype::F16 : features::Dtype::F32;
  return layout;
}

class FeatureStoreWrap : public Napi::ObjectWrap<FeatureStoreWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeFeatureStore",
                                     {InstanceMethod("pending", &FeatureStoreWrap::Pending), InstanceMethod("build", &FeatureStoreWrap::Build),
                                      InstanceMethod("markFailed", &FeatureStoreWrap::MarkFailed),
                                      InstanceMethod("flush", &FeatureStoreWrap::Flush), InstanceMethod("close", &FeatureStoreWrap::Close)});
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));
    exports.Set("NativeFeatureStore", cls);
  }

  explicit FeatureStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeatureStoreWrap>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "NativeFeatureStore is made by openFeatureStore()");
    store_ = *info[0].As<Napi::External<StorePtr>>().Data();
  }

  static StorePtr StoreOf(Napi::Value value) {
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor->Value()))
      throw Napi::TypeError::New(value.Env(), "Expected a feature store");
    return Unwrap(value.As<Napi::Object>())->Live(value.Env());
  }

 private:
  StorePtr Live(Napi::Env env) const {
    if (!store_) throw Napi::Error::New(env, "the feature cache is closed");
    return store_;
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) {
    const auto pending = Live(info.Env())->Pending();
    auto out = Napi::Int32Array::New(info.Env(), pending.size());
    for (size_t i = 0; i < pending.size(); ++i) out[i] = int32_t(pending[i]);
    return out;
  }

  // build(nativeModel, batchHandle, records): the base's head inputs for the batch (and its mirror
  // when the store keeps both orientations) written to `records` (one per sample).
  Napi::Value Build(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    StorePtr store = Live(env);
    auto engine = UnwrapEngine(info[0]);
    BatchPtr batch = UnwrapBatch(info[1].IsObject() && !info[1].IsExternal() ? info[1].As<Napi::Object>().Get("handle") : info[1]);
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw Napi::TypeError::New(env, "Expected Int32Array for records");
    auto recordArray = info[2].As<Napi::Int32Array>();
    if (recordArray.ElementLength() != size_t(batch->size)) throw Napi::RangeError::New(env, "one record per batch sample is needed");
    if (batch->features) throw Napi::TypeError::New(env, "the cache is built from pixel batches, not cached features");
    std::vector<int64_t> records(recordArray.Data(), recordArray.Data() + recordArray.ElementLength());
    for (auto r : records)
      if (r < 0 || r >= store->layout().records) throw Napi::RangeError::New(env, "record " + std::to_string(r) + " is outside the cache");
    const int threads = GetThreads();
    return RunAsync<bool>(
        env,
        [store, engine, batch, records, threads] {
          const Batch& b = *batch;
          // A uint8 batch becomes the floats the engine would make of it (its tf/caffe step and adjustments).
          std::vector<float> pixels;
          if (b.isUint8) {
            pixels.resize(b.pixelsU8.size());
            const size_t sample = size_t(b.height * b.width);
            for (int64_t i = 0; i < b.size; ++i)
              image::PreprocessU8(b.pixelsU8.data() + size_t(i) * sample * 3, sample, b.preprocess,
                                  b.adjust.empty() ? nullptr : &b.adjust[size_t(i)], pixels.data() + size_t(i) * sample * 3);
          }
          StepInput in;
          in.n = b.size;
          in.h = b.height;
          in.w = b.width;
          in.c = b.channels;
          in.x = b.isUint8 ? pixels.data() : b.pixels.data();
          const int orientations = store->layout().orientations;
          std::vector<torch::Tensor> out(static_cast<size_t>(orientations));
          RunOnEngine(engine, threads, [&] {
            out[0] = engine->HeadInput(in);
            if (orientations == 2) {
              std::vector<float> mirrored(in.x, in.x + b.size * b.height * b.width * b.channels);
              const int64_t sample = b.height * b.width * b.channels;
              for (int64_t i = 0; i < b.size; ++i) features::MirrorImage(mirrored.data() + i * sample, int(b.height), int(b.width));
              in.x = mirrored.data();
              out[1] = engine->HeadInput(in);
            }
          });
          const int64_t values = store->valuesPerOrientation();
          if (out[0].numel() != b.size * values)
            throw std::runtime_error("the model's head input has " + std::to_string(out[0].numel() / std::max<int64_t>(b.size, 1)) +
                                     " values per image but the cache expects " + std::to_string(values));
          std::vector<float> record(size_t(values * orientations));
          for (int64_t i = 0; i < b.size; ++i) {
            for (int o = 0; o < orientations; ++o)
              std::memcpy(record.data() + o * values, out[size_t(o)].data_ptr<float>() + i * values, size_t(values) * sizeof(float));
            store->Write(records[size_t(i)], record.data());
          }
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value MarkFailed(const Napi::CallbackInfo& info) {
    StorePtr store = Live(info.Env());
    const int64_t r = info[0].As<Napi::Number>().Int64Value();
    if (r < 0 || r >= store->layout().records) throw Napi::RangeError::New(info.Env(), "record is outside the cache");
    store->MarkFailed(r);
    return info.Env().Undefined();
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    try {
      Live(info.Env())->Flush();
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (store_) store_->Close();  // now, not when the batchers are collected: the file stays locked while open
    store_.reset();
    return info.Env().Undefined();
  }

  StorePtr store_;
};

Napi::FunctionReference* FeatureStoreWrap::constructor = nullptr;

void DeleteStorePtr(Napi::Env, StorePtr* p) { delete p; }

// openFeatureStore({ path, key, records, orientations, shape, dtype, identities }) ->
// Promise<{ store, report }>; checks every record's checksum off the main thread.
Napi::Value OpenFeatureStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Expected feature cache options");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string path = GetString(o, "path", "");
  const features::StoreLayout layout = ReadLayout(o);
  Napi::Value ids = o.Get("identities");
  if (!ids.IsTypedArray() || ids.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    throw Napi::TypeError::New(env, "Expected BigUint64Array for identities");
  auto idArray = ids.As<Napi::TypedArrayOf<uint64_t>>();
  std::vector<uint64_t> identities(idArray.Data(), idArray.Data() + idArray.ElementLength());
  using R = std::pair<StorePtr, features::OpenReport>;
  return RunAsync<R>(
      env,
      [path, layout, identities] {
        R r;
        r.first = FeatureStore::Open(path, layout, identities, &r.second);
        return r;
      },
      [](Napi::Env env, R& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("store", FeatureStoreWrap::constructor->New({Napi::External<StorePtr>::New(env, new StorePtr(r.first), DeleteStorePtr)}));
        Napi::Object report = Napi::Object::New(env);
        report.Set("created", r.second.created);
        report.Set("ready", double(r.second.ready));
        report.Set("failed", double(r.second.failed));
        report.Set("changed", double(r.second.changed));
        report.Set("corrupt", double(r.second.corrupt));
        out.Set("report", report);
        return out;
      });
}

Napi::Value FeatureStoreBytes(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "Expected a feature cache layout");
  return Napi::Number::New(info.Env(), double(FeatureStore::FileBytes(ReadLayout(info[0].As<Napi::Object>()))));
}

class FeatureBatcherWrap : public Napi::ObjectWrap<FeatureBatcherWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFeatureBatcher",
                       {InstanceMethod("batch", &FeatureBatcherWrap::MakeBatch), InstanceAccessor("length", &FeatureBatcherWrap::Length, nullptr)});
  }

  explicit FeatureBatcherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FeatureBatcherWrap>(info) {
    Napi::Env env = info.Env();
    StorePtr store = FeatureStoreWrap::StoreOf(info[0]);
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "new NativeFeatureBatcher(store, options)");
    Napi::Object o = info[1].As<Napi::Object>();
    features::FeatureBatchOptions options;
    options.labels = GetNumbers<int32_t>(env, o.Get("labels"), "labels");
    options.sampleWeights = GetNumbers<float>(env, o.Get("sampleWeights"), "sampleWeights");
    options.files = GetStrings(env, o.Get("files"), "files");
    options.batchSize = GetInt(o, "batchSize", 32);
    options.shuffle = GetBool(o, "shuffle", true);
    options.seed = uint64_t(GetNumber(o, "seed", 0));
    options.flip = GetBool(o, "flip", false);
    options.augmentProbability = GetNumber(o, "augmentP", 0.7);
    try {
      batcher_ = std::make_unique<features::FeatureBatcher>(store, std::move(options));
    } catch (const std::exception& e) {
      throw Napi::TypeError::New(env, e.what());
    }
  }

 private:
  Napi::Value MakeBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      return BatchToObject(env, batcher_->Make(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(batcher_->BatchesPerEpoch())); }

  std::unique_ptr<features::FeatureBatcher> batcher_;
};

}  // namespace

void InitFeatures(Napi::Env env, Napi::Object exports) {
  FeatureStoreWrap::Init(env, exports);
  exports.Set("NativeFeatureBatcher", FeatureBatcherWrap::Define(env));
  exports.Set("openFeatureStore", Napi::Function::New(env, OpenFeatureStore, "openFeatureStore"));
  exports.Set("featureStoreBytes", Napi::Function::New(env, FeatureStoreBytes, "featureStoreBytes"));
}

}  // namespace carclass
