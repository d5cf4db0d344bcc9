"""PyTorch float64 RNN, LSTM and GRU for test/float64-live.test.ts (run with /usr/bin/python3).

    torch_float64.py DIR

DIR/cases.json is a list of cases, each {"mode": "rnn_tanh" | "rnn_relu" | "lstm" | "gru", "I", "H", "K",
"P" (proj_size, 0 for none), "bidirectional", "batch_first", "L", "N", "lengths" (list or null), "h0" (whether
initial states are given), "seed"}. For case i, torch.manual_seed(seed), the module is made with torch's own
initialisation in float64, and so are (float64, standard normal) the input x ((L, N, I), or (N, L, I) when
batch_first), h0 (and c0) when given, and the upstream gradients g (of the output), ghn (of h_n) and gcn (of c_n,
LSTM). It writes into DIR/<i>/, all little-endian float64: weights.json (name -> shape, state-dict order),
weights.bin, x.bin, h0.bin, c0.bin, g.bin, ghn.bin, gcn.bin (those that exist), out.bin, hn.bin, cn.bin, and
grads.bin: the gradients of sum(out * g) + sum(h_n * ghn) + sum(c_n * gcn) with respect to x, h0, c0 (when given)
and every parameter in state-dict order. With lengths, the input is packed (pack_padded_sequence,
enforce_sorted=False) and the output padded back with zeros to L steps.
"""

import json
import sys
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def write(path, tensor):
    path.write_bytes(tensor.detach().contiguous().numpy().astype("<f8").tobytes())


def make(case):
    options = dict(num_layers=case["K"], bidirectional=case["bidirectional"], batch_first=case["batch_first"])
    mode = case["mode"]
    if mode == "lstm":
        return torch.nn.LSTM(case["I"], case["H"], proj_size=case["P"], **options)
    if mode == "gru":
        return torch.nn.GRU(case["I"], case["H"], **options)
    return torch.nn.RNN(case["I"], case["H"], nonlinearity=mode[4:], **options)


def main():
    root = Path(sys.argv[1])
    torch.set_num_threads(1)
    for i, case in enumerate(json.loads((root / "cases.json").read_text())):
        out_dir = root / str(i)
        out_dir.mkdir(exist_ok=True)
        torch.manual_seed(case["seed"])
        lstm = case["mode"] == "lstm"
        module = make(case).double()
        L, N, K, H = case["L"], case["N"], case["K"], case["H"]
        D = 2 if case["bidirectional"] else 1
        P = case["P"] or H
        x = torch.randn((N, L, case["I"]) if case["batch_first"] else (L, N, case["I"]), dtype=torch.float64)
        x.requires_grad_(True)
        states = []
        if case["h0"]:
            states.append(torch.randn(K * D, N, P, dtype=torch.float64).requires_grad_(True))
            if lstm:
                states.append(torch.randn(K * D, N, H, dtype=torch.float64).requires_grad_(True))
        hx = None if not states else (tuple(states) if lstm else states[0])
        if case["lengths"] is None:
            out, state = module(x, hx)
        else:
            packed = pack_padded_sequence(
                x, torch.tensor(case["lengths"]), batch_first=case["batch_first"], enforce_sorted=False
            )
            out, state = module(packed, hx)
            out = pad_packed_sequence(out, batch_first=case["batch_first"], total_length=L)[0]
        finals = list(state) if lstm else [state]
        g = torch.randn(out.shape, dtype=torch.float64)
        gstates = [torch.randn(s.shape, dtype=torch.float64) for s in finals]
        loss = (out * g).sum() + sum((s * gs).sum() for s, gs in zip(finals, gstates))
        loss.backward()
        sd = module.state_dict()
        (out_dir / "weights.json").write_text(json.dumps([[k, list(v.shape)] for k, v in sd.items()]))
        (out_dir / "weights.bin").write_bytes(b"".join(v.contiguous().numpy().astype("<f8").tobytes() for v in sd.values()))
        write(out_dir / "x.bin", x)
        for name, s in zip(("h0", "c0"), states):
            write(out_dir / f"{name}.bin", s)
        write(out_dir / "g.bin", g)
        for name, gs in zip(("ghn", "gcn"), gstates):
            write(out_dir / f"{name}.bin", gs)
        write(out_dir / "out.bin", out)
        for name, s in zip(("hn", "cn"), finals):
            write(out_dir / f"{name}.bin", s)
        params = dict(module.named_parameters())
        grads = [x.grad] + [s.grad for s in states] + [params[k].grad for k in sd.keys()]
        (out_dir / "grads.bin").write_bytes(b"".join(t.detach().numpy().astype("<f8").tobytes() for t in grads))
    print("ok")


if __name__ == "__main__":
    main()
