#include "engine/runtime.h"

#include <jconfig.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

// Set by CMake when the LibTorch found is a CUDA build (its config brings the CUDA toolkit).
#ifdef CARCLASS_WITH_CUDA
#include <cuda_runtime_api.h>
#endif
#ifdef CARCLASS_WITH_NCCL_VERSION
#include <torch/csrc/cuda/nccl.h>
#endif

#define CARCLASS_STR2(x) #x
#define CARCLASS_STR(x) CARCLASS_STR2(x)

namespace carclass {

// "CUDA 12.4" when the build configuration names a CUDA runtime, else "CPU". LibTorch lists the
// runtime only while a GPU is visible; its build settings name CUDA_VERSION either way.
static std::string TorchBuild(const std::string& config) {
  for (const std::string key : {"CUDA Runtime ", "CUDA_VERSION="}) {
    const auto at = config.find(key);
    if (at == std::string::npos) continue;
    const auto end = config.find_first_of("\n ,", at + key.size());
    const std::string version = config.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    if (!version.empty()) return "CUDA " + version;
  }
  return "CPU";
}

RuntimeInfo GetRuntimeInfo() {
  RuntimeInfo info;
  info.torch = TORCH_VERSION;
  info.libjpegTurbo = CARCLASS_STR(LIBJPEG_TURBO_VERSION);
  info.torchBuild = TorchBuild(at::show_config());
  const auto& hooks = at::detail::getCUDAHooks();
  if (hooks.hasCuDNN()) info.cudnnVersion = hooks.versionCuDNN();
  info.cudaAvailable = torch::cuda::is_available();
  if (info.cudaAvailable) {
    int count = static_cast<int>(torch::cuda::device_count());
    for (int i = 0; i < count; ++i) {
      CudaDevice d;
      d.index = i;
      d.name = "cuda:" + std::to_string(i);
#ifdef CARCLASS_WITH_CUDA
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) {
        d.name = prop.name;
        d.memoryGiB = double(prop.totalGlobalMem) / double(1ull << 30);
        d.capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
      }
#endif
      info.cudaDevices.push_back(d);
    }
  }
#ifdef CARCLASS_WITH_NCCL_VERSION
  // LibTorch packs NCCL's compile-time version as major << 32 | minor << 16 | patch.
  const uint64_t v = torch::cuda::nccl::version();
  info.nccl = std::to_string(v >> 32) + "." + std::to_string((v >> 16) & 0xffff) + "." + std::to_string(v & 0xffff);
#endif
  info.threads = at::get_num_threads();
  info.blasThreads = GetBlasThreads();
  return info;
}

namespace {
// OpenBLAS keeps its own pool (one thread per core) that at::set_num_threads leaves alone: with
// several one-thread workers on a machine, each would still run every matrix product on all cores.
void* OpenBlasSymbol(const char* name) {
  if (void* symbol = dlsym(RTLD_DEFAULT, name)) return symbol;
  // Node loads the addon without RTLD_GLOBAL, so look in the BLAS LibTorch already loaded (Debian: libblas.so.3).
  for (const char* lib : {"libblas.so.3", "libopenblas.so.0"}) {
    if (void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD)) {
      void* symbol = dlsym(handle, name);
      dlclose(handle);  // drops only the reference RTLD_NOLOAD added
      if (symbol) return symbol;
    }
  }
  return nullptr;
}
}  // namespace

void SetThreads(int n) {
  if (n < 1) throw std::invalid_argument("threads must be a positive integer");
  at::set_num_threads(n);
  if (void* set = OpenBlasSymbol("openblas_set_num_threads")) reinterpret_cast<void (*)(int)>(set)(n);
}

int GetBlasThreads() {
  void* get = OpenBlasSymbol("openblas_get_num_threads");
  return get ? reinterpret_cast<int (*)()>(get)() : 0;
}

int GetThreads() { return at::get_num_threads(); }

double MeasureGemmGflops(int n, int repeats) {
  torch::NoGradGuard no_grad;
  auto a = torch::rand({n, n});
  auto b = torch::rand({n, n});
  auto c = torch::mm(a, b);  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(2.0 * n * n * static_cast<double>(n) / std::max(s, 1e-9) / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace carclass
