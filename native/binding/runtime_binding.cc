#include "binding/common.h"
#include "engine/runtime.h"

namespace carclass {
namespace {

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RuntimeInfo r = GetRuntimeInfo();
  Napi::Object out = Napi::Object::New(env);
  out.Set("torch", r.torch);
  out.Set("torchBuild", r.torchBuild);
  out.Set("cudnn", Napi::Number::New(env, static_cast<double>(r.cudnnVersion)));
  out.Set("libjpegTurbo", r.libjpegTurbo);
  out.Set("nccl", r.nccl);
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("available", r.cudaAvailable);
  Napi::Array devices = Napi::Array::New(env, r.cudaDevices.size());
  for (size_t i = 0; i < r.cudaDevices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", r.cudaDevices[i].index);
    d.Set("name", r.cudaDevices[i].name);
    d.Set("memoryGiB", r.cudaDevices[i].memoryGiB);
    d.Set("capability", r.cudaDevices[i].capability);
    devices.Set(static_cast<uint32_t>(i), d);
  }
  cuda.Set("devices", devices);
  out.Set("cuda", cuda);
  out.Set("threads", r.threads);
  return out;
}

Napi::Value SetThreadsJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Napi::TypeError::New(info.Env(), "Expected positive integer for threads");
  SetThreads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), GetThreads());
}

Napi::Value GemmGflops(const Napi::CallbackInfo& info) {
  int n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 512;
  int repeats = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 5;
  return RunAsync<double>(
      info.Env(), [n, repeats] { return MeasureGemmGflops(n, repeats); },
      [](Napi::Env env, double& g) { return Napi::Number::New(env, g); });
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreadsJs, "setThreads"));
  exports.Set("gemmGflops", Napi::Function::New(env, GemmGflops, "gemmGflops"));
}

}  // namespace carclass
