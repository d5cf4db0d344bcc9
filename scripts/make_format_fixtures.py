"""Writes test/fixtures/format.json: tensors and how PyTorch prints them (str(t)), for the printing tests.

Run with Debian's PyTorch: /usr/bin/python3 scripts/make_format_fixtures.py
"""
import json
import math
import pathlib

import torch

torch.manual_seed(0)
cases = {
    "small 2-D": torch.randn(2, 3),
    "3-D like the demo": torch.randn(3, 3, 2),
    "float64": torch.randn(2, 3, dtype=torch.float64),
    "integers": torch.tensor([[1.0, -2.0], [30.0, 4.0]]),
    "large integers (sci)": torch.tensor([1.0, 20000.0]),
    "tiny values (sci)": torch.tensor([1e-5, 0.5, -0.25]),
    "wide range (sci)": torch.randn(2, 4) * torch.tensor([1.0, 1e4, 1.0, 1.0]),
    "zeros": torch.zeros(2, 2),
    "with nan and inf": torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5]),
    "long row (wraps at 80)": torch.randn(20),
    "summarized 1-D": torch.randn(2000),
    "summarized 3-D": torch.randn(12, 10, 11),
    "scalar-like 1 element": torch.tensor([0.5]),
    "negative zero": torch.tensor([-0.0, 1.25]),
    "4-D": torch.randn(2, 2, 2, 2),
    "inf wider than the numbers": torch.tensor([-float("inf"), 1.0]),
    "nan beside zero": torch.tensor([float("nan"), 0.0]),
}
# JSON has no NaN or infinity: those values are written as the strings "nan", "inf", "-inf".
out = [
    {"name": k, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
     "values": [v if math.isfinite(v) else str(v) for v in t.reshape(-1).tolist()], "str": str(t)}
    for k, t in cases.items()
]
path = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "format.json"
path.write_text(json.dumps(out))
print(f"wrote {len(out)} cases to {path}")
