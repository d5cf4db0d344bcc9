"""Writes test/fixtures/train/*.json: the training kit's reference numbers from real PyTorch 1.13.

Run with /usr/bin/python3 (the interpreter with torch). Deterministic: the same torch and this file give the same
bytes. Everything is float64 (exact comparisons, 1e-12) except the float32 cases marked `"dtype": "float32"`.

    make_train_fixtures.py                     write linear.json, losses.json, optim.json, clip.json
    make_train_fixtures.py forward CKPT IN OUT  load a stacked-rnn checkpoint (model.safetensors) into a small
                                               nn.Module with `rnn` and `head` attributes, run it on IN (JSON
                                               {"input": {shape, data}}) and write OUT (JSON {"output", "h_n"})

Files (tensors are {shape, data} with flat row-major data; json writes floats with repr, so float64 round-trips):
    linear.json   nn.Linear forward and backward: y = linear(x), then sum(y * grad_output).backward()
    losses.json   F.mse_loss and F.cross_entropy, reductions mean and sum: the loss, then loss.backward(g)
    optim.json    torch.optim.SGD and Adam trajectories: parameters after each step, on fixed gradients (a grad of
                  None skips the parameter that step) and on a Linear + MSE regression
    clip.json     torch.nn.utils.clip_grad_norm_: the total norm and the clipped gradients
"""

import json
import math
import struct
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_rnn  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "train"
SEED = 20240603


def flat(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def write(name, obj):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(obj, separators=(",", ":")) + "\n")
    print(f"wrote {OUT / name}")


# ---------------------------------------------------------------------------------------------------------------------
# Linear


def linear_cases(g):
    cases = []
    # (input shape, in features, out features, bias)
    for shape, i, o, bias in [((5, 3), 3, 4, True), ((3, 2, 4), 4, 2, False), ((4,), 4, 3, True), ((7, 6), 6, 1, True)]:
        lin = torch.nn.Linear(i, o, bias=bias, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(o, i, generator=g, dtype=torch.float64))
            if bias:
                lin.bias.copy_(torch.randn(o, generator=g, dtype=torch.float64))
        x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
        y = lin(x)
        gy = torch.randn(*y.shape, generator=g, dtype=torch.float64)
        (y * gy).sum().backward()
        cases.append({
            "inFeatures": i, "outFeatures": o, "bias": bias,
            "weight": flat(lin.weight), "biasValue": flat(lin.bias) if bias else None,
            "input": flat(x), "output": flat(y), "gradOutput": flat(gy),
            "gradInput": flat(x.grad), "gradWeight": flat(lin.weight.grad),
            "gradBias": flat(lin.bias.grad) if bias else None,
        })
    return cases


# ---------------------------------------------------------------------------------------------------------------------
# losses


def loss_cases(g):
    mse = []
    for shape, reduction, upstream in [((3, 4), "mean", 1.0), ((3, 4), "sum", 1.0), ((2, 5, 1), "mean", 0.7),
                                       ((6,), "sum", -1.3)]:
        x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
        y = torch.randn(*shape, generator=g, dtype=torch.float64)
        loss = F.mse_loss(x, y, reduction=reduction)
        loss.backward(torch.tensor(upstream, dtype=torch.float64))
        mse.append({"reduction": reduction, "gradLoss": upstream, "input": flat(x), "target": flat(y),
                    "loss": loss.item(), "grad": flat(x.grad)})
    ce = []
    # (rows, classes, logit scale, reduction, upstream, ignored rows)
    for m, c, scale, reduction, upstream, ignored in [(4, 5, 1.0, "mean", 1.0, []), (4, 5, 1.0, "sum", 1.0, []),
                                                      (6, 3, 40.0, "mean", 0.5, []), (5, 7, 3.0, "mean", 1.0, [1, 3]),
                                                      (5, 7, 3.0, "sum", 2.0, [0])]:
        x = (scale * torch.randn(m, c, generator=g, dtype=torch.float64)).requires_grad_(True)
        t = torch.randint(0, c, (m,), generator=g)
        for r in ignored:
            t[r] = -100
        loss = F.cross_entropy(x, t, reduction=reduction)
        loss.backward(torch.tensor(upstream, dtype=torch.float64))
        ce.append({"reduction": reduction, "gradLoss": upstream, "input": flat(x), "target": t.tolist(),
                   "loss": loss.item(), "grad": flat(x.grad)})
    return {"mse": mse, "crossEntropy": ce}


# ---------------------------------------------------------------------------------------------------------------------
# optimizers

SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01},
    {"lr": 0.02, "momentum": 0.7, "dampening": 0.1, "weight_decay": 0.05, "maximize": True},
]
ADAM_CASES = [
    {"lr": 0.01},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.02, "amsgrad": True},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05, "amsgrad": True},
    {"lr": 0.003, "maximize": True},
]
STEPS = 6


def make_optimizer(kind, params, options):
    cls = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
    return cls(params, foreach=False, **options)


def ts_options(options):
    """The TypeScript spelling of the options."""
    names = {"weight_decay": "weightDecay"}
    return {names.get(k, k): (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


def fixed_gradient_case(kind, options, g, dtype=torch.float64):
    a = torch.randn(3, 4, generator=g, dtype=dtype).requires_grad_(True)
    b = torch.randn(4, generator=g, dtype=dtype).requires_grad_(True)
    initial = [flat(a), flat(b)]
    opt = make_optimizer(kind, [a, b], options)
    steps = []
    for step in range(STEPS):
        ga = torch.randn(3, 4, generator=g, dtype=dtype)
        gb = torch.randn(4, generator=g, dtype=dtype)
        skip_b = step == 2  # a parameter without a gradient is skipped, its state untouched
        a.grad = ga.clone()
        b.grad = None if skip_b else gb.clone()
        opt.step()
        steps.append({"grads": [flat(ga), None if skip_b else flat(gb)], "params": [flat(a), flat(b)]})
    return {"optimizer": kind, "options": ts_options(options), "dtype": str(dtype).replace("torch.", ""),
            "initial": initial, "steps": steps}


def regression_case(kind, options, g):
    """Linear(3, 2) on a fixed batch, MSE mean loss: the gradient depends on the trajectory itself."""
    lin = torch.nn.Linear(3, 2, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, 3, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(2, generator=g, dtype=torch.float64))
    x = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.randn(8, 2, generator=g, dtype=torch.float64)
    initial = {"weight": flat(lin.weight), "bias": flat(lin.bias)}
    opt = make_optimizer(kind, lin.parameters(), options)
    steps = []
    for _ in range(10):
        opt.zero_grad()
        loss = F.mse_loss(lin(x), y)
        loss.backward()
        opt.step()
        steps.append({"loss": loss.item(), "weight": flat(lin.weight), "bias": flat(lin.bias)})
    return {"optimizer": kind, "options": ts_options(options), "initial": initial, "input": flat(x), "target": flat(y),
            "steps": steps}


def optim_cases(g):
    fixed = [fixed_gradient_case("sgd", o, g) for o in SGD_CASES] + [fixed_gradient_case("adam", o, g) for o in ADAM_CASES]
    fixed.append(fixed_gradient_case("adam", {"lr": 0.01, "amsgrad": True}, g, torch.float32))
    fixed.append(fixed_gradient_case("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, g, torch.float32))
    regression = [regression_case("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, g),
                  regression_case("adam", {"lr": 0.05, "weight_decay": 0.01}, g)]
    return {"fixed": fixed, "regression": regression}


# ---------------------------------------------------------------------------------------------------------------------
# clip_grad_norm_


def clip_cases(g):
    cases = []
    for max_norm, norm_type, none_at in [(1.0, 2.0, None), (100.0, 2.0, None), (0.5, math.inf, None), (2.0, 1.0, 1),
                                         (1.5, 3.0, None), (0.25, 2.0, 0)]:
        shapes = [(3, 4), (4,), (2, 2, 3)]
        params = [torch.zeros(*s, dtype=torch.float64, requires_grad=True) for s in shapes]
        grads = []
        for i, p in enumerate(params):
            if i == none_at:
                grads.append(None)
                continue
            p.grad = torch.randn(*p.shape, generator=g, dtype=torch.float64)
            grads.append(flat(p.grad))
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        cases.append({"maxNorm": max_norm, "normType": "inf" if norm_type == math.inf else norm_type,
                      "grads": grads, "totalNorm": total.item(),
                      "clipped": [None if p.grad is None else flat(p.grad) for p in params]})
    return cases


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints


class CheckpointModel(torch.nn.Module):
    """What a stacked-rnn checkpoint holds: an nn.RNN, nn.LSTM or nn.GRU (metadata 'cell'; absent: RNN) under
    `rnn.` and an nn.Linear head under `head.`."""

    def __init__(self, meta, dtype):
        super().__init__()
        layers, hidden = int(meta["num_layers"]), int(meta["hidden_size"])
        directions = 2 if meta["bidirectional"] == "true" else 1
        options = dict(bias=meta["bias"] == "true", bidirectional=directions == 2, dtype=dtype)
        cell = meta.get("cell", "RNN")
        if cell == "RNN":
            options["nonlinearity"] = meta["nonlinearity"]
        self.rnn = getattr(torch.nn, cell)(int(meta["input_size"]), hidden, layers, **options)
        self.head = torch.nn.Linear(directions * hidden, int(meta["output_size"]), dtype=dtype)

    def forward(self, x):
        out, state = self.rnn(x)
        return self.head(out), state


def read_metadata(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n].decode("utf-8")).get("__metadata__", {})


def forward_checkpoint(ckpt, input_path, out_path):
    meta = read_metadata(ckpt)
    sd = torch_rnn.read_safetensors(ckpt)
    dtype = next(iter(sd.values())).dtype
    model = CheckpointModel(meta, dtype)
    model.load_state_dict(sd, strict=True)  # every key, every shape: rnn.* and head.*
    model.eval()
    spec = json.loads(Path(input_path).read_text())["input"]
    x = torch.tensor(spec["data"], dtype=dtype).reshape(spec["shape"])
    with torch.no_grad():
        y, state = model(x)
    result = {"output": flat(y)}
    if isinstance(state, tuple):  # an LSTM's (h_n, c_n)
        result.update({"h_n": flat(state[0]), "c_n": flat(state[1])})
    else:
        result["h_n"] = flat(state)
    Path(out_path).write_text(json.dumps(result))


def main(argv):
    if argv and argv[0] == "forward":
        forward_checkpoint(*argv[1:4])
        return
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)  # nn.Linear's own initialisation, overwritten anyway
    write("linear.json", {"torch": torch.__version__, "cases": linear_cases(g)})
    write("losses.json", {"torch": torch.__version__, **loss_cases(g)})
    write("optim.json", {"torch": torch.__version__, **optim_cases(g)})
    write("clip.json", {"torch": torch.__version__, "cases": clip_cases(g)})


if __name__ == "__main__":
    main(sys.argv[1:])
