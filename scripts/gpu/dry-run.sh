#!/usr/bin/env bash
# Dry run of scripts/gpu/check.sh without a GPU, in conditions like the GPU machine's: a copy of the
# Debian 13 root of scripts/check-torch-matrix.sh (LibTorch 2.6 CPU standing in for pip torch) with no
# Node on the PATH, no node_modules, and the working tree + .gpu-bundle copied in, as a run sends them.
#   bash scripts/gpu/dry-run.sh [out-dir]      (default /tmp/carclass-gpu-dry-run; needs root)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${CARCLASS_MATRIX_CACHE:-${HOME}/.cache/carclass-torch-matrix}"
out="${1:-/tmp/carclass-gpu-dry-run}"
base="$cache/trixie-cpu" dry="$cache/gpu-dry-run"
[ -f "$root/.gpu-bundle/node.xz" ] || { echo "dry-run: run scripts/gpu/bundle.sh first" >&2; exit 1; }
ls "$base"/.carclass-ok-* >/dev/null 2>&1 || { echo "dry-run: make the root first: CARCLASS_MATRIX_PREPARE_ONLY=1 bash scripts/check-torch-matrix.sh trixie-2.6-cpu" >&2; exit 1; }
if [ ! -d "$dry" ]; then cp -a --reflink=auto "$base" "$dry"; rm -rf "$dry/src"; fi
rm -f "$dry/usr/local/bin/node" "$dry/usr/local/bin/npm" "$dry/usr/local/bin/npx"
rm -rf "$dry/work" "$dry/out" && mkdir -p "$dry/work" "$dry/out"
(cd "$root" && { git ls-files -co --exclude-standard -z | grep -zv '^node_modules$'; find .gpu-bundle -print0; } | tar --null -T - -cf -) | tar -xf - -C "$dry/work"
cleanup() { umount -R "$dry/dev" 2>/dev/null || true; umount "$dry/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$dry/proc"; mount --rbind /dev "$dry/dev"; mount --make-rslave "$dry/dev"
set +e
chroot "$dry" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 OUT=/out \
  Torch_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch CARCLASS_BUILD_JOBS="${CARCLASS_MATRIX_JOBS:-2}" nice bash /work/scripts/gpu/check.sh
rc=$?
set -e
rm -rf "$out"; cp -a "$dry/out" "$out"
echo "dry-run: check.sh exited $rc; its files: $out"
exit $rc
