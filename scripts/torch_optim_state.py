"""torch.optim's state dicts and resumed trajectories for test/optim-state.test.ts (torch 1.13, /usr/bin/python3).

    /usr/bin/python3 scripts/torch_optim_state.py    writes test/fixtures/train/optim-state.json

Each case: an optimizer (SGD, Adam, AdamW) with options, float32 or float64 parameters, gradients for 4 steps;
"trajectory" the parameters after each step; "state" optimizer.state_dict() after step 2 (tensors as
{shape, data}, step as a number, betas as a list). A gradient of None skips the parameter that step.
"""
import json
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "train" / "optim-state.json"

CASES = [
    ("sgd", {"lr": 0.1}, "float32"),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, "float32"),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.1}, "float64"),
    ("adam", {"lr": 0.01}, "float32"),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.1}, "float64"),
    ("adamw", {"lr": 0.01}, "float32"),
    ("adamw", {"lr": 0.03, "weight_decay": 0.5, "amsgrad": True}, "float32"),
    ("adamw", {"lr": 0.03, "weight_decay": 0.2, "maximize": True}, "float64"),
]
CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def flat(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def plain(v):
    if isinstance(v, torch.Tensor):
        return v.item() if v.dim() == 0 else flat(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    return v


def case(g, name, options, dtype):
    dt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    params = [torch.randn(3, 4, generator=g, dtype=dt).requires_grad_(), torch.randn(5, generator=g, dtype=dt).requires_grad_()]
    initial = [flat(p) for p in params]
    opt = CLASSES[name](params, **options)
    grads, trajectory, state = [], [], None
    for step in range(4):
        gs = [torch.randn(p.shape, generator=g, dtype=dt) for p in params]
        if step == 1:
            gs[1] = None  # skipped this step
        for p, gr in zip(params, gs):
            p.grad = gr
        opt.step()
        grads.append([None if gr is None else flat(gr) for gr in gs])
        trajectory.append([flat(p) for p in params])
        if step == 1:
            state = plain(opt.state_dict())
    return {"optimizer": name, "options": options, "dtype": dtype, "initial": initial, "grads": grads,
            "trajectory": trajectory, "state": state}


def main():
    g = torch.Generator().manual_seed(24)
    cases = [case(g, *c) for c in CASES]
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
