// Shared binding helpers: promise-returning async work ("baton" pattern) and batch handles.
// Execute() runs on the libuv pool and touches no Node-API; errors come back as strings.
#pragma once
#include <c10/util/Exception.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loader/batch.h"

namespace carclass {

// An out-of-memory (GPU, or CPU RAM) names the fix instead of dumping LibTorch's C++ backtrace.
inline std::string OutOfMemoryMessage(const c10::OutOfMemoryError& e) {
  std::string first = e.what_without_backtrace();
  const auto nl = first.find('\n');
  if (nl != std::string::npos) first.resize(nl);
  return "Out of memory: " + first + ". Try a smaller --batch-size (batchSize), a smaller input --size, or --precision bf16.";
}

// Runs `work` off the main thread and resolves with `done(env, result)`.
// `work` may throw std::exception; its message rejects the promise as an Error.
template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Done = std::function<Napi::Value(Napi::Env, Result&)>;
  PromiseWorker(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      result_ = work_();
    } catch (const c10::OutOfMemoryError& e) {
      SetError(OutOfMemoryMessage(e));
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  Result result_{};
};

template <typename Result>
Napi::Promise RunAsync(Napi::Env env, typename PromiseWorker<Result>::Work work,
                       typename PromiseWorker<Result>::Done done) {
  auto* worker = new PromiseWorker<Result>(env, std::move(work), std::move(done));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Batches cross into JS as type-tagged externals holding a shared_ptr, so the engine can
// take the loader's buffer without a copy and without trusting arbitrary objects.
Napi::Value WrapBatch(Napi::Env env, BatchPtr batch);
// Throws a Napi::TypeError when `value` is not a batch handle (an Error once released).
BatchPtr UnwrapBatch(Napi::Value value);
// Drops the handle's reference now instead of at garbage collection (buffers go back to the
// loader's pool); later UnwrapBatch calls on it throw.
void ReleaseBatch(Napi::Value value);

// Small conversion helpers that throw TypeError with the field name.
std::vector<std::string> GetStrings(Napi::Env env, Napi::Value value, const char* name);
// Undefined/null gives an empty vector.
template <typename T>
std::vector<T> GetNumbers(Napi::Env env, Napi::Value value, const char* name) {
  std::vector<T> out;
  if (value.IsUndefined() || value.IsNull()) return out;
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string("Expected array of numbers for ") + name);
  Napi::Array array = value.As<Napi::Array>();
  out.resize(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected array of numbers for ") + name);
    out[i] = T(v.As<Napi::Number>().DoubleValue());
  }
  return out;
}

// A batch as JS sees it: handle, size, shape, labels, indices, files, sampleWeights?.
Napi::Object BatchToObject(Napi::Env env, const BatchPtr& batch);

int64_t GetInt(const Napi::Object& obj, const char* key, int64_t fallback);
double GetNumber(const Napi::Object& obj, const char* key, double fallback);
std::string GetString(const Napi::Object& obj, const char* key, const std::string& fallback);
bool GetBool(const Napi::Object& obj, const char* key, bool fallback);

class Engine;
// The engine behind a NativeModel object (TypeError for anything else).
std::shared_ptr<Engine> UnwrapEngine(Napi::Value nativeModel);
// Runs `work` on the compute thread with the engine's lock held and `threads` LibTorch threads
// (from a worker thread, never the main thread).
void RunOnEngine(const std::shared_ptr<Engine>& engine, int threads, const std::function<void()>& work);

// Each concern registers its exports here (see addon.cc).
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitImage(Napi::Env env, Napi::Object exports);
void InitLoader(Napi::Env env, Napi::Object exports);
void InitModel(Napi::Env env, Napi::Object exports);
void InitFeatures(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);

}  // namespace carclass
