#!/usr/bin/env bash
# The one-call GPU check, for the lent H200 (CUDA 13, pip torch, no Node, no network):
#   device run: command "bash scripts/gpu/check.sh", carry [".gpu-bundle"], timeout_s 600
# after `bash scripts/gpu/bundle.sh` here. Steps: Node and npm packages from the bundle, the addon
# built against pip torch (Torch_DIR from torch.utils.cmake_prefix_path), doctor, the CUDA checks
# (scripts/gpu/cuda-check.js) and bench-train at batch 64/128, fp32/bf16, next to Python PyTorch
# (scripts/gpu/bench-train.js). Everything lands in $OUT (default ./gpu-out): check.log, build.log,
# doctor.txt, cuda-check.json, bench-train.md, bench-train.json.
# Without a GPU the same steps run with the CPU standing in (a dry run); Torch_DIR may name another
# LibTorch (e.g. Debian 13's 2.6 from scripts/check-torch-matrix.sh).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
exec > >(tee "$out/check.log") 2>&1
bundle="${CARCLASS_BUNDLE:-$root/.gpu-bundle}"
export CARCLASS_BUNDLE="$bundle"
start=$(date +%s)
failed=()
step() { echo; echo "== $1 (+$(( $(date +%s) - start ))s)"; }

step "machine"
uname -srm
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none (no GPU: dry run, the CPU stands in)"
python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 || true

step "Node and npm packages"
if ! command -v node >/dev/null; then
  [ -f "$bundle/node.xz" ] || { echo "no node and no $bundle/node.xz: run scripts/gpu/bundle.sh first and carry .gpu-bundle"; exit 1; }
  mkdir -p /tmp/carclass-node/bin
  # xz where it exists, else Python's lzma (the GPU machine always has python3)
  if command -v xz >/dev/null; then xz -dc "$bundle/node.xz" > /tmp/carclass-node/bin/node
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$bundle/node.xz" /tmp/carclass-node/bin/node
  fi || { echo "could not unpack $bundle/node.xz"; exit 1; }
  chmod +x /tmp/carclass-node/bin/node
  export PATH="/tmp/carclass-node/bin:$PATH"
fi
echo "node $(node --version) at $(command -v node)"
if [ ! -e node_modules/node-gyp-build ]; then
  [ -L node_modules ] && rm node_modules  # a link to a checkout elsewhere travels dangling
  mkdir -p node_modules && cp -a "$bundle/node_modules/." node_modules/
fi
[ -f dist/index.js ] || cp -a "$bundle/dist" dist
ls node_modules | tr '\n' ' '; echo

step "build the addon"
if bash scripts/gpu/build-addon.sh > "$out/build.log" 2>&1; then
  tail -2 "$out/build.log"; grep -E "carclass: CUDA|Torch_DIR" "$out/build.log"
else
  tail -30 "$out/build.log"; echo "build failed: nothing else can run"; exit 1
fi
[ -d "$bundle/turbojpeg/usr/lib/x86_64-linux-gnu" ] && export LD_LIBRARY_PATH="$bundle/turbojpeg/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd build/Release/carclass.node | grep -E "torch|c10|jpeg|cudart|nccl|not found" | sed 's/^/  /'

step "doctor"
node -e "require('./dist/cli/doctor').doctorReport().then((r) => { console.log(r.lines.concat(r.warnings.map((w) => 'WARNING: ' + w)).join('\n')); })" \
  | tee "$out/doctor.txt" || failed+=(doctor)

step "CUDA checks"
node scripts/gpu/cuda-check.js "$out/cuda-check.json" || failed+=(cuda-check)

step "bench-train"
node scripts/gpu/bench-train.js "$out/bench-train.md" "$out/bench-train.json" || failed+=(bench-train)

step "done"
echo "gpu check: ${#failed[@]} step(s) failed${failed:+: ${failed[*]}}; files in $out: $(ls "$out" | tr '\n' ' ')"
[ ${#failed[@]} -eq 0 ]
