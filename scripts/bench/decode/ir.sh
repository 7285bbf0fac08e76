#!/usr/bin/env bash
# Callgrind instructions per image for each decode path (see README): Ir(11 passes) - Ir(1 pass).
#   scripts/bench/decode/ir.sh [FILE...]   (default: shared/data/cars-sample/*.jpg)
set -euo pipefail
source "$(dirname "$0")/files.sh"
out="$(mktemp -d)"
g++ -O3 -DNDEBUG -std=c++17 -I"$root/native" -o "$out/ir_driver" "$root/scripts/bench/decode/ir_driver.cc" \
  "$root/native/image/jpeg.cc" "$root/native/image/transform.cc" -lturbojpeg -ljpeg
ir() { valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$out/ir_driver" "$1" "$2" "${files[@]}" 2>&1 >/dev/null |
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
for mode in tj decode rows loader-full loader-rows; do
  one=$(ir "$mode" 1); eleven=$(ir "$mode" 11)
  printf '%-12s %12d Ir per image\n' "$mode" $(( (eleven - one) / (10 * ${#files[@]}) ))
done
rm -rf "$out"
