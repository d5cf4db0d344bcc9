#!/bin/sh
# Builds every prebuilt binary of the native addon into prebuilds/ (committed, shipped in the package, found by
# src/kernels/native.ts at run time with no install script), reproducibly, on Debian:
#   prebuilds/linux-x64/stacked_rnn.node           AVX2 + FMA          g++
#   prebuilds/linux-x64/stacked_rnn_avx512.node    AVX-512 (RNN_VBYTES 64)
#   prebuilds/linux-arm64/stacked_rnn.node         NEON (RNN_VBYTES 16) aarch64-linux-gnu-g++
#   prebuilds/win32-x64/stacked_rnn.node           AVX2 + FMA          x86_64-w64-mingw32-g++-posix, -static
#   prebuilds/win32-x64/stacked_rnn_avx512.node    AVX-512
# Each is compiled against the Node-API headers of the npm package node-api-headers (so one binary serves every
# Node version), with the hash of native/'s source built in (RNN_SOURCE_HASH: src/kernels/native-source.ts); a
# binary whose hash is not the shipped source's is never loaded, and test/prebuilds.test.ts fails on it. Run this
# (`npm run build:prebuilds`) after every change to native/addon.cc or native/*.h.
#
# Needs: apt-get install g++ g++-aarch64-linux-gnu g++-mingw-w64-x86-64 (binutils 2.38 or later, for
# -muse-unaligned-vector-move), and the npm registry once (scripts/platform-tools.sh headers).
set -eu
cd "$(dirname "$0")/.."
sh scripts/platform-tools.sh headers >/dev/null
headers=.cache/platforms/node-api-headers
hash=$(node --import tsx -e "import { nativeSourceHash } from './src/kernels/native-source.ts'; console.log(nativeSourceHash('native'))")
case $hash in ''|null) echo "could not hash native/" >&2; exit 1 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The flags of native/build.mjs's source build; the paths in the binary made relative, no build id or time stamp.
flags="-std=gnu++17 -O3 -ffp-contract=fast -fno-math-errno -Wno-psabi -shared -I$headers/include \
  -DRNN_SOURCE_HASH=\"$hash\" -ffile-prefix-map=$PWD=. -fno-ident"
avx512="-DRNN_VBYTES=64 -mavx512f -mavx512vl -mavx512dq -mavx512bw"
# libstdc++ linked in, so that a Linux binary needs only glibc 2.34 or later and libgcc_s (what Node itself
# needs), not the libstdc++ of GCC 12. Its std::random_device (never used by the addon) would call glibc 2.36's
# arc4random: the stub stands in for it, so that nothing asks for a glibc newer than 2.34.
printf '#include <stdlib.h>\n__attribute__((visibility("hidden"))) unsigned int arc4random(void) { abort(); }\n' \
  >"$tmp/stub.c"
gcc -O2 -fPIC -c "$tmp/stub.c" -o "$tmp/stub-x64.o"
aarch64-linux-gnu-gcc -O2 -fPIC -c "$tmp/stub.c" -o "$tmp/stub-arm64.o"
linux="-fPIC -pthread -static-libstdc++ -Wl,--build-id=none"

build() {  # build DIR FILE COMPILER FLAGS...
  dir=$1 file=$2 cxx=$3
  shift 3
  mkdir -p "prebuilds/$dir"
  # shellcheck disable=SC2086
  "$cxx" $flags -DNODE_GYP_MODULE_NAME="${file%.node}" native/addon.cc "$@" -o "$tmp/$file"
  echo "prebuilds/$dir/$file"
}

build linux-x64 stacked_rnn.node g++ $linux "$tmp/stub-x64.o"
strip --strip-unneeded "$tmp/stacked_rnn.node" && mv "$tmp/stacked_rnn.node" prebuilds/linux-x64/
# shellcheck disable=SC2086
build linux-x64 stacked_rnn_avx512.node g++ $linux "$tmp/stub-x64.o" $avx512
strip --strip-unneeded "$tmp/stacked_rnn_avx512.node" && mv "$tmp/stacked_rnn_avx512.node" prebuilds/linux-x64/

build linux-arm64 stacked_rnn.node aarch64-linux-gnu-g++ $linux "$tmp/stub-arm64.o" -DRNN_VBYTES=16
aarch64-linux-gnu-strip --strip-unneeded "$tmp/stacked_rnn.node" && mv "$tmp/stacked_rnn.node" prebuilds/linux-arm64/

# Windows: against an import library of node.exe's Node-API exports, every MinGW library linked in (no DLL
# beside the binary), and every aligned vector move assembled as an unaligned one (native/portable.h).
# (made in $tmp under a fixed name: dlltool names its symbols after the output's path)
def=$PWD/$headers/def/node_api.def
(cd "$tmp" && x86_64-w64-mingw32-dlltool -d "$def" -l libnode_api.a -D node.exe -t node_api)
# Stripped by the linker (strip would stamp the time into the header) at a fixed image base (the default one is
# derived from the output's path), so that every build is the same bytes.
win="-static -s -Wa,-muse-unaligned-vector-move -Wl,--no-insert-timestamp -Wl,--disable-auto-image-base \
  $tmp/libnode_api.a -lpthread"
for file in stacked_rnn.node stacked_rnn_avx512.node; do
  extra=""
  [ "$file" = stacked_rnn_avx512.node ] && extra=$avx512
  # shellcheck disable=SC2086
  build win32-x64 "$file" x86_64-w64-mingw32-g++-posix $extra $win
  mv "$tmp/$file" prebuilds/win32-x64/
done
# the newest glibc a Linux binary asks for must stay 2.34 (see above)
for f in prebuilds/linux-*/*.node; do
  newest=$(objdump -T "$f" | grep -o 'GLIBC_2\.[0-9]*' | sort -uV | tail -1)
  [ "$newest" = GLIBC_2.34 ] || { echo "$f needs $newest" >&2; exit 1; }
done
echo "source hash $hash"
