#!/usr/bin/env bash
# Compiles every native source (syntax and templates, no link) against another LibTorch's headers,
# fetched from Debian 13 (trixie) into a cache folder with a separate apt lists folder and dpkg -x:
# the system's own apt sources are never touched. Catches API changes between LibTorch 1.13 and 2.6.
#   bash scripts/check-torch-headers.sh [cache-dir]      (default: ~/.cache/carclass-torch-matrix)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${1:-${HOME}/.cache/carclass-torch-matrix}"
mkdir -p "$cache"/{lists/partial,archives/partial,state,debs}
cat > "$cache/sources.list" <<'SRC'
deb http://deb.debian.org/debian trixie main contrib non-free
SRC
touch "$cache/state/status"
apt_opts=(-o Dir::Etc::SourceList="$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$cache/lists" -o Dir::Cache="$cache" -o Dir::State::Status="$cache/state/status"
  -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
if [ ! -d "$cache/root/usr/include/torch" ]; then
  apt-get "${apt_opts[@]}" -qq update
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download libtorch-dev)
  for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$cache/root"; done
fi
inc="$cache/root/usr/include"
version=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ {v = v (v ? "." : "") $3} END {print v}' "$inc/torch/csrc/api/include/torch/version.h")
napi_inc="$(cd "$root" && node -p "require('node-addon-api').include" | tr -d '"')"
node_inc="$(cd "$root" && node -p "require('node-api-headers').include_dir")"
echo "carclass: compiling native sources against LibTorch ${version} headers from $inc"
failed=0
for src in "$root"/native/{image,loader,model,engine,features,distributed,binding}/*.cc; do
  # The trixie headers come first; -isystem keeps their own warnings out of the way.
  if ! g++ -std=gnu++17 -fsyntax-only -w -D_GLIBCXX_USE_CXX11_ABI=1 -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS \
      -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$root/native" -isystem "$inc/torch/csrc/api/include" -isystem "$inc" \
      -I"$napi_inc" -I"$node_inc" "$src" 2> "$cache/last.err"; then
    echo "FAIL ${src#$root/}"; head -20 "$cache/last.err"; failed=$((failed + 1))
  else
    echo "ok   ${src#$root/}"
  fi
done
echo "carclass: ${failed} source(s) failed against LibTorch ${version}"
[ "$failed" -eq 0 ]
