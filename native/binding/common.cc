#include "binding/common.h"

#include <cstring>

namespace carclass {

namespace {
// Random 128-bit tag identifying carclass batch externals (napi_type_tag_object).
const napi_type_tag kBatchTag = {0x6361726373617373ULL, 0x62617463685f7631ULL};

// Pixel bytes are reported to V8 so that garbage collection keeps up with large batches
// that are only small objects on the JS heap.
int64_t PixelBytes(const Batch& batch) {
  return int64_t(batch.pixels.size() * sizeof(float) + batch.pixelsU8.size());
}

void DeleteBatch(Napi::Env env, BatchPtr* holder) {
  if (*holder) Napi::MemoryManagement::AdjustExternalMemory(env, -PixelBytes(**holder));
  delete holder;
}
}  // namespace

Napi::Value WrapBatch(Napi::Env env, BatchPtr batch) {
  if (batch) Napi::MemoryManagement::AdjustExternalMemory(env, PixelBytes(*batch));
  auto holder = new BatchPtr(std::move(batch));
  auto external = Napi::External<BatchPtr>::New(env, holder, DeleteBatch);
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, external, &kBatchTag), Napi::Value());
  return external;
}

namespace {
BatchPtr* BatchHolder(Napi::Value value) {
  Napi::Env env = value.Env();
  bool tagged = false;
  if (value.IsExternal()) {
    napi_check_object_type_tag(env, value, &kBatchTag, &tagged);
  }
  if (!tagged) throw Napi::TypeError::New(env, "Expected a carclass batch handle");
  return value.As<Napi::External<BatchPtr>>().Data();
}
}  // namespace

BatchPtr UnwrapBatch(Napi::Value value) {
  BatchPtr batch = *BatchHolder(value);
  if (!batch) throw Napi::Error::New(value.Env(), "This batch was released");
  return batch;
}

void ReleaseBatch(Napi::Value value) {
  BatchPtr* holder = BatchHolder(value);
  if (!*holder) return;
  Napi::MemoryManagement::AdjustExternalMemory(value.Env(), -PixelBytes(**holder));
  holder->reset();
}

int64_t GetInt(const Napi::Object& obj, const char* key, int64_t fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(obj.Env(), std::string("Expected number for ") + key);
  return v.As<Napi::Number>().Int64Value();
}

double GetNumber(const Napi::Object& obj, const char* key, double fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(obj.Env(), std::string("Expected number for ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

std::string GetString(const Napi::Object& obj, const char* key, const std::string& fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw Napi::TypeError::New(obj.Env(), std::string("Expected string for ") + key);
  return v.As<Napi::String>().Utf8Value();
}

bool GetBool(const Napi::Object& obj, const char* key, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw Napi::TypeError::New(obj.Env(), std::string("Expected boolean for ") + key);
  return v.As<Napi::Boolean>().Value();
}

std::vector<std::string> GetStrings(Napi::Env env, Napi::Value value, const char* name) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string("Expected array of strings for ") + name);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, std::string("Expected array of strings for ") + name);
    out[i] = v.As<Napi::String>().Utf8Value();
  }
  return out;
}

Napi::Object BatchToObject(Napi::Env env, const BatchPtr& batch) {
  Napi::Object out = Napi::Object::New(env);
  const size_t n = size_t(batch->size);
  auto labels = Napi::Int32Array::New(env, n);
  auto indices = Napi::Int32Array::New(env, n);
  Napi::Array files = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    labels[i] = batch->labels[i];
    indices[i] = int32_t(batch->indices[i]);
    files.Set(uint32_t(i), batch->files[i]);
  }
  out.Set("labels", labels);
  out.Set("indices", indices);
  out.Set("files", files);
  if (!batch->sampleWeights.empty()) {
    auto weights = Napi::Float32Array::New(env, n);
    std::memcpy(weights.Data(), batch->sampleWeights.data(), n * sizeof(float));
    out.Set("sampleWeights", weights);
  }
  out.Set("size", double(batch->size));
  out.Set("height", double(batch->height));
  out.Set("width", double(batch->width));
  out.Set("channels", double(batch->channels));
  out.Set("epoch", double(batch->epoch));
  out.Set("number", double(batch->number));
  // 'uint8' batches still carry their preprocessing: data() and the engine apply it.
  out.Set("format", batch->isUint8 && batch->preprocess != image::Preprocess::None ? "uint8" : batch->isUint8 ? "none" : "float32");
  out.Set("handle", WrapBatch(env, batch));
  return out;
}

}  // namespace carclass
