#!/bin/bash
# Issue 13's comparison on the 16-core benchmark machine (no Node.js there): stacked-rnn against PyTorch at 1, 2,
# 4, 8 and 16 threads, forward and training step, configurations C and D, RNN, LSTM and GRU (bench/many-core.mjs,
# bench/many_core_torch.py). Here, from the project root, pack first:
#
#   DEVICE_EXTRA="bench/many-core.mjs bench/many_core_torch.py bench/torch_peer.py native/build/Release/stacked_rnn_avx512.node" \
#     bash ../shared/device/pack.sh
#
# then run this there, from the project root with .device/ beside it (the device tool: carry .device):
#
#   bash bench/many-core.sh [--configs CD] [--cells rnn,lstm,gru] [--threads 1,2,4,8,16] [--budget 1.5]
#
# It writes many-core.md (the table and the machine) and many-core.json (the raw numbers) into $OUT (the device
# tool's folder that comes back), else bench/results/. Where node is already on PATH and .device/ is absent (as
# here, to try it), it runs the working tree's own dist/ instead: `npm run build` first. $PYTHON names the python
# with PyTorch (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .device/bootstrap.sh ]; then
  # shellcheck disable=SC1091
  source .device/bootstrap.sh
  script=$RT/bench/many-core.mjs
else
  script=bench/many-core.mjs
fi
echo "machine: $(nproc) CPUs; $(lscpu | grep -m1 'Model name' | sed 's/  */ /g')" >&2
"${PYTHON:-python3}" -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads())' >&2
PYTHONUNBUFFERED=1 node "$script" "$@"
