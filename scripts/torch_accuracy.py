"""PyTorch float32 and float64 forwards for scripts/accuracy.ts (run with /usr/bin/python3).

    torch_accuracy.py DIR

DIR/cases.json is a list of cases, each {"cell": "rnn_tanh" | "rnn_relu" | "lstm" | "gru", "I", "H", "K", "P"
(proj_size, 0 for none), "bias", "bidirectional", "L", "N", "lengths" (list or null)}. Case i's weights are DIR/<i>/weights.bin
(float32, little-endian, in the order of DIR/<i>/weights.json's [name, shape] list) and its input DIR/<i>/x.bin (float32, (L, N, I)). The
module runs in float32 and in float64 on those same numbers; DIR/<i>/out<32|64>.bin, hn<..>.bin and (LSTM)
cn<..>.bin get the output (padded with zeros past each length, as pad_packed_sequence gives it) and final states,
as float64.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def module_for(case):
    options = dict(num_layers=case["K"], bias=case["bias"], bidirectional=case["bidirectional"])
    cell = case["cell"]
    if cell == "lstm":
        return torch.nn.LSTM(case["I"], case["H"], proj_size=case["P"], **options)
    if cell == "gru":
        return torch.nn.GRU(case["I"], case["H"], **options)
    return torch.nn.RNN(case["I"], case["H"], nonlinearity=cell[4:], **options)


def main():
    root = Path(sys.argv[1])
    for i, case in enumerate(json.loads((root / "cases.json").read_text())):
        d = root / str(i)
        module = module_for(case)
        flat = np.frombuffer((d / "weights.bin").read_bytes(), dtype="<f4")
        at = 0
        sd = {}
        for name, shape in json.loads((d / "weights.json").read_text()):
            n = int(np.prod(shape))
            sd[name] = torch.from_numpy(flat[at : at + n].copy()).reshape(shape)
            at += n
        assert at == flat.size, f"case {i}: {flat.size} weights given, {at} taken"
        module.load_state_dict(sd)
        x = torch.from_numpy(np.frombuffer((d / "x.bin").read_bytes(), dtype="<f4").copy())
        x = x.reshape(case["L"], case["N"], case["I"])
        for tag, dtype in (("32", torch.float32), ("64", torch.float64)):
            m = module.to(dtype)
            xi = x.to(dtype)
            with torch.no_grad():
                if case["lengths"] is None:
                    out, state = m(xi)
                else:
                    packed = pack_padded_sequence(xi, torch.tensor(case["lengths"]), enforce_sorted=False)
                    out, state = m(packed)
                    out = pad_packed_sequence(out, total_length=case["L"])[0]
            h_n, c_n = state if case["cell"] == "lstm" else (state, None)
            (d / f"out{tag}.bin").write_bytes(out.numpy().astype("<f8").tobytes())
            (d / f"hn{tag}.bin").write_bytes(h_n.numpy().astype("<f8").tobytes())
            if c_n is not None:
                (d / f"cn{tag}.bin").write_bytes(c_n.numpy().astype("<f8").tobytes())
        module.float()
    print("ok")


if __name__ == "__main__":
    main()
