"""Writes test/fixtures/round3/*.pt for test/hostile-round3-files.test.ts (issue 25, items 9 and 10).

Run with /usr/bin/python3 (the interpreter with torch): `/usr/bin/python3 scripts/make_round3_fixtures.py`.

Each file is a valid torch.save whose tensors are stride-0 `expand` views of a one-element storage: a kilobyte or
two on disk, gigabytes once materialised. torch.load reads them back as the same views (checked below).
"""

from collections import OrderedDict
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "round3"


def expanded(*shape):
    return torch.full((1,) * len(shape), 0.01).expand(*shape)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    # An nn.LSTM(11000, 11000) state dict: weight_ih_l0 and weight_hh_l0 (44000, 11000), 1.9 GB each as float32.
    H = 11000
    sd = OrderedDict(
        weight_ih_l0=expanded(4 * H, H),
        weight_hh_l0=expanded(4 * H, H),
        bias_ih_l0=expanded(4 * H),
        bias_hh_l0=expanded(4 * H),
    )
    torch.save(sd, OUT / "expanded-lstm.pt")
    # An input of (8192, 8192, 1): 268 MB as float32, for a small RNN(1, 2).
    torch.save({"input": expanded(8192, 8192, 1)}, OUT / "expanded-input.pt")
    # A small RNN(1, 2) for that input.
    torch.manual_seed(0)
    torch.save(torch.nn.RNN(1, 2).state_dict(), OUT / "rnn-1-2.pt")
    # The views survive the round trip: stride 0, as saved.
    back = torch.load(OUT / "expanded-lstm.pt")
    assert back["weight_ih_l0"].stride() == (0, 0), back["weight_ih_l0"].stride()
    for f in sorted(OUT.glob("*.pt")):
        print(f.name, f.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
