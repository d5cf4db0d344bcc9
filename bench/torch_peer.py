"""The PyTorch side of the benchmark, for one configuration (run by bench/run.ts with /usr/bin/python3).

    torch_peer.py DIR L N I H K [--cell rnn|lstm|gru] [--train] [--onnx] [--threads T] [--dtype float64]

Writes into DIR what every contender runs on, made by PyTorch (nn.RNN, nn.LSTM or nn.GRU by --cell; default rnn):
the weights (weights.json: name -> shape, and weights.bin: float32, in state-dict order) and the input x (x.bin, (L, N, I) float32, torch.manual_seed(0)). Then
times PyTorch in its best setting here (torch.set_num_threads(1): intra-op threads busy-wait and slow it down
several times on 2 cores, while OpenBLAS still uses both cores inside each matrix product; --threads T sets
torch.set_num_threads(T) instead, as on a many-core machine), median of repeats,
forward under no_grad and, with --train, forward + backward of output.sum(). Writes PyTorch's float32 output and
the float64 output of the same (float32) weights and input (out32.bin, out64.bin) for the accuracy columns, and
with --onnx the model as model.onnx for onnxruntime (PyTorch's exporter turns nn.LSTM into ONNX LSTM ops with
the gates reordered from PyTorch's ifgo to ONNX's iofc, and nn.GRU into GRU ops with the gates as zrh and
linear_before_reset=1, PyTorch's b_hn inside r * (...)). Prints one JSON line: times, repeats, peak RSS.

With --dtype float64 the same files are written, but what is timed is the module after .double() on x.double(),
at 1 and at 2 threads (torch.set_num_threads; --threads T: T only), the faster kept for the forward and for the
training step each; the training step is forward + backward of output.sum() + torch.optim.Adam(lr=1e-3).step(),
as bench/contender.ts's float64 step. A call slower than the time budget is timed once (the warm-up call).
"""

import copy
import json
import resource
import statistics
import sys
import time

import torch


def median_ms(fn, budget_s=3.0, most=200, least=3, slow=False):
    t0 = time.perf_counter()
    fn()  # warm-up
    first = (time.perf_counter() - t0) * 1000
    if slow and first >= budget_s * 1000:  # one call takes the budget: it is the one measure
        return first, 1
    times = []
    start = time.perf_counter()
    while len(times) < most and (len(times) < least or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), len(times)


def write_inputs(out_dir, net, x):
    """What every contender runs on: weights.json (name -> shape), weights.bin (float32, state-dict order), x.bin."""
    sd = net.state_dict()
    with open(f"{out_dir}/weights.json", "w") as f:
        json.dump([[k, list(v.shape)] for k, v in sd.items()], f)
    with open(f"{out_dir}/weights.bin", "wb") as f:
        for v in sd.values():
            f.write(v.contiguous().numpy().tobytes())
    with open(f"{out_dir}/x.bin", "wb") as f:
        f.write(x.numpy().tobytes())


def best_of_threads(fn, counts, **timing):
    """fn timed at each thread count: (median ms, repeats, threads) of the fastest."""
    best = None
    for n in counts:
        torch.set_num_threads(n)
        ms, reps = median_ms(fn, **timing)
        if best is None or ms < best[0]:
            best = (ms, reps, n)
    return best


def time_float64(rnn, x, train, counts):
    """The float64 forward (and training step) of rnn's .double() copy, at its best of the thread counts."""
    net = copy.deepcopy(rnn).double()
    x64 = x.double()
    result = {"dtype": "float64"}
    with torch.no_grad():
        ms, reps, n = best_of_threads(lambda: net(x64), counts, slow=True)
    result.update(forward_ms=ms, forward_reps=reps, threads=n)
    if train:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            net(x64)[0].sum().backward()
            opt.step()

        ms, reps, n = best_of_threads(step, counts, most=50, least=1, slow=True)
        result.update(train_ms=ms, train_reps=reps, train_threads=n)
    return result


def main():
    out_dir = sys.argv[1]
    L, N, I, H, K = (int(v) for v in sys.argv[2:7])
    train = "--train" in sys.argv
    cell = sys.argv[sys.argv.index("--cell") + 1] if "--cell" in sys.argv else "rnn"
    given = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else None
    threads = 1 if given is None else given
    float64 = "--dtype" in sys.argv and sys.argv[sys.argv.index("--dtype") + 1] == "float64"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, num_layers=K)
    x = torch.randn(L, N, I)
    write_inputs(out_dir, rnn, x)

    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cell": cell}
    if float64:
        result.update(time_float64(rnn, x, train, [1, 2] if given is None else [given]))
        torch.set_num_threads(threads)
    with torch.no_grad():
        if not float64:
            result["forward_ms"], result["forward_reps"] = median_ms(lambda: rnn(x))
        out32 = rnn(x)[0]
        out64 = rnn.double()(x.double())[0]
        rnn.float()
    result["error"] = float((out32.double() - out64).abs().max() / max(1.0, float(out64.abs().max())))
    with open(f"{out_dir}/out32.bin", "wb") as f:
        f.write(out32.numpy().tobytes())
    with open(f"{out_dir}/out64.bin", "wb") as f:
        f.write(out64.numpy().tobytes())
    if train and not float64:

        def step():
            rnn.zero_grad()
            rnn(x)[0].sum().backward()

        result["train_ms"], result["train_reps"] = median_ms(step)
    if "--onnx" in sys.argv:
        names = ["y", "h_n", "c_n"] if cell == "lstm" else ["y", "h_n"]
        torch.onnx.export(rnn, (x,), f"{out_dir}/model.onnx", input_names=["x"], output_names=names)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
