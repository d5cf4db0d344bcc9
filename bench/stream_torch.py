"""The PyTorch side of the streaming benchmark (run by bench/stream.ts with /usr/bin/python3).

    stream_torch.py DIR rnn|lstm|gru I H K N L STEPS THREADS    one call per L steps of N rows, the state carried
    stream_torch.py DIR lm V E H K LENGTH THREADS               greedy generation from a character model

The first form writes into DIR the weights every contender loads (weights.json and weights.bin, as
bench/torch_peer.py writes them), the STEPS inputs (x.bin: (STEPS, L, N, I) float32) and, for onnxruntime, the
module exported with its initial states as inputs (model.onnx: x, h0[, c0] -> y, h_n[, c_n]). Then times STEPS
calls `y, h = net(x[s], h)` under no_grad at THREADS threads and prints one JSON line: microseconds per call
(median of 5 rounds), and the last output for the others to compare with.

The second form makes a character model, Embedding(V, E) -> LSTM(E, H, K) -> Linear(H, V), saves its state dict
with torch.save (DIR/lm.pt, as users save theirs), generates LENGTH characters greedily from id 0, one step per
call with the state carried, and prints the time per character and the ids it generated.
"""

import json
import statistics
import sys
import time

import torch

from torch_peer import write_inputs


def rounds(fn, n=5):
    fn()  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class CharModel(torch.nn.Module):
    def __init__(self, V, E, H, K):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = torch.nn.LSTM(E, H, num_layers=K, batch_first=True)
        self.head = torch.nn.Linear(H, V)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.emb(ids), state)
        return self.head(y), state


def stream(out_dir, cell, I, H, K, N, L, steps):
    torch.manual_seed(0)
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H, num_layers=K).eval()
    x = torch.randn(steps, L, N, I)
    write_inputs(out_dir, net, x)
    h0 = torch.zeros(K, N, H)
    state0 = (h0, torch.zeros(K, N, H)) if cell == "lstm" else h0
    last = {}

    def run():
        state = state0
        for s in range(steps):
            y, state = net(x[s], state)
        last["y"] = y

    with torch.no_grad():
        seconds = rounds(run)
        names_in = ["x", "h0", "c0"] if cell == "lstm" else ["x", "h0"]
        names_out = ["y", "h_n", "c_n"] if cell == "lstm" else ["y", "h_n"]
        args = (x[0], state0) if cell == "lstm" else (x[0], h0)
        torch.onnx.export(net, args, f"{out_dir}/model.onnx", input_names=names_in, output_names=names_out)
    return {"us_per_call": seconds / steps * 1e6, "last": last["y"].flatten().tolist()}


def generate(out_dir, V, E, H, K, length):
    torch.manual_seed(0)
    model = CharModel(V, E, H, K).eval()
    torch.save(model.state_dict(), f"{out_dir}/lm.pt")
    ids = []

    def run():
        ids.clear()
        token, state = torch.zeros(1, 1, dtype=torch.long), None
        for _ in range(length):
            logits, state = model(token, state)
            token = logits[:, -1].argmax(-1, keepdim=True)
            ids.append(int(token))

    with torch.no_grad():
        seconds = rounds(run, 3)
    return {"us_per_char": seconds / length * 1e6, "ids": ids}


def main():
    out_dir, what = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[-1])
    torch.set_num_threads(threads)
    if what == "lm":
        V, E, H, K, length = (int(v) for v in sys.argv[3:8])
        result = generate(out_dir, V, E, H, K, length)
    else:
        I, H, K, N, L, steps = (int(v) for v in sys.argv[3:9])
        result = stream(out_dir, what, I, H, K, N, L, steps)
    result["threads"] = threads
    print(json.dumps(result))


if __name__ == "__main__":
    main()
