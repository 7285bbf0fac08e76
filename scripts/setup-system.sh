#!/usr/bin/env bash
# Installs, with apt, only the Debian/Ubuntu packages carclass needs that are missing. Idempotent.
#   bash scripts/setup-system.sh            runtime + build packages
#   bash scripts/setup-system.sh --test     also what the test suite and benchmarks use
set -euo pipefail

runtime_pkgs=(libtorch-dev libgloo-dev libturbojpeg0-dev libjpeg-dev libpng-dev libopenblas0-pthread cmake g++ make ninja-build pkg-config)
# djpeg/tjbench (decode reference), h5py + torch (independent peers), chromium (page test), fonts (report PNGs).
test_pkgs=(libjpeg-turbo-progs python3 python3-h5py python3-torch python3-numpy python3-pil chromium fonts-dejavu-core valgrind)

want=("${runtime_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "carclass setup: all system packages present (${#want[@]} checked)."
  exit 0
fi

echo "carclass setup: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
else
  echo "carclass setup: not root and no passwordless sudo. Run this, then retry:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "carclass setup: done."
