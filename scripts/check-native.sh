#!/usr/bin/env bash
# Leak check and fuzzing of the native image core and loader (no Node, no LibTorch involved).
#   1. builds native/tests (decode_check, mutate_fuzz) with -DCARCLASS_NATIVE_TESTS=ON
#   2. runs decode_check over the JPEG corpus, the sample cars and generated PNGs and BMPs under valgrind --leak-check=full
#   3. fuzzes the decoder: libFuzzer (clang, ASan+UBSan, scripts/fuzz-decode.sh) when available, and the
#      deterministic mutation fuzzer (g++, ASan+UBSan) in any case
# Env: FUZZ_SECONDS (libFuzzer time, default 60), FUZZ_ITERATIONS (mutation fuzzer, default 20000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
data="${CARCLASS_SHARED_DATA:-}"
for candidate in "$data" "$root/../shared/data" /work/shared/data; do
  if [ -n "$candidate" ] && [ -d "$candidate/jpeg-corpus" ]; then data="$candidate"; break; fi
done
[ -d "$data/jpeg-corpus" ] || { echo "check-native: shared/data not found (set CARCLASS_SHARED_DATA)"; exit 2; }
inputs=("$data"/jpeg-corpus/*.jpg "$data"/cars-sample/*.jpg)
# PNG seeds (palette, gray 1-16 bit, alpha, 16-bit RGB, interlaced) and BMP seeds (palettes, 16/24/32-bit, bit
# fields, V5/core headers) made by the project: test/helpers/png-fixtures.js, test/helpers/bmp-fixtures.js.
mkdir -p build/png-seeds build/bmp-seeds
node test/helpers/png-fixtures.js build/png-seeds
node test/helpers/bmp-fixtures.js build/bmp-seeds
inputs+=(build/png-seeds/*.png build/bmp-seeds/*.bmp)

echo "== build native tests"
if [ -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCARCLASS_NATIVE_TESTS=ON >/dev/null  # cmake-js does not re-run configure on its own
else
  CARCLASS_NATIVE_TESTS=1 node scripts/build-native.js
fi
cmake --build build --target decode_check mutate_fuzz

echo "== valgrind leak check"
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
  build/native/tests/decode_check "${inputs[@]}" 2>build/valgrind.log
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks" build/valgrind.log || true
echo "valgrind: ok (full log: build/valgrind.log)"

echo "== libFuzzer (corpus in fuzz/corpus grows run after run; each run is recorded in fuzz/README.md)"
if command -v clang++ >/dev/null 2>&1; then
  bash scripts/fuzz-decode.sh "${FUZZ_SECONDS:-60}"
else
  echo "clang++ not found: skipping libFuzzer (apt-get install -y clang libclang-rt-14-dev)"
fi

echo "== mutation fuzzer (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build/native/tests/mutate_fuzz "${FUZZ_ITERATIONS:-20000}" "${inputs[@]}" 2>build/mutate_fuzz.log | tail -1 \
  || { tail -40 build/mutate_fuzz.log; exit 1; }
echo "check-native: all passed"
