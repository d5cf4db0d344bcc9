"""PyTorch's side of bench/many-core.mjs: one configuration and cell, every thread count, in one process.

    many_core_torch.py DIR L N I H K --cell rnn|lstm|gru --threads 1,2,4,8,16 [--budget S] [--no-train]

Writes into DIR what stacked-rnn then runs on, as bench/torch_peer.py does (weights.json and weights.bin in
state-dict order, x.bin (L, N, I) float32 from torch.manual_seed(0), and out64.bin: the float64 output of those
float32 weights and input, for the error column), then, for each thread count T, sets torch.set_num_threads(T)
and times the forward under no_grad and the training step (forward + backward of output.sum(), the input not
requiring grad), median of repeats within about S seconds each (at least 2). Prints one JSON line: the torch
version, its parallel backend, and per thread count the median ms.
"""

import json
import sys

import torch
from torch_peer import median_ms, write_inputs  # bench/ is on the path: this script's own folder


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    out_dir = sys.argv[1]
    L, N, I, H, K = (int(v) for v in sys.argv[2:7])
    cell = arg("--cell", "rnn")
    counts = [int(t) for t in arg("--threads", "1,2,4,8,16").split(",")]
    budget = float(arg("--budget", "1.5"))
    train = "--no-train" not in sys.argv
    torch.manual_seed(0)
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, num_layers=K)
    x = torch.randn(L, N, I)
    write_inputs(out_dir, net, x)
    with torch.no_grad():
        out64 = net.double()(x.double())[0]
        net.float()
    with open(f"{out_dir}/out64.bin", "wb") as f:
        f.write(out64.numpy().tobytes())

    result = {"torch": torch.__version__, "parallel": torch.__config__.parallel_info().splitlines()[:6], "runs": {}}
    for T in counts:
        torch.set_num_threads(T)
        run = {"threads": torch.get_num_threads()}
        with torch.no_grad():
            run["forward_ms"], run["forward_reps"] = median_ms(lambda: net(x), budget, least=2)
        if train:

            def step():
                net.zero_grad()
                net(x)[0].sum().backward()

            run["train_ms"], run["train_reps"] = median_ms(step, budget, least=2)
        result["runs"][str(T)] = run
        print(f"torch {cell} T={T}: {run}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
