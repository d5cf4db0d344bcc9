#!/bin/sh
# Installs the packed tarball as a user would, on a machine with no compiler and no Python: `npm pack`, then
# `npm install --ignore-scripts` of it in an empty project with PATH holding only node, npm and sh, and prints
# the kernel the installed package runs (kernelInfo()) and the tarball's sizes.
#   sh scripts/check-packed.sh      (after npm run build; dependencies come from npm's cache or the registry)
set -eu
cd "$(dirname "$0")/.."
root=$PWD
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
if [ -n "${STACKED_RNN_PACKED_BENCH:-}" ]; then
  PATH="$tmp/bin" node "$root/$STACKED_RNN_PACKED_BENCH"
fi
