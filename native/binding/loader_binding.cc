// Loader object: next() resolves with a batch (handle + metadata) or null at epoch end.
// The wait for a batch runs on the libuv pool, so the event loop never blocks.
#include <cstring>
#include <memory>

#include "binding/common.h"
#include "loader/loader.h"

namespace carclass {

namespace {

// What NextAsync answered, carried to the main thread.
struct NextAnswer {
  BatchPtr batch;
  std::string error;  // "CODE|message" when the iteration rejects
};

void SettleNext(Napi::Env env, Napi::Function, Napi::Promise::Deferred* pending, NextAnswer* answer) {
  std::unique_ptr<NextAnswer> owned(answer);
  if (!env) return;  // Node is shutting down
  if (!owned->error.empty()) {
    pending->Reject(Napi::Error::New(env, owned->error).Value());
  } else if (!owned->batch) {
    pending->Resolve(env.Null());
  } else {
    try {
      pending->Resolve(BatchToObject(env, owned->batch));
    } catch (const Napi::Error& e) {
      pending->Reject(e.Value());
    }
  }
}

using NextDelivery = Napi::TypedThreadSafeFunction<Napi::Promise::Deferred, NextAnswer, SettleNext>;

class LoaderWrap : public Napi::ObjectWrap<LoaderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLoader",
                       {InstanceMethod("startEpoch", &LoaderWrap::StartEpoch), InstanceMethod("next", &LoaderWrap::Next),
                        InstanceMethod("cancel", &LoaderWrap::Cancel), InstanceMethod("close", &LoaderWrap::Close),
                        InstanceMethod("stats", &LoaderWrap::Stats), InstanceMethod("batchesFrom", &LoaderWrap::BatchesFrom),
                        InstanceAccessor("length", &LoaderWrap::Length, nullptr)});
  }

  explicit LoaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoaderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new NativeLoader(options)");
    Napi::Object o = info[0].As<Napi::Object>();
    loader::LoaderOptions options;
    options.files = GetStrings(env, o.Get("files"), "files");
    options.labels = GetNumbers<int32_t>(env, o.Get("labels"), "labels");
    options.sampleWeights = GetNumbers<float>(env, o.Get("sampleWeights"), "sampleWeights");
    options.batchSize = GetInt(o, "batchSize", 32);
    options.height = int(GetInt(o, "height", 224));
    options.width = int(GetInt(o, "width", 224));
    options.decode.lenient = GetBool(o, "lenient", false);
    options.decode.maxPixels = GetInt(o, "maxPixels", options.decode.maxPixels);
    options.decode.maxFileBytes = GetInt(o, "maxFileBytes", options.decode.maxFileBytes);
    options.shuffle = GetBool(o, "shuffle", true);
    options.seed = uint64_t(GetNumber(o, "seed", 0));
    options.augment = GetBool(o, "augment", false);
    options.augmentProbability = GetNumber(o, "augmentP", 0.7);
    options.augmentFlip = GetBool(o, "augmentFlip", true);
    options.augmentBrightness = GetBool(o, "augmentBrightness", true);
    options.augmentContrast = GetBool(o, "augmentContrast", true);
    options.mirror = GetBool(o, "mirror", false);
    options.threads = int(GetInt(o, "threads", 1));
    options.prefetch = int(GetInt(o, "prefetch", 2));
    options.skipErrors = GetString(o, "onError", "skip") != "throw";
    options.dropRemainder = GetBool(o, "dropRemainder", false);
    options.uint8Batches = GetBool(o, "uint8Batches", false);
    options.shardIndex = int(GetInt(o, "shardIndex", 0));
    options.shardCount = int(GetInt(o, "shardCount", 1));
    try {
      options.decode.dct = image::ParseDct(GetString(o, "dct", "fast"));
      options.resize = image::ParseResize(GetString(o, "resize", "crop_or_pad"));
      options.preprocess = image::ParsePreprocess(GetString(o, "preprocess", "tf"));
      loader_ = std::make_shared<loader::Loader>(std::move(options));
    } catch (const std::exception& e) {
      throw Napi::TypeError::New(env, e.what());
    }
  }

 private:
  loader::Loader& Live(Napi::Env env) {
    if (!loader_) throw Napi::Error::New(env, "LOADER_CLOSED|the loader is closed");
    return *loader_;
  }

  Napi::Value StartEpoch(const Napi::CallbackInfo& info) {
    const int64_t epoch = info[0].As<Napi::Number>().Int64Value();
    const int64_t firstBatch = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    const int64_t skipItems = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
    try {
      return Napi::Number::New(info.Env(), double(Live(info.Env()).StartEpoch(epoch, firstBatch, skipItems)));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }

  // Resolves when the loader has the batch. Nothing waits on the libuv pool: the loader thread
  // that finishes the batch hands it to the main thread through a thread-safe function.
  Napi::Value Next(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint64_t token = uint64_t(info[0].As<Napi::Number>().DoubleValue());
    Live(env);
    auto deferred = Napi::Promise::Deferred::New(env);
    NextDelivery delivery = NextDelivery::New(env, "carclass.loader.next", 0, 1, new Napi::Promise::Deferred(deferred),
                                              [](Napi::Env, void*, Napi::Promise::Deferred* pending) { delete pending; });
    loader_->NextAsync(token, [delivery](BatchPtr batch, std::exception_ptr error) mutable {
      auto* answer = new NextAnswer{std::move(batch), {}};
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          answer->error = e.what();
        } catch (...) {
          answer->error = "unknown native error";
        }
      }
      if (delivery.NonBlockingCall(answer) != napi_ok) delete answer;  // only when Node is shutting down
      delivery.Release();
    });
    return deferred.Promise();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (loader_) loader_->Cancel(uint64_t(info[0].As<Napi::Number>().DoubleValue()));
    return info.Env().Undefined();
  }

  // Joins the worker threads (at most one image each in flight) and frees queued batches.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (loader_) {
      loader_->Close();
      closedStats_ = loader_->Stats();
      lengthAfterClose_ = loader_->BatchesPerEpoch();
      loader_.reset();
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    loader::LoaderStats stats = loader_ ? loader_->Stats() : closedStats_;
    Napi::Object out = Napi::Object::New(env);
    out.Set("images", double(stats.images));
    out.Set("batches", double(stats.batches));
    out.Set("imagesPerSecond", stats.imagesPerSecond);
    Napi::Array errors = Napi::Array::New(env, stats.errors.size());
    for (size_t i = 0; i < stats.errors.size(); ++i) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("file", stats.errors[i].file);
      e.Set("code", stats.errors[i].code);
      e.Set("reason", stats.errors[i].reason);
      errors.Set(uint32_t(i), e);
    }
    out.Set("errors", errors);
    return out;
  }

  Napi::Value BatchesFrom(const Napi::CallbackInfo& info) {
    const int64_t skipItems = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 0;
    return Napi::Number::New(info.Env(), double(Live(info.Env()).BatchesFrom(skipItems)));
  }

  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(loader_ ? loader_->BatchesPerEpoch() : lengthAfterClose_));
  }

  std::shared_ptr<loader::Loader> loader_;
  loader::LoaderStats closedStats_;
  int64_t lengthAfterClose_ = 0;
};

// batchPixels(handle): a copy of the pixels as Float32Array (Uint8Array for preprocess 'none');
// a uint8 batch is preprocessed and adjusted on the way, as the engine would.
Napi::Value BatchPixels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchPtr batch = UnwrapBatch(info[0]);
  if (batch->isUint8 && batch->preprocess != image::Preprocess::None) {
    const size_t sample = size_t(batch->height * batch->width);
    auto out = Napi::Float32Array::New(env, batch->pixelsU8.size());
    for (int64_t i = 0; i < batch->size; ++i) {
      const image::SampleAdjust* adjust = batch->adjust.empty() ? nullptr : &batch->adjust[size_t(i)];
      image::PreprocessU8(batch->pixelsU8.data() + size_t(i) * sample * 3, sample, batch->preprocess, adjust,
                          out.Data() + size_t(i) * sample * 3);
    }
    return out;
  }
  if (batch->isUint8) {
    auto out = Napi::Uint8Array::New(env, batch->pixelsU8.size());
    std::memcpy(out.Data(), batch->pixelsU8.data(), batch->pixelsU8.size());
    return out;
  }
  auto out = Napi::Float32Array::New(env, batch->pixels.size());
  std::memcpy(out.Data(), batch->pixels.data(), batch->pixels.size() * sizeof(float));
  return out;
}

Napi::Value ReleaseBatchFn(const Napi::CallbackInfo& info) {
  ReleaseBatch(info[0]);
  return info.Env().Undefined();
}

}  // namespace

void InitLoader(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLoader", LoaderWrap::Define(env));
  exports.Set("batchPixels", Napi::Function::New(env, BatchPixels, "batchPixels"));
  exports.Set("releaseBatch", Napi::Function::New(env, ReleaseBatchFn, "releaseBatch"));
}

}  // namespace carclass
