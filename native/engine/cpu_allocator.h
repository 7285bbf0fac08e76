// A caching LibTorch CPU allocator. Every step allocates the same activation sizes again; with glibc,
// blocks that large are mmap'ed or trimmed on free (the executor thread has its own arena), so each
// step page-faults its whole working set back in (~0.3 s of kernel time per ResNet50V2 batch).
// Freed large blocks are kept, keyed by exact size, and handed out again.
#pragma once

namespace carclass {

// Installs the allocator as LibTorch's CPU allocator (idempotent). CARCLASS_CPU_CACHE_MB sets the cap on
// cached free bytes (default 2048; 0 leaves LibTorch's default allocator in place).
void InstallCachingCpuAllocator();

}  // namespace carclass
