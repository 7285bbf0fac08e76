// libFuzzer harness: clang++ -fsanitize=fuzzer,address,undefined (see scripts/check-native.sh).
#include "tests/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return carclass::fuzz::DecodeTarget(data, size);
}
