#!/usr/bin/env bash
# Builds the addon with plain CMake (no cmake-js: the GPU machine carries only a few npm packages)
# against a given LibTorch, by default pip torch's: Torch_DIR from torch.utils.cmake_prefix_path.
# TurboJPEG/libjpeg come from the bundle (scripts/gpu/bundle.sh) when it has them, else the system.
# The addon lands in build/Release/carclass.node, where the library loads it from.
#   bash scripts/gpu/build-addon.sh [Torch_DIR]     env: CARCLASS_BUNDLE, CARCLASS_BUILD_DIR, PYTHON
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bundle="${CARCLASS_BUNDLE:-$root/.gpu-bundle}"
build="${CARCLASS_BUILD_DIR:-$root/build-gpu}"
torch_dir="${1:-${Torch_DIR:-}}"
if [ -z "$torch_dir" ]; then
  prefix="$("${PYTHON:-python3}" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
  torch_dir="$prefix/Torch"
fi
[ -f "$torch_dir/TorchConfig.cmake" ] || { echo "build-addon: no TorchConfig.cmake in $torch_dir" >&2; exit 1; }
args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "-DTorch_DIR=$torch_dir"
  "-DCMAKE_JS_INC=$(cd "$root" && node -p "require('node-api-headers').include_dir")"
  "-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$root/build/Release")
command -v ninja >/dev/null && args+=(-G Ninja)
tj="$bundle/turbojpeg/usr"
if [ -f "$tj/include/turbojpeg.h" ]; then
  lib="$tj/lib/x86_64-linux-gnu"
  args+=("-DTURBOJPEG_INCLUDE_DIR=$tj/include" "-DTURBOJPEG_LIBRARY=$lib/libturbojpeg.so" "-DLIBJPEG_LIBRARY=$lib/libjpeg.so"
    "-DCMAKE_CXX_FLAGS=-I$tj/include/x86_64-linux-gnu")
fi
echo "build-addon: Torch_DIR=$torch_dir"
cmake "${args[@]}"
cmake --build "$build" --parallel "${CARCLASS_BUILD_JOBS:-$(nproc)}"
ls -l "$root/build/Release/carclass.node"
