#include "engine/cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

namespace carclass {

namespace {

// Small blocks come from glibc's bins without faults; only large ones are worth keeping.
constexpr size_t kMinCachedBytes = 256 * 1024;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator(size_t capBytes, size_t failAtBytes) : capBytes_(capBytes), failAtBytes_(failAtBytes) {}

  // LibTorch 1.13 declares allocate() const; 2.x made it non-const and added a pure copy_data().
  // Both signatures are defined without `override`, so whichever the base declares is overridden.
  c10::DataPtr allocate(size_t nbytes) const { return Wrap(Allocate(nbytes)); }
  c10::DataPtr allocate(size_t nbytes) { return Wrap(Allocate(nbytes)); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  c10::DeleterFnPtr raw_deleter() const override { return &Free; }

  static CachingCpuAllocator* instance;

 private:
  static c10::DataPtr Wrap(void* p) { return {p, p, &Free, c10::Device(c10::DeviceType::CPU)}; }

  void* Allocate(size_t nbytes) const {
    if (nbytes >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(nbytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cachedBytes_ -= nbytes;
        live_[p] = nbytes;
        return p;
      }
    }
    // CARCLASS_TEST_FAIL_ALLOC_MB: allocations of at least that size fail as a full memory would, so
    // tests reach the out-of-memory path (one line, "smaller --batch-size") without exhausting memory.
    TORCH_CHECK_WITH(OutOfMemoryError, failAtBytes_ == 0 || nbytes < failAtBytes_, "CPU out of memory: tried to allocate ",
                     nbytes, " bytes (CARCLASS_TEST_FAIL_ALLOC_MB)");
    void* p = nullptr;
    try {
      p = c10::alloc_cpu(nbytes);
    } catch (const c10::OutOfMemoryError&) {
      throw;
    } catch (const c10::Error& e) {  // a failed malloc: the same one-line handling as a GPU's out-of-memory
      TORCH_CHECK_WITH(OutOfMemoryError, false, e.what_without_backtrace());
    }
    if (nbytes >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_[p] = nbytes;
    }
    return p;
  }

  static void Free(void* p) {
    if (!p) return;
    CachingCpuAllocator& self = *instance;
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      auto it = self.live_.find(p);
      if (it != self.live_.end()) {
        const size_t size = it->second;
        self.live_.erase(it);
        if (self.cachedBytes_ + size <= self.capBytes_) {
          self.free_.emplace(size, p);
          self.cachedBytes_ += size;
          return;
        }
      }
    }
    c10::free_cpu(p);
  }

  const size_t capBytes_;
  const size_t failAtBytes_;  // 0: never
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;       // cached blocks by exact size
  mutable std::unordered_map<void*, size_t> live_;  // large blocks handed out, with their size
  mutable size_t cachedBytes_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

}  // namespace

void InstallCachingCpuAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    size_t capMb = 2048;
    if (const char* env = std::getenv("CARCLASS_CPU_CACHE_MB")) capMb = std::strtoull(env, nullptr, 10);
    if (capMb == 0) return;
    // Never destroyed: tensors may be freed during process exit.
    size_t failMb = 0;
    if (const char* env = std::getenv("CARCLASS_TEST_FAIL_ALLOC_MB")) failMb = std::strtoull(env, nullptr, 10);
    CachingCpuAllocator::instance = new CachingCpuAllocator(capMb << 20, failMb << 20);
    c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/1);
  });
}

}  // namespace carclass
