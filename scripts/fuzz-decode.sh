#!/usr/bin/env bash
# Fuzzes the JPEG, PNG and BMP decoders (native/image) with libFuzzer (clang, ASan + UBSan) on a corpus that grows run
# after run, and appends the run's executions and findings to fuzz/README.md.
#   bash scripts/fuzz-decode.sh [seconds]       # default 600; run it under `nice -n 19` on a shared machine
# The corpus lives in fuzz/corpus (git-ignored), seeded from shared/data/jpeg-corpus and cars-sample on the
# first run; a crash, leak or hang leaves its input in fuzz/findings/ and exits 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-600}"
data="${CARCLASS_SHARED_DATA:-}"
for candidate in "$data" "$root/../shared/data" /work/shared/data; do
  if [ -n "$candidate" ] && [ -d "$candidate/jpeg-corpus" ]; then data="$candidate"; break; fi
done
[ -d "$data/jpeg-corpus" ] || { echo "fuzz-decode: shared/data not found (set CARCLASS_SHARED_DATA)"; exit 2; }
command -v clang++ >/dev/null 2>&1 || { echo "fuzz-decode: clang++ not found (apt-get install -y clang libclang-rt-14-dev)"; exit 2; }

binary=build/fuzz/fuzz_decode
sources=(scripts/fuzz-decode.sh native/tests/fuzz_decode.cc native/tests/fuzz_target.h native/image/*.cc native/image/*.h)
mkdir -p build/fuzz fuzz/corpus fuzz/findings
stale=0
[ -x "$binary" ] || stale=1
for source in "${sources[@]}"; do [ "$source" -nt "$binary" ] && stale=1; done
if [ "$stale" = 1 ]; then
  echo "fuzz-decode: building $binary"
  clang++ -std=c++17 -gline-tables-only -O2 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Inative -o "$binary" native/tests/fuzz_decode.cc native/image/jpeg.cc native/image/png.cc native/image/bmp.cc native/image/decode.cc \
    native/image/transform.cc -lturbojpeg -ljpeg -lpng
fi
if [ -z "$(ls -A fuzz/corpus)" ]; then cp "$data"/jpeg-corpus/*.jpg "$data"/cars-sample/*.jpg fuzz/corpus/; fi
# PNG and BMP seeds made by the project (the fixtures' generators), added once.
if [ ! -e fuzz/corpus/.png-bmp-seeded ]; then
  mkdir -p build/png-seeds build/bmp-seeds
  node test/helpers/png-fixtures.js build/png-seeds && node test/helpers/bmp-fixtures.js build/bmp-seeds
  cp -n build/png-seeds/*.png build/bmp-seeds/*.bmp fuzz/corpus/ && touch fuzz/corpus/.png-bmp-seeded
fi

before=$(ls fuzz/corpus | wc -l)
log=build/fuzz/libfuzzer-$(date -u +%Y%m%dT%H%M%S).log
status=0
# One worker, no forks: the machine is shared. -timeout turns a hang into a finding.
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix=fuzz/findings/ fuzz/corpus 2>"$log" || status=$?
after=$(ls fuzz/corpus | wc -l)
executions=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
if [ -z "$executions" ]; then executions=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || echo 0); fi
finding=none
if [ "$status" != 0 ]; then
  artifact=$(grep -oE 'fuzz/findings/[A-Za-z0-9_-]+' "$log" | tail -1 || true)
  kind=$(grep -oE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer): [a-z-]+' "$log" | head -1 || true)
  finding="${kind:-exit $status} ${artifact:-(see $log)}"
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
row="| $(date -u +%Y-%m-%dT%H:%MZ) | $commit | $seconds | $executions | $before -> $after | $finding |"
echo "$row" >>fuzz/README.md
echo "fuzz-decode: $executions executions in ${seconds}s, corpus $before -> $after, findings: $finding (log: $log)"
total=$(grep -E '^\| 20' fuzz/README.md | awk -F'|' '{ s += $5 } END { print s + 0 }')
echo "fuzz-decode: $total executions recorded in fuzz/README.md"
[ "$status" = 0 ] || { tail -40 "$log"; exit 1; }
