#include "binding/common.h"

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

}  // namespace carclass
