#!/usr/bin/env bash
# LibTorch build matrix: builds carclass and runs the jest suite against
#   host-1.13        this Debian 12 machine's LibTorch 1.13 (CPU), in a copy of the source
#   trixie-2.6-cpu   Debian 13's libtorch-dev 2.6 (CPU), in a debootstrap root
#   trixie-2.6-cuda  Debian 13's libtorch-cuda-dev 2.6 + nvidia-cuda-toolkit 12.4 (contrib, non-free):
#                    the CUDA paths compile and link; the CPU tests run with that build (no GPU needed)
# The roots live in a cache folder and are reused; the system's own apt sources are never touched.
#   bash scripts/check-torch-matrix.sh [row...]        (default: all three rows)
# env: CARCLASS_MATRIX_CACHE  cache folder (default ~/.cache/carclass-torch-matrix)
#      CARCLASS_MATRIX_JOBS   build jobs (default 2)
#      CARCLASS_MATRIX_TESTS  jest arguments, e.g. "test/foo.test.ts"; "none" builds only (default: whole suite)
#      CARCLASS_MATRIX_PREPARE_ONLY=1   make the roots and stop
set -euo pipefail
src_root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CARCLASS_MATRIX_CACHE:-${HOME}/.cache/carclass-torch-matrix}"
jobs="${CARCLASS_MATRIX_JOBS:-2}"
tests="${CARCLASS_MATRIX_TESTS:-}"
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(host-1.13 trixie-2.6-cpu trixie-2.6-cuda)
for r in "${rows[@]}"; do
  case "$r" in host-1.13|trixie-2.6-cpu|trixie-2.6-cuda) ;; *) echo "unknown row '$r' (host-1.13, trixie-2.6-cpu, trixie-2.6-cuda)" >&2; exit 2;; esac
done
[ "$(id -u)" -eq 0 ] || { echo "check-torch-matrix: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
mkdir -p "$cache/logs"
results="$cache/results.tsv"

# The Debian mirror this machine already uses (it serves trixie too).
mirror="$(grep -hoE '^(URIs: |deb )https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | head -1 | sed -E 's/^(URIs: |deb )//; s/ $//' || true)"
mirror="${CARCLASS_MATRIX_MIRROR:-${mirror:-http://deb.debian.org/debian}}"

test_pkgs=(libjpeg-turbo-progs python3 python3-h5py python3-numpy python3-pil fonts-dejavu-core chromium)
build_pkgs=(libturbojpeg0-dev libjpeg-dev libpng-dev cmake g++ make ninja-build pkg-config ca-certificates file)
cpu_pkgs=(libtorch-dev libgloo-dev libopenblas0-pthread python3-torch "${build_pkgs[@]}" "${test_pkgs[@]}")
# Gloo and NCCL headers for the data-parallel backends (libgloo-dev would replace the CUDA Gloo and libtorch-cuda-dev).
cuda_pkgs=(libtorch-cuda-dev libgloo-cuda-dev libnccl-dev nvidia-cuda-toolkit libopenblas0-pthread python3-torch-cuda "${build_pkgs[@]}" "${test_pkgs[@]}")

# The read-only shared test data (cars, JPEG corpus), found as test/shared-data.ts finds it.
shared_data=""
for d in "${CARCLASS_SHARED_DATA:-}" "$src_root/../shared/data" "$src_root/../../shared/data" /work/shared/data; do
  [ -n "$d" ] && [ -d "$d" ] && { shared_data="$(cd "$d" && pwd)"; break; }
done

host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
[ -f "$host_ca" ] || host_ca=/etc/ssl/certs/ca-certificates.crt

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
}
trap cleanup EXIT

mount_root() {  # proc, dev and the host's node_modules (read-only) inside a root
  local r="$1"
  mountpoint -q "$r/proc" || { mount -t proc proc "$r/proc"; mounted+=("$r/proc"); }
  mountpoint -q "$r/dev" || { mount --rbind /dev "$r/dev"; mount --make-rslave "$r/dev"; mounted+=("$r/dev"); }
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  # npm (Node's TLS) inside the root trusts what the host trusts: the host's bundle may hold a local CA.
  install -D -m 644 "$host_ca" "$r/etc/ssl/carclass-host-ca.crt"
}

in_root() {  # run a command in a root with a clean environment
  local r="$1"; shift
  chroot "$r" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive TMPDIR=/tmp CARCLASS_SHARED_DATA=/shared-data NODE_EXTRA_CA_CERTS=/etc/ssl/carclass-host-ca.crt "$@"
}

mount_shared_data() {  # the shared test data, read-only, at /shared-data in a root
  local r="$1"
  [ -n "$shared_data" ] || { echo "   (no shared test data found: the tests that need it fail)"; return 0; }
  mkdir -p "$r/shared-data"
  mountpoint -q "$r/shared-data" && return 0
  mount --bind "$shared_data" "$r/shared-data"; mount -o remount,bind,ro "$r/shared-data"; mounted+=("$r/shared-data")
}

make_base() {
  local base="$cache/trixie-base"
  [ -f "$base/.carclass-ok" ] && return
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  rm -rf "$base"
  echo "== debootstrap trixie from $mirror"
  nice debootstrap --variant=minbase --components=main,contrib,non-free,non-free-firmware \
    --include=ca-certificates trixie "$base" "$mirror" > "$cache/logs/debootstrap.log" 2>&1 \
    || { tail -30 "$cache/logs/debootstrap.log"; exit 1; }
  echo "deb $mirror trixie main contrib non-free non-free-firmware" > "$base/etc/apt/sources.list"
  # No man pages or docs: they are a quarter of the CUDA toolkit.
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    > "$base/etc/dpkg/dpkg.cfg.d/01-nodoc"
  touch "$base/.carclass-ok"
}

# libtorch_cuda.so needs libcudnn.so.9 (bound at load time: BIND_NOW). Without cuDNN the addon could
# link but never load, so the CUDA row gets a stand-in that defines every cuDNN function LibTorch
# (and python3-torch-cuda, the tests' Python peer) imports, each failing with CUDNN_STATUS_NOT_INITIALIZED; cudnnGetVersion says 0. With no GPU none is
# ever called; on a GPU machine the real cuDNN is used instead (scripts/gpu/check.sh).
make_cudnn_stub() {
  local r="$1" lib=/usr/lib/x86_64-linux-gnu
  mkdir -p "$r/opt/carclass-cudnn-stub"
  # name@version: LibTorch binds cuDNN's versioned symbols (version node libcudnn.so.9).
  in_root "$r" sh -c "nm -D --undefined-only $lib/libtorch_cuda.so $lib/libc10_cuda.so $lib/libgloo_cuda.so.0 $lib/libtorch_python.so* 2>/dev/null \
    | awk '\$NF ~ /^cudnn/ {print \$NF}' | sort -u" > "$r/opt/carclass-cudnn-stub/versioned.txt"
  sed 's/@.*//' "$r/opt/carclass-cudnn-stub/versioned.txt" | sort -u > "$r/opt/carclass-cudnn-stub/symbols.txt"
  local local_rule='local: *;'
  for v in $(sed -n 's/.*@@\{0,1\}//p' "$r/opt/carclass-cudnn-stub/versioned.txt" | sort -u); do
    echo "$v { global: cudnn*; $local_rule };"; local_rule=''
  done > "$r/opt/carclass-cudnn-stub/versions.map"
  {
    echo '// Generated by scripts/check-torch-matrix.sh: cuDNN stand-in for a machine without a GPU.'
    echo '#include <stddef.h>'
    echo 'size_t cudnnGetVersion(void) { return 0; }'
    echo 'size_t cudnnGetCudartVersion(void) { return 0; }'
    echo 'const char* cudnnGetErrorString(int status) { (void)status; return "cuDNN is not installed (carclass stand-in)"; }'
    grep -vxE 'cudnnGetVersion|cudnnGetCudartVersion|cudnnGetErrorString' "$r/opt/carclass-cudnn-stub/symbols.txt" \
      | sed 's/.*/int &(void) { return 1001; }/'
  } > "$r/opt/carclass-cudnn-stub/stub.c"
  in_root "$r" gcc -shared -fPIC -O1 -Wl,-soname,libcudnn.so.9 -Wl,--version-script=/opt/carclass-cudnn-stub/versions.map \
    -o /opt/carclass-cudnn-stub/libcudnn.so.9 /opt/carclass-cudnn-stub/stub.c
  ln -sf libcudnn.so.9 "$r/opt/carclass-cudnn-stub/libcudnn.so"
  echo /opt/carclass-cudnn-stub > "$r/etc/ld.so.conf.d/carclass-cudnn-stub.conf"
  in_root "$r" ldconfig
  echo "   cuDNN stand-in: $(wc -l < "$r/opt/carclass-cudnn-stub/symbols.txt") functions"
}

make_root() {  # make_root NAME PACKAGES...: a copy of the base root with the packages installed
  local name="$1"; shift
  local r="$cache/$name" stamp
  stamp="$(printf '%s\n' "$@" | sha1sum | cut -c1-12)"
  if [ ! -f "$r/.carclass-ok-$stamp" ]; then
    make_base
    [ -d "$r" ] || cp -a "$cache/trixie-base" "$r"
    mount_root "$r"
    echo "== $name: apt-get install $*"
    # nvidia-cudnn (a dependency of libtorch-cuda) only downloads cuDNN from NVIDIA, which Debian may not
    # redistribute and which is out of reach here: decline its licence question so it installs nothing.
    echo 'nvidia-cudnn nvidia-cudnn/question select I Decline' | in_root "$r" debconf-set-selections
    { in_root "$r" dpkg --configure -a && in_root "$r" apt-get update -qq \
      && in_root "$r" nice apt-get install -y -qq --no-install-recommends "$@"; } \
      > "$cache/logs/$name-apt.log" 2>&1 || { tail -30 "$cache/logs/$name-apt.log"; exit 1; }
    in_root "$r" apt-get clean
    rm -f "$r"/.carclass-ok-*
    touch "$r/.carclass-ok-$stamp"
  fi
  if [ -e "$r/usr/lib/x86_64-linux-gnu/libtorch_cuda.so" ] && [ ! -f "$r/opt/carclass-cudnn-stub/versions.map" ]; then
    mount_root "$r"; make_cudnn_stub "$r"
  fi
  # Node and npm are the host's (NodeSource 20): the same JavaScript side in every row.
  install -D "$(command -v node)" "$r/usr/local/bin/node"
  local npm_dir
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  rm -rf "$r/usr/local/lib/node_modules/npm"; mkdir -p "$r/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$r/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
}

stage_source() {  # stage_source DEST: tracked + untracked-not-ignored files, the build folder kept for reuse
  local dest="$1"
  mkdir -p "$dest"
  [ -d "$dest/build" ] && mv "$dest/build" "$dest.build-keep"
  mountpoint -q "$dest/node_modules" && { umount "$dest/node_modules"; }
  rm -rf "$dest"; mkdir -p "$dest"
  (cd "$src_root" && git ls-files -co --exclude-standard -z | grep -zv '^node_modules$' | tar --null -T - -cf -) | tar -xf - -C "$dest"
  [ -d "$dest.build-keep" ] && mv "$dest.build-keep" "$dest/build"
  mkdir -p "$dest/node_modules"
  mount --bind "$(readlink -f "$src_root/node_modules")" "$dest/node_modules"
  mount -o remount,bind,ro "$dest/node_modules"
  mounted+=("$dest/node_modules")
}

# The build + test commands of one row, run in its root (or on the host for host-1.13).
row_script='set -e
cd "$1"
# CARCLASS_TEST_DIST_TIMEOUT: cold 2.x CUDA libraries take longer to load than the 8 s rendezvous of the distributed tests.
export CARCLASS_BUILD_JOBS="$2" JEST_ARGS="$3" CI=1 CARCLASS_TEST_DIST_TIMEOUT=30
t0=$(date +%s)
nice node scripts/build-native.js > build.log 2>&1 || { tail -40 build.log; exit 10; }
node node_modules/typescript/bin/tsc -p tsconfig.json || exit 11
t1=$(date +%s); echo "BUILD_SECONDS $((t1 - t0))"
node -e "console.log(\"RUNTIME \" + JSON.stringify(require(\"./dist\").versions()))" || true
readelf -d build/Release/carclass.node | grep -oE "lib(torch|c10)[a-z_]*\\.so[.0-9]*" | sort -u | tr "\n" " " | sed "s/^/NEEDED /"; echo
ldd build/Release/carclass.node | grep -E "not found|nccl|cudart|torch_cuda" | tr -s " \t" " " | sed "s/^/LDD/"
if [ "$JEST_ARGS" = none ]; then echo "TEST_SECONDS 0"; exit 0; fi
nice -n 19 node node_modules/jest/bin/jest.js --runInBand $JEST_ARGS > jest.log 2>&1; rc=$?
t2=$(date +%s); echo "TEST_SECONDS $((t2 - t1))"
grep -E "^(Tests|Test Suites):" jest.log
exit $rc'

run_row() {
  local row="$1" dir log rc start
  log="$cache/logs/$row.log"
  start=$(date +%s)
  case "$row" in
    host-1.13)
      dir="$cache/host-src"; stage_source "$dir"
      echo "== $row: build + tests in $dir"
      set +e; CARCLASS_SHARED_DATA="$shared_data" bash -c "$row_script" row "$dir" "$jobs" "$tests" > "$log" 2>&1; rc=$?; set -e ;;
    trixie-2.6-cpu|trixie-2.6-cuda)
      local name=${row#trixie-2.6-} r
      if [ "$name" = cpu ]; then make_root trixie-cpu "${cpu_pkgs[@]}"; r="$cache/trixie-cpu"
      else make_root trixie-cuda "${cuda_pkgs[@]}"; r="$cache/trixie-cuda"; fi
      mount_root "$r"
      mount_shared_data "$r"
      stage_source "$r/src"
      echo "== $row: build + tests in $r/src"
      set +e; in_root "$r" bash -c "$row_script" row /src "$jobs" "$tests" > "$log" 2>&1; rc=$?; set -e ;;
  esac
  local total=$(( $(date +%s) - start ))
  local build_s test_s summary torch
  build_s=$(awk '/^BUILD_SECONDS/ {print $2}' "$log"); test_s=$(awk '/^TEST_SECONDS/ {print $2}' "$log")
  summary=$(grep -E '^Tests:' "$log" | head -1 | sed 's/^Tests: *//'); torch=$(grep -oE '"torch":"[^"]*"|"torchBuild":"[^"]*"' "$log" | cut -d'"' -f4 | tr '\n' ' ')
  local verdict=ok; [ "$rc" -eq 0 ] || verdict="FAILED(rc=$rc)"
  printf '%s\t%s\t%s\tbuild %ss\ttests %ss\ttotal %ss\t%s\t%s\n' "$(date -u +%FT%TZ)" "$row" "$verdict" "${build_s:-?}" "${test_s:-?}" \
    "$total" "${torch:-?}" "${summary:-no tests run}" | tee -a "$results"
  grep -E '^(NEEDED|LDD)' "$log" | sed 's/^/    /' || true
  [ "$rc" -eq 0 ] || { tail -30 "$log"; return 1; }
}

if [ "${CARCLASS_MATRIX_PREPARE_ONLY:-}" = 1 ]; then
  for row in "${rows[@]}"; do
    case "$row" in trixie-2.6-cpu) make_root trixie-cpu "${cpu_pkgs[@]}";; trixie-2.6-cuda) make_root trixie-cuda "${cuda_pkgs[@]}";; esac
  done
  echo "check-torch-matrix: roots ready under $cache"; exit 0
fi

failed=0
for row in "${rows[@]}"; do run_row "$row" || failed=$((failed + 1)); cleanup; done
echo "check-torch-matrix: ${#rows[@]} row(s), ${failed} failed (all results: $results)"
[ "$failed" -eq 0 ]
