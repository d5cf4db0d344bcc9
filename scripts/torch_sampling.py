"""torch's answers for src/sampling.ts: softmax(logits / T), argmax and torch.multinomial draws after a seed.

  /usr/bin/python3 scripts/torch_sampling.py make   writes test/fixtures/sampling/cases.json (committed)
  /usr/bin/python3 scripts/torch_sampling.py answer reads cases as JSON on stdin, writes them answered to stdout

A case: {"dtype", "logits": [[...], ...] (N, V), "temperature", "top_k" or null, "seed", "draws"}. The answer adds
"softmax" (N, V), "argmax" (N) and "samples": `draws` times, torch.multinomial(softmax(top-k(logits) / T), 1) for
each row in turn, all from one torch.manual_seed(seed) - what sample() does with one Generator.
"""
import json
import os
import sys

import torch


def answer(case):
    dtype = {"float32": torch.float32, "float64": torch.float64}[case["dtype"]]
    logits = torch.tensor(case["logits"], dtype=dtype)
    t = case["temperature"]
    k = case.get("top_k")
    filtered = logits.clone()
    if k is not None and k < logits.shape[-1]:
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        filtered[filtered < kth] = -float("inf")
    probs = torch.softmax(filtered / t, dim=-1)
    torch.manual_seed(case["seed"])
    samples = []
    for _ in range(case["draws"]):
        for row in probs:
            samples.append(int(torch.multinomial(row, 1).item()))
    out = dict(case)
    out["softmax"] = torch.softmax(logits / t, dim=-1).tolist()
    out["argmax"] = torch.argmax(logits, dim=-1).tolist()
    out["samples"] = samples
    return out


def make():
    g = torch.Generator().manual_seed(2024)
    cases = []
    for dtype in ("float32", "float64"):
        for (n, v, scale, t, k, seed) in [
            (1, 5, 1.0, 1.0, None, 0),
            (1, 65, 3.0, 0.8, None, 7),
            (3, 30, 2.0, 1.5, 5, 11),
            (2, 100, 4.0, 0.5, 10, 123456789),
        ]:
            logits = (torch.randn(n, v, generator=g, dtype=torch.float64) * scale).to(torch.float32 if dtype == "float32" else torch.float64)
            cases.append(answer({"dtype": dtype, "logits": logits.tolist(), "temperature": t, "top_k": k, "seed": seed, "draws": 40}))
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "test", "fixtures", "sampling", "cases.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    if sys.argv[1:] == ["make"]:
        make()
    elif sys.argv[1:] == ["answer"]:
        json.dump([answer(c) for c in json.load(sys.stdin)], sys.stdout)
    else:
        sys.exit(__doc__)
