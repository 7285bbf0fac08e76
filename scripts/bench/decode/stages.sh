#!/usr/bin/env bash
# Per-stage cost of the loader's crop_or_pad + tf path (stages.cc) next to tjbench's decode loop on
# the same files in turn (tj_loop.cc), all on one thread.
#   scripts/bench/decode/stages.sh [FILE...]   (default: shared/data/cars-sample/*.jpg)
set -euo pipefail
source "$(dirname "$0")/files.sh"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cxx="${CXX:-g++}"
"$cxx" -O3 -DNDEBUG -std=c++17 -pthread -I"$root/native" -o "$out/stages" "$root/scripts/bench/decode/stages.cc" \
  "$root/native/image/jpeg.cc" "$root/native/image/transform.cc" "$root/native/loader/loader.cc" -lturbojpeg -ljpeg
"$cxx" -O2 -std=c++17 -o "$out/tj_loop" "$root/scripts/bench/decode/tj_loop.cc" -lturbojpeg
"$out/stages" "${files[@]}"
printf 'tj_loop turn (tjbench calls, files in turn): %s img/s\n' "$("$out/tj_loop" turn 2 "${files[@]}")"
printf 'tj_loop same (tjbench calls, each file repeated): %s img/s\n' "$("$out/tj_loop" same 2 "${files[@]}")"
