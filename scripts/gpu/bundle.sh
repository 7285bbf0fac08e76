#!/usr/bin/env bash
# Prepares what the lent GPU machine lacks, in an ignored folder that travels with the working tree
# (run's carry: [".gpu-bundle"]), under 64 MiB: this machine's Node binary (xz), TurboJPEG + libjpeg
# headers and shared libraries (from the Debian packages), the npm packages the build and the compiled
# library need (node-addon-api, node-api-headers, node-gyp-build) and the compiled library (dist/).
#   bash scripts/gpu/bundle.sh [out-dir]       (default: .gpu-bundle in the repository root)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/.gpu-bundle}"
limit=$((64 * 1024 * 1024))
rm -rf "$out"
mkdir -p "$out/debs" "$out/turbojpeg" "$out/node_modules"

node_bin="$(readlink -f "$(command -v node)")"
echo "bundle: Node $(node --version) from $node_bin"
xz -T2 -6 -c "$node_bin" > "$out/node.xz"

echo "bundle: TurboJPEG and libjpeg from Debian packages"
(cd "$out/debs" && apt-get download -qq libturbojpeg0 libturbojpeg0-dev libjpeg62-turbo libjpeg62-turbo-dev)
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/turbojpeg/root"; done
mkdir -p "$out/turbojpeg/usr/lib"
mv "$out/turbojpeg/root/usr/include" "$out/turbojpeg/usr/include"
mv "$out/turbojpeg/root/usr/lib/x86_64-linux-gnu" "$out/turbojpeg/usr/lib/x86_64-linux-gnu"
rm -rf "$out/turbojpeg/root" "$out/debs" "$out/turbojpeg/usr/lib/x86_64-linux-gnu/pkgconfig" "$out/turbojpeg/usr/lib/x86_64-linux-gnu"/*.a
ls "$out/turbojpeg/usr/lib/x86_64-linux-gnu"

echo "bundle: npm packages for the build and the library"
for pkg in node-addon-api node-api-headers node-gyp-build; do cp -a "$(readlink -f "$root/node_modules/$pkg")" "$out/node_modules/$pkg"; done

echo "bundle: compiled library (tsc)"
(cd "$root" && node node_modules/typescript/bin/tsc -p tsconfig.json)
cp -a "$root/dist" "$out/dist"

bytes=$(du -sb "$out" | cut -f1)
printf 'bundle: %s, %.1f MiB (node.xz %.1f MiB)\n' "$out" "$(echo "$bytes / 1048576" | bc -l)" "$(echo "$(stat -c %s "$out/node.xz") / 1048576" | bc -l)"
[ "$bytes" -lt "$limit" ] || { echo "bundle: over the 64 MiB that may travel" >&2; exit 1; }
