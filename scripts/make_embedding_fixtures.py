"""Writes test/fixtures/embedding/: nn.Embedding's reference numbers, and a whole text model, from real PyTorch 1.13.

Run with /usr/bin/python3 (the interpreter with torch). Deterministic: the same torch and this file give the same
bytes.

    make_embedding_fixtures.py        write init.json, lookup.json, model.pt and model.json
    make_embedding_fixtures.py live   read cases (JSON) on stdin, write PyTorch's results (JSON) on stdout; for
                                      test/embedding-live.test.ts

Files (tensors are {shape, data} with flat row-major data; json writes floats with repr, so float64 and float32
values round-trip exactly):
    init.json     the weight of `torch.manual_seed(s); nn.Embedding(V, E, padding_idx=p, dtype=d)`, for sizes on
                  both of normal_'s paths (under 16 elements, and 16 or more), float32 and float64; and tables made
                  one after another after a single manual_seed (the generator's state carries over)
    lookup.json   forward and backward: y = emb(ids), then sum(y * grad_output).backward() for weight.grad, with
                  repeated ids, padding rows, ids of rank 0 to 3; float32 cases check the order of summation, and
                  one case runs two backward passes to check how they accumulate
    model.pt      torch.save(model.state_dict()) of TextModel below (float32): emb.*, rnn.*, head.*
    model.json    the model's sizes, and for some ids its logits in float32 and (model.double()) in float64; and
                  the float64 model's parameter gradients for sum(logits * grad_logits) on the last ids
"""

import json
import sys
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "embedding"
SEED = 20240611
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def flat(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def write(name, obj):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(obj, separators=(",", ":")) + "\n")
    print(f"wrote {OUT / name}")


# ---------------------------------------------------------------------------------------------------------------------
# init: nn.Embedding's reset_parameters, init.normal_(weight) then the padding row zeroed

# (seed, V, E, padding_idx, dtype); V * E under 16 takes normal_'s scalar path, 16 or more its vectorised fill
INIT_CASES = [
    (0, 10, 3, None, "float32"),
    (1, 3, 4, 0, "float32"),
    (2, 5, 1, -1, "float32"),
    (3, 8, 4, 2, "float32"),
    (SEED, 100, 16, 99, "float32"),
    (4, 7, 5, -3, "float32"),
    (0, 10, 3, None, "float64"),
    (5, 3, 5, -2, "float64"),
    (7, 16, 8, 0, "float64"),
    (8, 1, 1, None, "float64"),
]
# one manual_seed, then several tables: (seed, [(V, E, padding_idx, dtype), ...])
SEQUENCE_CASES = [
    (11, [(3, 3, None, "float32"), (2, 3, 1, "float32"), (20, 4, None, "float32")]),
    (12, [(2, 2, None, "float64"), (5, 7, 0, "float32"), (3, 1, None, "float64")]),
]


def init_cases():
    cases = []
    for seed, v, e, p, dtype in INIT_CASES:
        torch.manual_seed(seed)
        emb = nn.Embedding(v, e, padding_idx=p, dtype=DTYPES[dtype])
        cases.append({"seed": seed, "numEmbeddings": v, "embeddingDim": e, "paddingIdx": p, "dtype": dtype,
                      "normalizedPaddingIdx": emb.padding_idx, "weight": flat(emb.weight)})
    sequences = []
    for seed, tables in SEQUENCE_CASES:
        torch.manual_seed(seed)
        made = []
        for v, e, p, dtype in tables:
            emb = nn.Embedding(v, e, padding_idx=p, dtype=DTYPES[dtype])
            made.append({"numEmbeddings": v, "embeddingDim": e, "paddingIdx": p, "dtype": dtype,
                         "weight": flat(emb.weight)})
        sequences.append({"seed": seed, "tables": made})
    return {"cases": cases, "sequences": sequences}


# ---------------------------------------------------------------------------------------------------------------------
# lookup: forward and backward


def lookup(v, e, p, dtype, ids, g, grad_scale=1.0):
    """One forward and backward on weights and gradients drawn from g; returns the case."""
    emb = nn.Embedding(v, e, padding_idx=p, dtype=dtype)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(v, e, generator=g, dtype=dtype))
    x = torch.tensor(ids, dtype=torch.int64)
    y = emb(x)
    gy = grad_scale * torch.randn(*y.shape, generator=g, dtype=dtype)
    (y * gy).sum().backward()
    return emb, {"numEmbeddings": v, "embeddingDim": e, "paddingIdx": p, "dtype": str(dtype).replace("torch.", ""),
                 "weight": flat(emb.weight), "ids": ids, "output": flat(y), "gradOutput": flat(gy),
                 "gradWeight": flat(emb.weight.grad)}


def lookup_cases(g):
    cases = []
    f64, f32 = torch.float64, torch.float32
    # (V, E, padding_idx, dtype, ids)
    for v, e, p, dtype, ids in [
        (7, 3, None, f64, [[1, 4, 4, 0, 6], [2, 4, 1, 1, 3]]),
        (6, 4, 0, f64, [[0, 2, 2, 5], [3, 0, 0, 1], [2, 2, 2, 0]]),
        (5, 2, -1, f64, [3, 4, 0, 3]),
        (4, 3, None, f64, 2),
        (9, 2, 3, f64, [[[1, 3], [8, 1]], [[3, 3], [0, 1]]]),
        (3, 5, -1, f32, [[0, 1, 0, 0, 1, 2], [1, 1, 0, 2, 0, 0], [0, 0, 0, 1, 1, 1], [2, 0, 1, 0, 1, 0]]),
        (4, 2, None, f32, [[3] * 9, [1] * 9]),
    ]:
        _, case = lookup(v, e, p, dtype, ids, g)
        cases.append(case)
    # two backward passes into the same weight.grad (float32): PyTorch sums each pass's rows from zero, then adds
    emb, case = lookup(3, 4, 1, f32, [[0, 1, 2, 0, 0], [2, 2, 0, 1, 0]], g)
    case["gradWeightFirst"] = case.pop("gradWeight")
    ids2 = [[0, 0, 2, 1, 0], [0, 2, 0, 0, 2]]
    y2 = emb(torch.tensor(ids2))
    gy2 = torch.randn(*y2.shape, generator=g, dtype=f32)
    (y2 * gy2).sum().backward()
    case.update({"ids2": ids2, "gradOutput2": flat(gy2), "gradWeight": flat(emb.weight.grad)})
    cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------------------------------
# a whole model


class TextModel(nn.Module):
    """ids (N, L) -> emb (N, L, E) -> a 2-layer batch-first RNN (N, L, H) -> head (N, L, V): the logits."""

    def __init__(self, vocab, embed, hidden):
        super().__init__()
        self.emb = nn.Embedding(vocab, embed)
        self.rnn = nn.RNN(embed, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)


V, E, H = 11, 6, 8
# the ids of the README's example first, then a batch of 3 sequences of 7
MODEL_IDS = [[[1, 4, 2, 0], [3, 3, 9, 10]], [[5, 0, 10, 10, 2, 7, 1], [8, 8, 8, 3, 0, 4, 9], [6, 2, 1, 0, 0, 5, 10]]]


def model_fixture():
    torch.manual_seed(SEED)
    model = TextModel(V, E, H)
    torch.save(model.state_dict(), OUT / "model.pt")
    print(f"wrote {OUT / 'model.pt'}")
    model64 = TextModel(V, E, H).double()
    model64.load_state_dict(model.state_dict())  # the same float32 weights, exactly, computed in float64
    cases = []
    with torch.no_grad():
        for ids in MODEL_IDS:
            x = torch.tensor(ids)
            cases.append({"ids": ids, "logits32": flat(model(x)), "logits64": flat(model64(x))})
    # the whole backward in float64, through head, rnn and emb, for the last ids
    g = torch.Generator().manual_seed(SEED)
    logits = model64(torch.tensor(MODEL_IDS[-1]))
    grad_logits = torch.randn(*logits.shape, generator=g, dtype=torch.float64)
    (logits * grad_logits).sum().backward()
    backward = {"ids": MODEL_IDS[-1], "gradLogits": flat(grad_logits),
                "grads": {name: flat(p.grad) for name, p in model64.named_parameters()}}
    write("model.json", {"torch": torch.__version__, "vocab": V, "embed": E, "hidden": H, "cases": cases,
                         "backward": backward})


# ---------------------------------------------------------------------------------------------------------------------
# live


def live():
    """For each case: the init from the seed, then forward and sum(y * grad_output).backward()."""
    results = []
    for c in json.load(sys.stdin):
        dtype = DTYPES[c["dtype"]]
        torch.manual_seed(c["seed"])
        emb = nn.Embedding(c["numEmbeddings"], c["embeddingDim"], padding_idx=c["paddingIdx"], dtype=dtype)
        weight = flat(emb.weight)
        y = emb(torch.tensor(c["ids"], dtype=torch.int64))
        gy = torch.tensor(c["gradOutput"], dtype=dtype).reshape(y.shape)
        (y * gy).sum().backward()
        results.append({"weight": weight, "output": flat(y), "gradWeight": flat(emb.weight.grad)})
    json.dump(results, sys.stdout)


def main(argv):
    if argv and argv[0] == "live":
        live()
        return
    OUT.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(SEED)
    write("init.json", {"torch": torch.__version__, **init_cases()})
    torch.manual_seed(SEED)  # nn.Embedding's own initialisation in lookup(), overwritten anyway
    write("lookup.json", {"torch": torch.__version__, "cases": lookup_cases(g)})
    model_fixture()


if __name__ == "__main__":
    main(sys.argv[1:])
