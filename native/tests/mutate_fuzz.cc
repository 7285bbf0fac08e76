// Deterministic mutation fuzzer for when libFuzzer (clang) is unavailable: mutates seed files
// with a counter-based RNG and feeds them to the decode target. Usage: mutate_fuzz ITERATIONS FILE...
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "image/random.h"
#include "tests/fuzz_target.h"

using carclass::image::CounterRng;

static std::vector<uint8_t> Mutate(std::vector<uint8_t> bytes, CounterRng& rng) {
  const int edits = 1 + int(rng.NextBelow(8));
  for (int e = 0; e < edits && !bytes.empty(); ++e) {
    const size_t at = size_t(rng.NextBelow(bytes.size()));
    switch (rng.NextBelow(6)) {
      case 0: bytes[at] ^= uint8_t(1u << rng.NextBelow(8)); break;                 // bit flip
      case 1: bytes[at] = uint8_t(rng.NextU64()); break;                             // random byte
      case 2: bytes[at] = rng.NextBelow(2) ? 0xFF : 0x00; break;                     // marker-ish byte
      case 3: bytes.resize(at + 1); break;                                            // truncate
      case 4: {                                                                       // duplicate a chunk
        const size_t len = std::min<size_t>(bytes.size() - at, 1 + rng.NextBelow(64));
        std::vector<uint8_t> chunk(bytes.begin() + long(at), bytes.begin() + long(at + len));
        bytes.insert(bytes.begin() + long(rng.NextBelow(bytes.size())), chunk.begin(), chunk.end());
        break;
      }
      default: {                                                                      // big 16-bit value (sizes)
        if (at + 1 < bytes.size()) { bytes[at] = uint8_t(rng.NextU64()); bytes[at + 1] = 0xFF; }
      }
    }
  }
  return bytes;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ITERATIONS FILE...\n", argv[0]);
    return 2;
  }
  const long iterations = std::atol(argv[1]);
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 2; i < argc; ++i) {
    std::vector<uint8_t> bytes;
    try {
      carclass::image::ReadFile(argv[i], bytes);
      seeds.push_back(std::move(bytes));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "skip %s: %s\n", argv[i], e.what());
    }
  }
  if (seeds.empty()) return 2;
  CounterRng rng(0xF022);
  for (long i = 0; i < iterations; ++i) {
    std::vector<uint8_t> input = Mutate(seeds[size_t(rng.NextBelow(seeds.size()))], rng);
    carclass::fuzz::DecodeTarget(input.data(), input.size());
    if ((i + 1) % 10000 == 0) std::fprintf(stderr, "mutate_fuzz: %ld inputs\n", i + 1);
  }
  std::printf("mutate_fuzz: %ld mutated inputs from %zu seeds, no crash\n", iterations, seeds.size());
  return 0;
}
