#include "binding/common.h"
#include "engine/runtime.h"
#include "model/conv1x1.h"

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
  out.Set("blasThreads", r.blasThreads);
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

// Self-check of the oneDNN 1x1 convolution detour against at::conv2d (forward and gradients).
Napi::Value Conv1x1Check(const Napi::CallbackInfo& info) {
  auto arg = [&info](size_t i, int64_t fallback) { return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int64Value() : fallback; };
  const int64_t n = arg(0, 4), cin = arg(1, 64), cout = arg(2, 32), h = arg(3, 13), w = arg(4, 17), stride = arg(5, 1), seed = arg(6, 1);
  const bool bias = !(info.Length() > 7 && info[7].IsBoolean() && !info[7].As<Napi::Boolean>().Value());
  if (n < 1 || cin < 1 || cout < 1 || h < 1 || w < 1 || stride < 1) throw Napi::RangeError::New(info.Env(), "conv1x1Check: sizes and stride must be positive");
  return RunAsync<Conv1x1Agreement>(
      info.Env(), [=] { return CheckOneDnnConv1x1(n, cin, cout, h, w, stride, bias, static_cast<uint64_t>(seed)); },
      [](Napi::Env env, Conv1x1Agreement& a) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("output", a.output);
        o.Set("inputGrad", a.inputGrad);
        o.Set("weightGrad", a.weightGrad);
        o.Set("biasGrad", a.biasGrad);
        o.Set("active", OneDnnConv1x1Active());
        return o;
      });
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreadsJs, "setThreads"));
  exports.Set("gemmGflops", Napi::Function::New(env, GemmGflops, "gemmGflops"));
  exports.Set("conv1x1Check", Napi::Function::New(env, Conv1x1Check, "conv1x1Check"));
}

}  // namespace carclass
