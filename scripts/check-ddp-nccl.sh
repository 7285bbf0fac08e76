#!/usr/bin/env bash
# Compiles (no link, no GPU) the data-parallel sources with the NCCL and Gloo c10d backends enabled against
# Debian 13's CUDA LibTorch 2.6, in the trixie-cuda root that scripts/check-torch-matrix.sh makes.
# Debian 12's LibTorch has no NCCL, so this is where the NCCL path is checked. Root only; ~2 min on 2 cores.
#   bash scripts/check-ddp-nccl.sh            (after: bash scripts/check-torch-matrix.sh trixie-2.6-cuda)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
R="${CARCLASS_MATRIX_CACHE:-$HOME/.cache/carclass-torch-matrix}/trixie-cuda"
[ -f "$R/usr/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp" ] || { echo "check-ddp-nccl: no CUDA LibTorch root at $R (run scripts/check-torch-matrix.sh trixie-2.6-cuda first)"; exit 2; }
# The NCCL and CUDA-gloo headers (libgloo-dev would replace libtorch-cuda-dev's libgloo-cuda-0: use the CUDA one).
chroot "$R" bash -c "dpkg -s libnccl-dev libgloo-cuda-dev >/dev/null 2>&1 || apt-get install -y -q --no-install-recommends libnccl-dev libgloo-cuda-dev" >/dev/null
work="$R/tmp/carclass-ddp-nccl"
rm -rf "$work" && mkdir -p "$work"
cp -r "$root/native" "$work/"
cp -r "$root/node_modules/node-addon-api" "$work/napi"
cp -r "$(node -p "require('$root/node_modules/node-api-headers').include_dir")" "$work/napih"
failed=0
for src in native/distributed/*.cc native/engine/*.cc native/binding/distributed_binding.cc native/binding/model_binding.cc; do
  if chroot "$R" bash -c "cd /tmp/carclass-ddp-nccl && g++ -std=gnu++17 -fsyntax-only -w -DUSE_C10D_GLOO -DUSE_C10D_NCCL \
      -DCARCLASS_WITH_GLOO -DCARCLASS_WITH_NCCL -DCARCLASS_WITH_CUDA=1 -DCARCLASS_WITH_NCCL_VERSION=1 -DNAPI_VERSION=8 \
      -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -Inative -Inapi -Inapih \
      -isystem /usr/include/torch/csrc/api/include $src"; then echo "ok   $src"; else echo "FAIL $src"; failed=$((failed + 1)); fi
done
echo "check-ddp-nccl: $failed failure(s)"
[ "$failed" = 0 ]
