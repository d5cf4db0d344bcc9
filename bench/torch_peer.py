"""The PyTorch side of the benchmark, for one configuration (run by bench/run.ts with /usr/bin/python3).

    torch_peer.py DIR L N I H K [--cell rnn|lstm|gru] [--train] [--onnx] [--threads T]

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
"""

import json
import resource
import statistics
import sys
import time

import torch


def median_ms(fn, budget_s=3.0, most=200, least=3):
    fn()  # warm-up
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


def main():
    out_dir = sys.argv[1]
    L, N, I, H, K = (int(v) for v in sys.argv[2:7])
    train = "--train" in sys.argv
    cell = sys.argv[sys.argv.index("--cell") + 1] if "--cell" in sys.argv else "rnn"
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, num_layers=K)
    x = torch.randn(L, N, I)
    write_inputs(out_dir, rnn, x)

    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cell": cell}
    with torch.no_grad():
        result["forward_ms"], result["forward_reps"] = median_ms(lambda: rnn(x))
        out32 = rnn(x)[0]
        out64 = rnn.double()(x.double())[0]
        rnn.float()
    result["error"] = float((out32.double() - out64).abs().max() / max(1.0, float(out64.abs().max())))
    with open(f"{out_dir}/out32.bin", "wb") as f:
        f.write(out32.numpy().tobytes())
    with open(f"{out_dir}/out64.bin", "wb") as f:
        f.write(out64.numpy().tobytes())
    if train:

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
