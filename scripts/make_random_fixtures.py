#!/usr/bin/python3
"""Writes test/fixtures/random.json: what PyTorch 1.13's CPU generator draws, for test/random.test.ts.

Run with the interpreter that has torch: `/usr/bin/python3 scripts/make_random_fixtures.py`.

Every case is a seed and a list of calls made in order on the global generator after `torch.manual_seed(seed)`,
so the generator state (including the cached second Box-Muller sample) carries from call to call exactly as it
does in the test. Values are stored as base64 of the little-endian bytes of the float32 or float64 tensor, so
nothing is lost to decimal printing; the test compares them bit for bit.

torch's samplers depend on the machine: for float32 tensors of 16 or more elements normal_ uses an AVX2 kernel
when the CPU has AVX2, float64 and small tensors call the C library's log and sincos, and bernoulli_ (dropout)
goes through MKL on Intel CPUs when torch is built with MKL. The metadata records what produced these numbers.
"""
import base64
import json
import os
import platform

import torch

SEEDS = [0, 1, 42, 2**31 + 5]
SIZES = [1, 2, 7, 15, 16, 17, 31, 100, 1000]
DTYPES = {"float32": torch.float32, "float64": torch.float64}
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "random.json")


def encode(t: torch.Tensor) -> str:
    little = "<f4" if t.dtype == torch.float32 else "<f8"
    return base64.b64encode(t.detach().contiguous().numpy().astype(little).tobytes()).decode("ascii")


def draw(call: dict) -> torch.Tensor:
    dtype, n = DTYPES[call["dtype"]], call["n"]
    op = call["op"]
    if op == "randn":
        return torch.randn(n, dtype=dtype)
    if op == "rand":
        return torch.rand(n, dtype=dtype)
    if op == "uniform":
        return torch.empty(n, dtype=dtype).uniform_(call["low"], call["high"])
    if op == "normal":
        return torch.empty(n, dtype=dtype).normal_(call["mean"], call["std"])
    if op == "bernoulli":  # dropout's keep mask for drop probability p
        return torch.empty(n, dtype=dtype).bernoulli_(1 - call["p"])
    raise ValueError(op)


def case(name: str, seed: int, calls: list) -> dict:
    torch.manual_seed(seed)
    return {"name": name, "seed": seed, "calls": [{**c, "values": encode(draw(c))} for c in calls]}


def call(op: str, dtype: str, n: int, **kw) -> dict:
    return {"op": op, "dtype": dtype, "n": n, **kw}


def sequences() -> list:
    """One kind of call over all sizes in a row, per seed and dtype; uniform is cheap so it skips 1000."""
    cases = []
    stdv = 1 / 5**0.5
    bounds = {0: (-stdv, stdv), 1: (-1.7, 3.3), 42: (0.1, 0.2), 2**31 + 5: (-1e-3, 2.5)}
    moments = {0: (0.1, 0.3), 1: (-2.0, 1.5), 42: (3.25, 0.0625), 2**31 + 5: (0.0, 7.0)}
    for seed in SEEDS:
        low, high = bounds[seed]
        mean, std = moments[seed]
        small = [n for n in SIZES if n < 1000]
        for dtype in DTYPES:
            cases.append(case(f"randn sizes {dtype}", seed, [call("randn", dtype, n) for n in SIZES]))
            cases.append(case(f"normal sizes {dtype}", seed, [call("normal", dtype, n, mean=mean, std=std) for n in SIZES]))
            cases.append(case(f"rand sizes {dtype}", seed, [call("rand", dtype, n) for n in small]))
            cases.append(case(f"uniform sizes {dtype}", seed, [call("uniform", dtype, n, low=low, high=high) for n in small]))
    return cases


def fresh() -> list:
    """Each size straight after seeding, so the first block of every size is covered from a known state."""
    return [case(f"fresh randn({n}) {dtype}", 0, [call("randn", dtype, n)]) for dtype in DTYPES for n in SIZES]


def interleaved() -> list:
    """Mixed kinds and dtypes on one generator: odd counts leave a cached Box-Muller sample for the next call."""
    calls = [
        call("randn", "float32", 1),
        call("rand", "float64", 3),
        call("randn", "float64", 1),
        call("randn", "float32", 5),
        call("normal", "float64", 2, mean=1.0, std=0.5),
        call("uniform", "float32", 20, low=-2.0, high=2.0),
        call("randn", "float64", 16),
        call("randn", "float32", 3),
        call("rand", "float32", 17),
        call("normal", "float32", 33, mean=-1.0, std=2.5),
        call("randn", "float64", 15),
        call("randn", "float32", 1),
        call("normal", "float32", 7, mean=0.1, std=0.7),
        call("randn", "float32", 700),
        call("uniform", "float64", 9, low=-0.3, high=0.6),
        call("randn", "float64", 250),
        call("bernoulli", "float32", 37, p=0.3),
        call("randn", "float32", 2),
        call("bernoulli", "float64", 20, p=0.5),
        call("randn", "float32", 1),
    ]
    return [case("interleaved", seed, calls) for seed in SEEDS]


def bernoulli() -> list:
    """Dropout's keep mask, t.bernoulli_(1 - p), which this build of torch (no MKL) draws from the same engine."""
    return [
        case(f"bernoulli p={p} {dtype}", seed, [call("bernoulli", dtype, n, p=p) for n in (1, 5, 16, 100, 1000)])
        for seed, p in [(0, 0.3), (7, 0.5), (42, 0.05)]
        for dtype in DTYPES
    ]


def seeds() -> list:
    """Seeds outside 0..2^32-1: torch's mt19937 keeps the low 32 bits of the (two's complement) 64-bit seed."""
    return [case(f"seed {s}", s, [call("rand", "float64", 4)]) for s in [-1, -(2**40) - 7, 2**32 + 5, 2**53 - 1, 2**63]]


def rnn(seed: int, dtype: str, input_size: int, hidden_size: int) -> dict:
    torch.manual_seed(seed)
    module = torch.nn.RNN(input_size, hidden_size, num_layers=2, bidirectional=True, dtype=DTYPES[dtype])
    return {
        "seed": seed,
        "dtype": dtype,
        "input_size": input_size,
        "hidden_size": hidden_size,
        "num_layers": 2,
        "bidirectional": True,
        "params": [
            {"name": name, "shape": list(p.shape), "values": encode(p)} for name, p in module.named_parameters()
        ],
    }


def main() -> None:
    fixture = {
        "about": "torch CPU generator outputs; see scripts/make_random_fixtures.py",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "libc": " ".join(platform.libc_ver()),
        "cpu_capability": next(
            (line.split(":")[1].strip() for line in torch.__config__.show().splitlines() if "CPU capability" in line),
            "unknown",
        ),
        "mkl": torch.backends.mkl.is_available(),
        "cases": sequences() + fresh() + interleaved() + bernoulli() + seeds(),
        "rnn": [rnn(0, "float32", 3, 5), rnn(1, "float64", 4, 3)],
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    count = sum(len(c["calls"]) for c in fixture["cases"])
    print(f"wrote {os.path.normpath(OUT)}: {len(fixture['cases'])} cases, {count} calls, {len(fixture['rnn'])} RNNs")


if __name__ == "__main__":
    main()
