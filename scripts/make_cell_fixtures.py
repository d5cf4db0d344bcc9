"""Writes test/fixtures/cells/*.json: torch.nn.LSTM, nn.GRU, nn.LSTMCell and nn.GRUCell forward passes and autograd
gradients, for test/cells-fixtures.test.ts, and init.json: their parameters after torch.manual_seed.

Run with /usr/bin/python3 (the interpreter with torch): `npm run fixtures`. Deterministic on one machine: the same
torch and this file give the same bytes (PyTorch's float64 BLAS may differ in the last bit from one CPU to another).

The LSTM and GRU cases are a pairwise covering set of each one's option matrix (every value of every option appears,
and every pair of values of two options appears together in at least one case):

    numLayers 1..4, bidirectional, batchFirst, unbatched, bias, the initial state (h0, and the LSTM's c0) given or
    not, lengths none / max = L / all < L (never with unbatched input), dtype float32/float64, input size = or !=
    hidden size, gradHN given or not, dropout none / 0.5 in eval mode (must change nothing) / 0.5 in training mode
    with explicit masks (only with > 1 layer); for the LSTM also projSize 0 / 0 < P < H and gradCN given or not.

As in scripts/make_grad_fixtures.py, torch's dropout draws from its own generator, so the training-mode cases draw
K-1 masks of shape (L, N, D*P) here and torch's side runs K single-layer modules chained with the masks multiplied
in between (see torch_grad.py); the test replays the same masks into our module. The LSTMCell and GRUCell cases cover
batched and unbatched input, the state given or not, bias or not, float32 and float64 (and for the LSTMCell which of
gradH and gradC is given).

Each case file holds the case as torch_grad.py reads it (config with "cell", stateDict, input, h0/c0 or hx/cx,
lengths, gradOutput/gradHN/gradCN or gradH/gradC, masks) plus torch's result as `expected`: the forward's outputs,
grads of the input, the initial states and every parameter, and for float32 grads64 and forward64 (the same values
cast to float64 and run, differentiated, in float64: the reference both float32 results are measured against).
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

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "cells"
SEED = 20240715

COMMON = {
    "numLayers": [1, 2, 3, 4],
    "bidirectional": [False, True],
    "batchFirst": [False, True],
    "unbatched": [False, True],
    "bias": [True, False],
    "state": [False, True],
    "lengths": ["none", "full", "short"],
    "dtype": ["float64", "float32"],
    "sameSize": [False, True],
    "gradHN": [True, False],
    "dropout": ["none", "eval", "mask"],
}
FACTORS = {
    "LSTM": dict(COMMON, projSize=[False, True], gradCN=[True, False]),
    "GRU": COMMON,
}

# Beyond pairs: every triple of the options whose interplay the stacking, packing and projection code handles.
TRIPLES = {
    "LSTM": [("numLayers", "bidirectional", "lengths"), ("bidirectional", "lengths", "dropout"),
             ("projSize", "bidirectional", "lengths"), ("projSize", "gradHN", "gradCN")],
    "GRU": [("numLayers", "bidirectional", "lengths"), ("bidirectional", "lengths", "dropout")],
}

# Edges a random covering set may miss: (options, sizes); sizes not given are drawn.
BASE = {"numLayers": 2, "bidirectional": True, "batchFirst": False, "unbatched": False, "bias": True, "state": True,
        "lengths": "none", "dtype": "float64", "sameSize": False, "gradHN": True, "dropout": "none",
        "projSize": False, "gradCN": True}
EXTRAS = [
    # a single time step, every length 1 = L
    (dict(BASE, lengths="full"), {"L": 1, "N": 3, "lengths": [1, 1, 1]}),
    # one sequence, shorter than L: the gradient enters at its last valid step and skips the padded tail
    (dict(BASE, numLayers=3, dropout="mask", projSize=True), {"L": 6, "N": 1, "lengths": [3]}),
    # the largest sizes here, four layers, masks, float32
    (dict(BASE, numLayers=4, dropout="mask", dtype="float32", batchFirst=True, projSize=True),
     {"L": 6, "N": 4, "H": 6, "I": 6, "lengths": [6, 2, 5, 1]}),
]

CELL_FACTORS = {
    "LSTM": {"unbatched": [False, True], "state": [False, True], "bias": [True, False],
             "dtype": ["float64", "float32"], "grads": ["both", "h", "c"]},
    "GRU": {"unbatched": [False, True], "state": [False, True], "bias": [True, False],
            "dtype": ["float64", "float32"]},
}

# torch.manual_seed(seed) then the module: (cell, seed, options), options in the TypeScript spelling
INIT = [
    ("LSTM", 0, {"inputSize": 3, "hiddenSize": 4}),
    ("LSTM", 7, {"inputSize": 5, "hiddenSize": 6, "numLayers": 2, "bidirectional": True, "projSize": 2}),
    ("LSTM", 123, {"inputSize": 2, "hiddenSize": 3, "numLayers": 3, "bias": False, "dtype": "float64"}),
    ("LSTM", 2**32 + 5, {"inputSize": 4, "hiddenSize": 5, "projSize": 3, "dtype": "float64"}),
    ("GRU", 0, {"inputSize": 3, "hiddenSize": 4}),
    ("GRU", 42, {"inputSize": 4, "hiddenSize": 7, "numLayers": 2, "bidirectional": True}),
    ("GRU", 9, {"inputSize": 2, "hiddenSize": 3, "numLayers": 3, "bias": False, "dtype": "float64"}),
    ("LSTMCell", 1, {"inputSize": 3, "hiddenSize": 6}),
    ("LSTMCell", 31, {"inputSize": 2, "hiddenSize": 4, "bias": False, "dtype": "float64"}),
    ("GRUCell", 1, {"inputSize": 3, "hiddenSize": 6}),
    ("GRUCell", 77, {"inputSize": 5, "hiddenSize": 2, "bias": False, "dtype": "float64"}),
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


def module_case(cell, index, opts, rng, sizes=None):
    sizes = sizes or {}
    lstm = cell == "LSTM"
    H = sizes.get("H") or rng.randint(2, 5)
    I = sizes.get("I") or (H if opts["sameSize"] else rng.choice([i for i in range(1, 6) if i != H]))
    P = rng.randint(1, H - 1) if lstm and opts["projSize"] else 0
    L = sizes.get("L") or rng.randint(2, 5)
    N = 1 if opts["unbatched"] else sizes.get("N") or rng.randint(2, 3)
    D = 2 if opts["bidirectional"] else 1
    K = opts["numLayers"]
    p = 0.0 if opts["dropout"] == "none" else 0.5
    cfg = {
        "cell": cell,
        "inputSize": I,
        "hiddenSize": H,
        "numLayers": K,
        "bias": opts["bias"],
        "batchFirst": opts["batchFirst"],
        "dropout": p,
        "bidirectional": opts["bidirectional"],
        "dtype": opts["dtype"],
    }
    if lstm:
        cfg["projSize"] = P
    shape = dict(cfg, L=L, N=N, unbatched=opts["unbatched"])
    dtype = torch_rnn.TORCH_DTYPE[opts["dtype"]]
    torch.manual_seed(SEED + index)
    module = torch_rnn.make_rnn(cfg)
    x = torch.randn(torch_rnn.input_shape(shape), dtype=dtype)
    h0 = torch.randn(torch_rnn.h0_shape(shape), dtype=dtype) if opts["state"] else None
    c0 = torch.randn(torch_rnn.c0_shape(shape), dtype=dtype) if lstm and opts["state"] else None
    F = D * torch_rnn.state_size(cfg)
    out_shape = (L, F) if opts["unbatched"] else (N, L, F) if opts["batchFirst"] else (L, N, F)
    grad_output = torch.randn(out_shape, dtype=dtype)
    grad_hn = torch.randn(torch_rnn.h0_shape(shape), dtype=dtype) if opts["gradHN"] else None
    grad_cn = torch.randn(torch_rnn.c0_shape(shape), dtype=dtype) if lstm and opts["gradCN"] else None
    masks = None
    if opts["dropout"] == "mask":
        masks = [torch.bernoulli(torch.full((L, N, F), 1 - p, dtype=dtype)) / (1 - p) for _ in range(K - 1)]
    lengths = sizes.get("lengths")
    if lengths is None and opts["lengths"] != "none":
        lengths = draw_lengths(rng, opts["lengths"], L, N)
    case = {
        "kind": "rnn",
        "config": cfg,
        "stateDict": {k: as_json(v) for k, v in module.state_dict().items()},
        "input": as_json(x),
        "h0": as_json(h0),
        "lengths": lengths,
        "gradOutput": as_json(grad_output),
        "gradHN": as_json(grad_hn),
        "masks": None if masks is None else [as_json(m) for m in masks],
    }
    if lstm:
        case.update(c0=as_json(c0), gradCN=as_json(grad_cn))
    return case


def cell_case(cell, index, opts, rng):
    H = rng.randint(2, 5)
    I = rng.randint(1, 5)
    N = rng.randint(1, 3)
    cfg = {"cell": cell, "inputSize": I, "hiddenSize": H, "bias": opts["bias"], "dtype": opts["dtype"]}
    dtype = torch_rnn.TORCH_DTYPE[opts["dtype"]]
    torch.manual_seed(SEED + index)
    module = torch_grad.make_cell(cfg, dtype)
    batch = () if opts["unbatched"] else (N,)
    state = (lambda: as_json(torch.randn(batch + (H,), dtype=dtype))) if opts["state"] else (lambda: None)
    case = {
        "kind": "cell",
        "config": cfg,
        "stateDict": {k: as_json(v) for k, v in module.state_dict().items()},
        "input": as_json(torch.randn(batch + (I,), dtype=dtype)),
        "hx": state(),
    }
    grads = opts.get("grads", "h")
    case["gradH"] = as_json(torch.randn(batch + (H,), dtype=dtype)) if grads in ("both", "h") else None
    if cell == "LSTM":
        case["cx"] = state()
        case["gradC"] = as_json(torch.randn(batch + (H,), dtype=dtype)) if grads in ("both", "c") else None
    return case


def init_fixture():
    entries = []
    for name, seed, options in INIT:
        cell = name.replace("Cell", "")
        dtype = torch_rnn.TORCH_DTYPE[options.get("dtype", "float32")]
        torch.manual_seed(seed)
        if name.endswith("Cell"):
            module = torch_grad.make_cell(dict({"bias": True}, cell=cell, **options), dtype)
        else:
            defaults = {"numLayers": 1, "bias": True, "batchFirst": False, "bidirectional": False}
            module = torch_rnn.make_rnn(dict(defaults, cell=cell, **options), dtype)
        entries.append({"module": name, "seed": seed, "options": options, "repr": repr(module),
                        "stateDict": {k: as_json(v) for k, v in module.state_dict().items()}})
    return entries


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    files = {}
    for c, cell in enumerate(("LSTM", "GRU")):
        rng = random.Random(SEED + 1000 * c)
        plan = [(opts, None) for opts in covering_cases(rng, FACTORS[cell], TRIPLES[cell], allowed)]
        plan += [({k: v for k, v in opts.items() if k in FACTORS[cell]}, sizes) for opts, sizes in EXTRAS]
        for i, (opts, sizes) in enumerate(plan):
            files[f"{cell.lower()}-{i:02d}"] = module_case(cell, 1000 * c + i, opts, rng, sizes)
        rng = random.Random(SEED + 1000 * c + 500)
        for i, opts in enumerate(covering_cases(rng, CELL_FACTORS[cell], [], lambda _: True)):
            files[f"{cell.lower()}-cell-{i:02d}"] = cell_case(cell, 1000 * c + 500 + i, opts, rng)
    total = 0
    counts = {}
    for name, case in files.items():
        fixture = dict(case, torch=torch.__version__, expected=torch_grad.grads(case))
        text = json.dumps(fixture, separators=(",", ":")) + "\n"
        (OUT / f"{name}.json").write_text(text)
        kind = name.rsplit("-", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
        total += len(text)
    text = json.dumps({"torch": torch.__version__, "modules": init_fixture()}, separators=(",", ":")) + "\n"
    (OUT / "init.json").write_text(text)
    total += len(text)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    print(f"wrote {summary} cases and init.json to {OUT} ({total / 1024:.0f} KiB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
