"""Writes test/fixtures/grad/*.json: PyTorch autograd gradients for test/grad-fixtures.test.ts.

Run with /usr/bin/python3 (the interpreter with torch). Deterministic: the same torch and this file give the same
bytes.

The RNN cases are a pairwise covering set of the option matrix (every value of every option appears, and every
pair of values of two options appears together in at least one case):

    numLayers 1..4, bidirectional, batchFirst, unbatched, bias, nonlinearity tanh/relu, h0 given or not,
    lengths none / max = L / all < L (never with unbatched input), dtype float32/float64, input size = or != hidden
    size, gradHN given or not, dropout none / 0.5 in eval mode (must change nothing) / 0.5 in training mode with
    an explicit mask (only with > 1 layer)

Torch's dropout draws from its own generator, so the training-mode cases draw K-1 masks here (0 or 1/(1-p), as
torch's dropout makes them) and compute torch's side as K single-layer RNNs chained with the masks multiplied in
between (see torch_grad.py); the test makes our RNN use the same masks. A few RNNCell cases follow.

Each file holds the case as torch_grad.py reads it (config, stateDict, input, h0, lengths, gradOutput, gradHN,
masks) plus torch's result: output, h_n, grads (of input, h0 and every parameter) and, for float32, grads64 (the
same values cast to float64 and differentiated in float64).
"""

import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_grad  # noqa: E402
import torch_rnn  # noqa: E402
from covering import covering_cases  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "grad"
SEED = 20240607

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
    "gradHN": [True, False],
    "dropout": ["none", "eval", "mask"],
}

# Beyond pairs: every triple of the options whose interplay the backward's layer and time loops handle.
TRIPLES = [("numLayers", "bidirectional", "lengths"), ("bidirectional", "lengths", "dropout")]

# Edges a random covering set may miss: (options, sizes); sizes not given are drawn.
BASE = {"numLayers": 2, "bidirectional": True, "batchFirst": False, "unbatched": False, "bias": True,
        "nonlinearity": "tanh", "h0": True, "lengths": "none", "dtype": "float64", "sameSize": False,
        "gradHN": True, "dropout": "none"}
EXTRAS = [
    # a single time step, every length 1 = L
    (dict(BASE, lengths="full"), {"L": 1, "N": 3, "lengths": [1, 1, 1]}),
    # one sequence, shorter than L: the gradient enters at its last valid step and skips the padded tail
    (dict(BASE, numLayers=3, dropout="mask", nonlinearity="relu"), {"L": 6, "N": 1, "lengths": [3]}),
    # the largest sizes here, four layers, masks, float32
    (dict(BASE, numLayers=4, dropout="mask", dtype="float32", batchFirst=True), {"L": 6, "N": 4, "H": 6, "I": 6,
                                                                                "lengths": [6, 2, 5, 1]}),
]

CELLS = [
    {"bias": True, "nonlinearity": "tanh", "dtype": "float64", "unbatched": False, "hx": True},
    {"bias": False, "nonlinearity": "relu", "dtype": "float64", "unbatched": True, "hx": False},
    {"bias": True, "nonlinearity": "relu", "dtype": "float32", "unbatched": False, "hx": False},
    {"bias": False, "nonlinearity": "tanh", "dtype": "float32", "unbatched": True, "hx": True},
]


def allowed(case):
    if case.get("unbatched") and case.get("lengths", "none") != "none":
        return False  # packed sequences need a batch dimension
    if case.get("dropout", "none") != "none" and case.get("numLayers", 2) == 1:
        return False  # dropout only acts between layers
    return True


def draw_lengths(rng, kind, L, N):
    """`full`: one sequence uses all L steps, the others may be shorter; `short`: every length < L."""
    if kind == "full":
        lengths = [L] + [rng.randint(1, L) for _ in range(N - 1)]
        rng.shuffle(lengths)
        return lengths
    return [rng.randint(1, L - 1) for _ in range(N)]


def as_json(t):
    return torch_grad.as_json(t)


def rnn_case(index, opts, rng, sizes=None):
    sizes = sizes or {}
    H = sizes.get("H") or rng.randint(2, 5)
    I = sizes.get("I") or (H if opts["sameSize"] else rng.choice([i for i in range(1, 6) if i != H]))
    L = sizes.get("L") or rng.randint(2, 5)
    N = 1 if opts["unbatched"] else sizes.get("N") or rng.randint(2, 3)
    D = 2 if opts["bidirectional"] else 1
    K = opts["numLayers"]
    p = 0.0 if opts["dropout"] == "none" else 0.5
    cfg = {
        "inputSize": I,
        "hiddenSize": H,
        "numLayers": K,
        "nonlinearity": opts["nonlinearity"],
        "bias": opts["bias"],
        "batchFirst": opts["batchFirst"],
        "dropout": p,
        "bidirectional": opts["bidirectional"],
        "dtype": opts["dtype"],
    }
    shape = dict(cfg, L=L, N=N, unbatched=opts["unbatched"])
    dtype = torch_rnn.TORCH_DTYPE[opts["dtype"]]
    torch.manual_seed(SEED + index)
    rnn = torch_rnn.make_rnn(cfg)
    if opts["nonlinearity"] == "relu":
        # keep deep relu stacks at order-1 values (U(-1/sqrt(H), 1/sqrt(H)) weights shrink them layer by layer)
        with torch.no_grad():
            for name, param in rnn.named_parameters():
                if name.startswith("weight"):
                    param.mul_(1.5)
    x = torch.randn(torch_rnn.input_shape(shape), dtype=dtype)
    h0 = torch.randn(torch_rnn.h0_shape(shape), dtype=dtype) if opts["h0"] else None
    out_shape = (L, D * H) if opts["unbatched"] else (N, L, D * H) if opts["batchFirst"] else (L, N, D * H)
    grad_output = torch.randn(out_shape, dtype=dtype)
    grad_hn = torch.randn(torch_rnn.h0_shape(shape), dtype=dtype) if opts["gradHN"] else None
    masks = None
    if opts["dropout"] == "mask":
        masks = [torch.bernoulli(torch.full((L, N, D * H), 1 - p, dtype=dtype)) / (1 - p) for _ in range(K - 1)]
    lengths = sizes.get("lengths")
    if lengths is None and opts["lengths"] != "none":
        lengths = draw_lengths(rng, opts["lengths"], L, N)
    return {
        "kind": "rnn",
        "config": cfg,
        "stateDict": {k: as_json(v) for k, v in rnn.state_dict().items()},
        "input": as_json(x),
        "h0": as_json(h0),
        "lengths": lengths,
        "gradOutput": as_json(grad_output),
        "gradHN": as_json(grad_hn),
        "masks": None if masks is None else [as_json(m) for m in masks],
    }


def cell_case(index, opts, rng):
    H = rng.randint(2, 5)
    I = rng.randint(1, 5)
    N = rng.randint(1, 3)
    cfg = {"inputSize": I, "hiddenSize": H, "bias": opts["bias"], "nonlinearity": opts["nonlinearity"],
           "dtype": opts["dtype"]}
    dtype = torch_rnn.TORCH_DTYPE[opts["dtype"]]
    torch.manual_seed(SEED + index)
    cell = torch.nn.RNNCell(I, H, bias=opts["bias"], nonlinearity=opts["nonlinearity"], dtype=dtype)
    batch = () if opts["unbatched"] else (N,)
    return {
        "kind": "cell",
        "config": cfg,
        "stateDict": {k: as_json(v) for k, v in cell.state_dict().items()},
        "input": as_json(torch.randn(batch + (I,), dtype=dtype)),
        "hx": as_json(torch.randn(batch + (H,), dtype=dtype)) if opts["hx"] else None,
        "gradH": as_json(torch.randn(batch + (H,), dtype=dtype)),
    }


def main():
    rng = random.Random(SEED)
    plan = [(opts, None) for opts in covering_cases(rng, FACTORS, TRIPLES, allowed)] + EXTRAS
    cases = [rnn_case(i, opts, rng, sizes) for i, (opts, sizes) in enumerate(plan)]
    cases += [cell_case(100 + i, opts, rng) for i, opts in enumerate(CELLS)]
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    total = 0
    counts = {"rnn": 0, "cell": 0}
    for case in cases:
        kind = case["kind"]
        fixture = dict(case, torch=torch.__version__, expected=torch_grad.grads(case))
        text = json.dumps(fixture, separators=(",", ":")) + "\n"
        (OUT / f"{kind}-{counts[kind]:02d}.json").write_text(text)
        counts[kind] += 1
        total += len(text)
    print(f"wrote {counts['rnn']} RNN and {counts['cell']} RNNCell cases to {OUT} ({total / 1024:.0f} KiB), "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
