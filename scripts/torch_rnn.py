"""Reference outputs from real PyTorch for stacked-rnn's parity tests.

This is the ground truth side of test/parity-live.test.ts (and the forward pass that scripts/make_fixtures.py
records). It is plain torch.nn.RNN (or torch.nn.LSTM / torch.nn.GRU, see make_rnn) plus a hand-written safetensors reader and writer (there is no safetensors
package here; the format is a u64 little-endian header length, a JSON header of
{name: {dtype, shape, data_offsets}}, then the raw little-endian bytes).

Usage (run with /usr/bin/python3, which has torch):
    torch_rnn.py init DIR...       write DIR/weights.safetensors (and DIR/weights.pt with weightsFormat "pt") and
                                   DIR/input.{safetensors,json} from DIR/config.json,
                                   with torch's own random initialisation, seeded by config["seed"]
    torch_rnn.py reference DIR...  read those files back, run torch.nn.RNN in eval mode, write DIR/expected.safetensors
    torch_rnn.py make DIR...       init, then reference (one interpreter start for many cases)

config.json holds the module options in the TypeScript spelling (inputSize, hiddenSize, numLayers, nonlinearity,
bias, batchFirst, dropout, bidirectional, dtype; cell "RNN" (default), "LSTM" or "GRU", and the LSTM's projSize) and
the case: seed, L (sequence), N (batch), unbatched, h0
(whether to give one), lengths (list or null), lengthsDtype ("int64" | "int32"), inputFormat ("safetensors" |
"json"), prefix ("" or e.g. "rnn.": the RNN is then saved as that submodule of a bigger model) and checkpoint (with
weightsFormat "pt": the state dict saved at key 'model' of a training checkpoint dict).

expected.safetensors holds `output` and `h_n` (and an LSTM's `c_n`; its input file holds `c0` beside `h0`) in the
case's dtype; for float32 also `output64` and `h_n64` (`c_n64`), the same weights and inputs cast to float64 and run
in float64, so a test can measure float32 error against them.
"""

import copy
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# safetensors dtype name <-> little-endian numpy dtype and torch dtype
DTYPES = {
    "F64": (np.dtype("<f8"), torch.float64),
    "F32": (np.dtype("<f4"), torch.float32),
    "I64": (np.dtype("<i8"), torch.int64),
    "I32": (np.dtype("<i4"), torch.int32),
}
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


# ---------------------------------------------------------------------------------------------------------------------
# safetensors by hand


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} in the order given; the header is padded with spaces to a multiple of 8 like the
    reference implementation, so data starts aligned."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        code = next(k for k, (_, td) in DTYPES.items() if td == t.dtype)
        blob = t.detach().contiguous().cpu().numpy().astype(DTYPES[code][0], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """Returns {name: tensor}, checking every offset against the file rather than trusting it."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        npdtype, _ = DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert 0 <= start <= end <= len(data) and end - start == count * npdtype.itemsize, f"bad offsets for {name}"
        arr = np.frombuffer(data[start:end], dtype=npdtype).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(npdtype.newbyteorder("="), copy=True))
    return out


def read_json_tensors(path, dtype):
    """An input .json file: {name: nested arrays}; `lengths` is integers, everything else floats of `dtype`."""
    obj = json.loads(Path(path).read_text())
    return {k: torch.tensor(v, dtype=torch.int64 if k == "lengths" else dtype) for k, v in obj.items()}


# ---------------------------------------------------------------------------------------------------------------------
# the model


def make_rnn(cfg, dtype=None):
    """torch.nn.RNN, or torch.nn.LSTM / torch.nn.GRU when cfg["cell"] says so (absent: "RNN"); the LSTM takes
    cfg["projSize"] (absent: 0) and only the RNN reads cfg["nonlinearity"]."""
    options = dict(
        input_size=cfg["inputSize"],
        hidden_size=cfg["hiddenSize"],
        num_layers=cfg["numLayers"],
        bias=cfg["bias"],
        batch_first=cfg["batchFirst"],
        dropout=cfg.get("dropout", 0.0),
        bidirectional=cfg["bidirectional"],
        dtype=dtype or TORCH_DTYPE[cfg["dtype"]],
    )
    cell = cfg.get("cell", "RNN")
    if cell == "LSTM":
        return torch.nn.LSTM(proj_size=cfg.get("projSize", 0), **options)
    if cell == "GRU":
        return torch.nn.GRU(**options)
    assert cell == "RNN", f"unknown cell {cell!r}"
    return torch.nn.RNN(nonlinearity=cfg["nonlinearity"], **options)


class Model(torch.nn.Module):
    """A bigger model holding the RNN as a submodule, so its state dict carries a prefix and other parameters."""

    def __init__(self, rnn, cfg):
        super().__init__()
        D = 2 if cfg["bidirectional"] else 1
        dtype = TORCH_DTYPE[cfg["dtype"]]
        self.embed = torch.nn.Linear(cfg["inputSize"], cfg["inputSize"], dtype=dtype)
        self.rnn = rnn
        self.head = torch.nn.Linear(D * state_size(cfg), 3, dtype=dtype)


def nested_model(rnn, cfg, prefix):
    """Wraps `rnn` so that its state dict keys start with `prefix` ("rnn." or e.g. "encoder.rnn.")."""
    parts = prefix.rstrip(".").split(".")
    assert parts[-1] == "rnn", "prefix must end in 'rnn.'"
    model = Model(rnn, cfg)
    for name in reversed(parts[:-1]):
        outer = torch.nn.Module()
        outer.add_module(name, model)
        model = outer
    return model


def forward(rnn, x, h0, lengths, batch_first):
    """torch.nn.RNN (or LSTM, GRU) in eval mode; with lengths, through pack_padded_sequence / pad_packed_sequence
    back to L steps. An LSTM's h0 and final state are the pair (h, c)."""
    rnn.eval()
    with torch.no_grad():
        if lengths is None:
            return rnn(x, h0)
        L = x.shape[1] if batch_first else x.shape[0]
        packed = pack_padded_sequence(x, lengths.to(torch.int64).cpu(), batch_first=batch_first, enforce_sorted=False)
        out, h_n = rnn(packed, h0)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=L)
        return out, h_n


def named_outputs(out, state):
    """{output, h_n} and, for an LSTM's (h_n, c_n), c_n."""
    if isinstance(state, tuple):
        return {"output": out, "h_n": state[0], "c_n": state[1]}
    return {"output": out, "h_n": state}


def reference(rnn, x, h0, lengths, batch_first):
    """{output, h_n} (and an LSTM's c_n) in the weights' dtype and, for float32, {output64, h_n64 (, c_n64)} from
    the same numbers in float64. An LSTM's h0 is the pair (h0, c0)."""
    result = named_outputs(*forward(rnn, x, h0, lengths, batch_first))
    if x.dtype == torch.float32:
        rnn64 = copy.deepcopy(rnn).double()
        h064 = None if h0 is None else tuple(h.double() for h in h0) if isinstance(h0, tuple) else h0.double()
        result64 = named_outputs(*forward(rnn64, x.double(), h064, lengths, batch_first))
        result.update({f"{k}64": v for k, v in result64.items()})
    return result


def input_shape(cfg):
    L, N, I = cfg["L"], cfg["N"], cfg["inputSize"]
    if cfg["unbatched"]:
        return (L, I)
    return (N, L, I) if cfg["batchFirst"] else (L, N, I)


def state_size(cfg):
    """P: the width of h, an LSTM's projSize when it has one, else hiddenSize."""
    return cfg.get("projSize", 0) or cfg["hiddenSize"]


def h0_shape(cfg):
    DK = (2 if cfg["bidirectional"] else 1) * cfg["numLayers"]
    P = state_size(cfg)
    return (DK, P) if cfg["unbatched"] else (DK, cfg["N"], P)


def c0_shape(cfg):
    """The LSTM's c0 (and c_n): hiddenSize wide whatever the projection."""
    DK = (2 if cfg["bidirectional"] else 1) * cfg["numLayers"]
    return (DK, cfg["hiddenSize"]) if cfg["unbatched"] else (DK, cfg["N"], cfg["hiddenSize"])


# ---------------------------------------------------------------------------------------------------------------------
# commands


def load_config(d):
    return json.loads((Path(d) / "config.json").read_text())


def init(d):
    cfg = load_config(d)
    torch.manual_seed(cfg["seed"])
    dtype = TORCH_DTYPE[cfg["dtype"]]
    rnn = make_rnn(cfg)
    prefix = cfg.get("prefix", "")
    module = nested_model(rnn, cfg, prefix) if prefix else rnn
    write_safetensors(Path(d) / "weights.safetensors", module.state_dict(), {"format": "pt"})
    if cfg.get("weightsFormat") == "pt":
        # the same weights as torch.save writes them, for `run --weights weights.pt`; with "checkpoint", inside a
        # training checkpoint as people save one, whose state dict the CLI must find without --key
        sd = module.state_dict()
        saved = {"model": sd, "optimizer": {"lr": 0.01, "step": 3}, "epoch": 3} if cfg.get("checkpoint") else sd
        torch.save(saved, Path(d) / "weights.pt")

    tensors = {"input": torch.randn(input_shape(cfg), dtype=dtype)}
    if cfg.get("h0"):
        tensors["h0"] = torch.randn(h0_shape(cfg), dtype=dtype)
        if cfg.get("cell") == "LSTM":
            tensors["c0"] = torch.randn(c0_shape(cfg), dtype=dtype)
    if cfg.get("lengths") is not None:
        ldtype = torch.int32 if cfg.get("lengthsDtype") == "int32" else torch.int64
        tensors["lengths"] = torch.tensor(cfg["lengths"], dtype=ldtype)
    if cfg.get("inputFormat") == "json":
        # repr of each float64 (what json.dumps writes) round-trips exactly; float32 values are exact in float64
        obj = {k: v.double().tolist() if v.is_floating_point() else v.tolist() for k, v in tensors.items()}
        (Path(d) / "input.json").write_text(json.dumps(obj))
    else:
        write_safetensors(Path(d) / "input.safetensors", tensors)


def run_reference(d):
    cfg = load_config(d)
    dtype = TORCH_DTYPE[cfg["dtype"]]
    sd = read_safetensors(Path(d) / "weights.safetensors")
    prefix = cfg.get("prefix", "")
    if prefix:
        sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    rnn = make_rnn(cfg)
    rnn.load_state_dict(sd)
    if cfg.get("inputFormat") == "json":
        tensors = read_json_tensors(Path(d) / "input.json", dtype)
    else:
        tensors = read_safetensors(Path(d) / "input.safetensors")
    x = tensors["input"]
    assert x.dtype == dtype, f"input is {x.dtype}, config says {dtype}"
    h0 = tensors.get("h0")
    if h0 is not None and "c0" in tensors:
        h0 = (h0, tensors["c0"])
    result = reference(rnn, x, h0, tensors.get("lengths"), cfg["batchFirst"])
    write_safetensors(Path(d) / "expected.safetensors", result)


def main(argv):
    if len(argv) < 2 or argv[0] not in ("init", "reference", "make"):
        sys.exit(__doc__)
    command, dirs = argv[0], argv[1:]
    for d in dirs:
        if command in ("init", "make"):
            init(d)
        if command in ("reference", "make"):
            run_reference(d)


if __name__ == "__main__":
    main(sys.argv[1:])
