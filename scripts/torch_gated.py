"""PyTorch's float32 and float64 LSTM and GRU for test/gated-torch-live.test.ts (run with /usr/bin/python3).

    torch_gated.py DIR

DIR/cases.json is a list of cases, each {"cell": "lstm" | "gru", "I", "H", "K", "P" (proj_size, 0 for none),
"bidirectional", "L", "N", "lengths" (list or null), "seed"}. For case i, torch makes the module with its own
random initialisation (torch.manual_seed(seed)), an input x (L, N, I) and a gradient for the output g, and writes
into DIR/<i>/, all little-endian: weights.json (name -> shape, in state-dict order) and weights.bin (float32),
x.bin and g.bin (float32), and for dtype in 32, 64 the module run in that precision on the same (float32) numbers:
out<dtype>.bin, hn<dtype>.bin, cn<dtype>.bin (LSTM), and grads<dtype>.bin, the gradients of sum(output * g) with
respect to x and then every parameter in state-dict order, each as float64. With lengths, the input is packed
(pack_padded_sequence, enforce_sorted=False) and the output padded back with zeros to L steps.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def run(module, x, lengths):
    if lengths is None:
        return module(x)
    packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
    out, state = module(packed)
    return pad_packed_sequence(out, total_length=x.shape[0])[0], state


def write(path, tensor, dtype):
    path.write_bytes(tensor.detach().numpy().astype(dtype).tobytes())


def main():
    root = Path(sys.argv[1])
    torch.set_num_threads(1)
    for i, case in enumerate(json.loads((root / "cases.json").read_text())):
        out_dir = root / str(i)
        out_dir.mkdir(exist_ok=True)
        torch.manual_seed(case["seed"])
        lstm = case["cell"] == "lstm"
        options = dict(num_layers=case["K"], bidirectional=case["bidirectional"])
        if lstm:
            module = torch.nn.LSTM(case["I"], case["H"], proj_size=case["P"], **options)
        else:
            module = torch.nn.GRU(case["I"], case["H"], **options)
        x = torch.randn(case["L"], case["N"], case["I"])
        sd = module.state_dict()
        (out_dir / "weights.json").write_text(json.dumps([[k, list(v.shape)] for k, v in sd.items()]))
        (out_dir / "weights.bin").write_bytes(b"".join(v.contiguous().numpy().tobytes() for v in sd.values()))
        write(out_dir / "x.bin", x, "<f4")
        g = None
        for name, dtype in (("32", torch.float32), ("64", torch.float64)):
            m = module.to(dtype)
            xi = x.detach().to(dtype).clone().requires_grad_(True)
            out, state = run(m, xi, case["lengths"])
            if g is None:
                g = torch.randn(out.shape)
                write(out_dir / "g.bin", g, "<f4")
            (out * g.to(dtype)).sum().backward()
            write(out_dir / f"out{name}.bin", out, "<f8")
            h_n, c_n = state if lstm else (state, None)
            write(out_dir / f"hn{name}.bin", h_n, "<f8")
            if c_n is not None:
                write(out_dir / f"cn{name}.bin", c_n, "<f8")
            grads = [xi.grad] + [dict(m.named_parameters())[k].grad for k in sd.keys()]
            (out_dir / f"grads{name}.bin").write_bytes(
                b"".join(t.detach().numpy().astype("<f8").tobytes() for t in grads)
            )
            m.zero_grad()
        module.float()
    print("ok")


if __name__ == "__main__":
    main()
