// Counter-based randomness: every draw is a pure function of (seed, stream, counter), so results
// do not depend on thread count or on the order in which images are processed.
#pragma once
#include <cmath>
#include <cstdint>

namespace carclass::image {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Hashes a key tuple into one 64-bit stream key; distinct `domain`s keep shuffling and
// augmentation draws independent.
inline uint64_t StreamKey(uint64_t seed, uint64_t domain, uint64_t epoch, uint64_t index) {
  uint64_t h = SplitMix64(seed ^ 0x6361726372616E64ULL);
  h = SplitMix64(h ^ domain);
  h = SplitMix64(h ^ epoch);
  return SplitMix64(h ^ index);
}

class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}
  uint64_t NextU64() { return SplitMix64(key_ ^ SplitMix64(counter_++)); }
  // Uniform in [0, 1) with 24 random bits: exactly representable as float.
  double NextUnit() { return double(NextU64() >> 40) * (1.0 / 16777216.0); }
  // Uniform in [0, bound) without modulo bias (rejection sampling).
  uint64_t NextBelow(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do r = NextU64(); while (r >= limit);
    return r % bound;
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

enum RandomDomain : uint64_t { kDomainShuffle = 1, kDomainAugment = 2 };

}  // namespace carclass::image
