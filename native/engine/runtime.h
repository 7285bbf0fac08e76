// Process-wide runtime facts and settings: library versions, threads, CUDA devices, BLAS speed.
#pragma once
#include <string>
#include <vector>

namespace carclass {

struct CudaDevice {
  int index = 0;
  std::string name;       // "NVIDIA H200" in CUDA builds, else "cuda:N"
  double memoryGiB = 0;   // total device memory; 0 when unknown
  std::string capability; // "9.0"; empty when unknown
};

struct RuntimeInfo {
  std::string torch;
  std::string torchBuild;   // "CPU" or "CUDA 12.4", from LibTorch's build configuration
  long cudnnVersion = 0;    // 0 when LibTorch has no cuDNN
  std::string nccl;         // "2.21.5" when built against a CUDA LibTorch with NCCL, else empty
  std::string libjpegTurbo;
  bool cudaAvailable = false;
  std::vector<CudaDevice> cudaDevices;
  int threads = 0;
  int blasThreads = 0;  // OpenBLAS's own pool; 0 when the BLAS is not OpenBLAS
};

RuntimeInfo GetRuntimeInfo();
// Sets LibTorch's intra-op threads (LibTorch's own default here is 1), and OpenBLAS's where it is
// the BLAS. n must be >= 1.
void SetThreads(int n);
int GetThreads();
// OpenBLAS's own thread count; 0 when the BLAS is not OpenBLAS.
int GetBlasThreads();
// Median GFLOP/s of an n x n float32 matrix product over `repeats` runs.
double MeasureGemmGflops(int n, int repeats);

}  // namespace carclass
