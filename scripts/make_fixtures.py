"""Writes test/fixtures/forward/*.json: torch.nn.RNN forward passes for test/parity-fixtures.test.ts.

Run with /usr/bin/python3 (the interpreter with torch): `npm run fixtures`. Deterministic: the same torch and
this file give the same bytes.

The cases are a pairwise covering set of the option matrix, not the full product: every value of every option
appears, and every pair of values of two options appears together in at least one case. The options are

    numLayers 1..4, bidirectional, batchFirst, unbatched, bias, nonlinearity tanh/relu, h0 given or not,
    lengths none / max = L / all < L (never with unbatched input), dtype float32/float64,
    input size = or != hidden size, dropout 0 / 0.5 (eval mode, so it must change nothing; only with > 1 layer)

Sizes are small (L <= 6, N <= 4, I, H <= 7). Each file holds the config, PyTorch's state dict, input, h0, lengths,
PyTorch's output and h_n, and for float32 also `output64` / `h_n64`: the same weights and inputs cast to float64
and run in float64, the reference both float32 results are measured against. Tensors are {shape, data} with
flat row-major data; json writes floats with repr, so float64 values round-trip exactly (and float32 values are
exact in float64).
"""

import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_rnn  # noqa: E402
from covering import covering_cases  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "forward"
SEED = 20240601

FACTORS = {
    "numLayers": [1, 2, 3, 4],
    "bidirectional": [False, True],
    "batchFirst": [False, True],
    "unbatched": [False, True],
    "bias": [True, False],
    "nonlinearity": ["tanh", "relu"],
    "h0": [False, True],
    "lengths": ["none", "full", "short"],
    "dtype": ["float64", "float32"],
    "sameSize": [False, True],
    "dropout": [0.0, 0.5],
}


# Beyond pairs: every triple of these, the options whose interplay the stacking and packing code handles.
TRIPLES = [("numLayers", "bidirectional", "lengths"), ("nonlinearity", "dtype", "lengths")]

# Edges a random covering set may miss: {options, sizes}. Sizes not given are drawn.
EXTRAS = [
    # a single time step, every length 1 = L
    ({"numLayers": 2, "bidirectional": True, "batchFirst": False, "unbatched": False, "bias": True,
      "nonlinearity": "tanh", "h0": True, "lengths": "full", "dtype": "float64", "sameSize": False, "dropout": 0.0},
     {"L": 1, "N": 3, "lengths": [1, 1, 1]}),
    # every length = L: packing must change nothing
    ({"numLayers": 3, "bidirectional": True, "batchFirst": True, "unbatched": False, "bias": True,
      "nonlinearity": "relu", "h0": False, "lengths": "full", "dtype": "float32", "sameSize": True, "dropout": 0.0},
     {"L": 5, "N": 3, "lengths": [5, 5, 5]}),
    # one sequence shorter than L: the padded tail of the output is zero, h_n comes from the last valid step
    ({"numLayers": 2, "bidirectional": True, "batchFirst": False, "unbatched": False, "bias": False,
      "nonlinearity": "tanh", "h0": True, "lengths": "short", "dtype": "float64", "sameSize": False, "dropout": 0.0},
     {"L": 6, "N": 1, "lengths": [3]}),
    # the largest sizes allowed, both directions, four layers
    ({"numLayers": 4, "bidirectional": True, "batchFirst": False, "unbatched": False, "bias": True,
      "nonlinearity": "tanh", "h0": True, "lengths": "full", "dtype": "float32", "sameSize": True, "dropout": 0.5},
     {"L": 6, "N": 4, "H": 7, "I": 7, "lengths": [6, 2, 5, 1]}),
]


def allowed(case):
    """Constraints on partial or full assignments."""
    if case.get("unbatched") and case.get("lengths", "none") != "none":
        return False  # packed sequences need a batch dimension
    if case.get("dropout", 0.0) > 0 and case.get("numLayers", 2) == 1:
        return False  # PyTorch warns: dropout only acts between layers
    return True


def draw_lengths(rng, kind, L, N):
    """`full`: one sequence uses all L steps, the others are shorter when L > 1; `short`: every length < L."""
    if kind == "full":
        lengths = [L] + [rng.randint(1, max(1, L - 1)) for _ in range(N - 1)]
        rng.shuffle(lengths)
        return lengths
    return [rng.randint(max(1, L // 2), L - 1) for _ in range(N)]


def as_json_tensor(t):
    return {"shape": list(t.shape), "data": t.detach().double().reshape(-1).tolist()}


def make_case(index, opts, sizes, rng):
    H = sizes.get("H") or rng.randint(2, 7)
    I = sizes.get("I") or (H if opts["sameSize"] else rng.choice([i for i in range(1, 8) if i != H]))
    L = sizes.get("L") or rng.randint(3, 6)
    N = 1 if opts["unbatched"] else sizes.get("N") or rng.randint(1, 4)
    cfg = {
        "inputSize": I,
        "hiddenSize": H,
        "numLayers": opts["numLayers"],
        "nonlinearity": opts["nonlinearity"],
        "bias": opts["bias"],
        "batchFirst": opts["batchFirst"],
        "dropout": opts["dropout"],
        "bidirectional": opts["bidirectional"],
        "dtype": opts["dtype"],
    }
    case = dict(cfg, L=L, N=N, unbatched=opts["unbatched"])
    dtype = torch_rnn.TORCH_DTYPE[opts["dtype"]]

    torch.manual_seed(SEED + index)
    rnn = torch_rnn.make_rnn(cfg)
    if opts["nonlinearity"] == "relu":
        # with U(-1/sqrt(H), 1/sqrt(H)) weights each relu layer shrinks its input; scaling them by 1.5 keeps deep relu
        # stacks at outputs of order 1 instead of vanishing, so the comparison sees real numbers
        with torch.no_grad():
            for name, p in rnn.named_parameters():
                if name.startswith("weight"):
                    p.mul_(1.5)
    x = torch.randn(torch_rnn.input_shape(case), dtype=dtype)
    h0 = torch.randn(torch_rnn.h0_shape(case), dtype=dtype) if opts["h0"] else None
    lengths = sizes.get("lengths")
    if lengths is None and opts["lengths"] != "none":
        lengths = draw_lengths(rng, opts["lengths"], L, N)
    lengths_t = None if lengths is None else torch.tensor(lengths, dtype=torch.int64)
    result = torch_rnn.reference(rnn, x, h0, lengths_t, cfg["batchFirst"])

    fixture = {
        "config": cfg,
        "case": {"L": L, "N": N, "unbatched": opts["unbatched"], "lengths": opts["lengths"]},
        "stateDict": {k: as_json_tensor(v) for k, v in rnn.state_dict().items()},
        "input": as_json_tensor(x),
        "h0": None if h0 is None else as_json_tensor(h0),
        "lengths": lengths,
        **{k: as_json_tensor(v) for k, v in result.items()},
    }
    return fixture


def main():
    rng = random.Random(SEED)
    cases = [(opts, {}) for opts in covering_cases(rng, FACTORS, TRIPLES, allowed)] + EXTRAS
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    total = 0
    for i, (opts, sizes) in enumerate(cases):
        fixture = make_case(i, opts, sizes, rng)
        fixture["torch"] = torch.__version__
        path = OUT / f"case-{i:02d}.json"
        text = json.dumps(fixture, separators=(",", ":")) + "\n"
        path.write_text(text)
        total += len(text)
    print(f"wrote {len(cases)} cases to {OUT} ({total / 1024:.0f} KiB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
