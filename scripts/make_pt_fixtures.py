"""Writes test/fixtures/pt/*.pt and test/fixtures/pt/expected.json for test/pt-read.test.ts and pt-fuzz.

Run with /usr/bin/python3 (the interpreter with torch): `/usr/bin/python3 scripts/make_pt_fixtures.py`.
Deterministic except legacy.pt (see below).

Every readable file is written by real torch.save (or repacked from one, for the zip variants) and then read back
with real torch.load; expected.json holds what torch.load saw: for each tensor its dtype, shape and flat row-major
values. Floats are written with repr (float32, float16 and bfloat16 values are exact in float64); non-finite
floats as the strings "nan", "inf", "-inf"; integers as decimal strings (int64 does not fit a JSON double).

The hostile files are refused by a safe reader: they name a global that would run code (os.system, eval,
getattr) or a whole pickled nn.Module. Their command would create MARKER; the test checks it never appears.
"""

import io
import json
import math
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "pt"
MARKER = "/tmp/stacked-rnn-pt-pwned-marker"


def flat_values(t):
    """A tensor's values as torch sees them, flattened row-major, JSON-safe and exact."""
    flat = t.detach().reshape(-1)
    if t.dtype in (torch.int64, torch.int32):
        return [str(v) for v in flat.tolist()]
    if t.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    out = []
    for v in flat.tolist():
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def describe(sd):
    return {
        name: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": flat_values(t)}
        for name, t in sd.items()
    }


def load(path, weights_only=True):
    return torch.load(path, weights_only=weights_only)


expected = {"torch_version": torch.__version__, "marker": MARKER, "files": {}}


def readable(name, obj, key=None, weights_only=True, save_args=None, **fields):
    """Saves obj with torch.save, loads it back with torch.load and records what torch saw (plus `fields`:
    auto, how a reader finds the state dict without a key; prefix, where the RNN is; prefixes or keys, the
    choices a reader must ask for)."""
    path = OUT / name
    torch.save(obj, path, **(save_args or {}))
    record(name, key, weights_only, **fields)


def record(name, key=None, weights_only=True, **fields):
    loaded = load(OUT / name, weights_only)
    sd = loaded
    if key is not None:
        for part in key.split("."):
            sd = sd[part]
    entry = {"kind": "state_dict", "tensors": describe(sd)}
    if key is not None:
        entry["kind"] = "checkpoint"
        entry["key"] = key
    entry.update(fields)
    expected["files"][name] = entry


def archive_members(path):
    with zipfile.ZipFile(path) as z:
        return [(info.filename, z.read(info.filename)) for info in z.infolist()]


def write_zip64(path, members):
    """A stored zip that uses zip64 everywhere it can: local and central extra fields, zip64 end records."""
    out = bytearray()
    central = bytearray()
    for name, data in members:
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        offset = len(out)
        raw = name.encode()
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw),
                           len(local_extra))
        out += raw + local_extra + data
        central_extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(raw), len(central_extra), 0, 0, 0, 0, 0xFFFFFFFF)
        central += raw + central_extra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    n = len(members)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: the same bytes every run
            info.compress_type = compression
            z.writestr(info, data)


def hostile(name, pickle_bytes, refused):
    """A torch-layout zip whose data.pkl is pickle_bytes; a safe reader must refuse the global `refused`."""
    folder = name[: -len(".pt")]
    write_zip(OUT / name, [(f"{folder}/data.pkl", pickle_bytes), (f"{folder}/version", b"3\n")])
    expected["files"][name] = {"kind": "hostile", "global": refused}


class Evil:
    """Pickles as a call to os.system: what a malicious checkpoint does."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class Holder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(3, 4, num_layers=2)
        self.head = torch.nn.Linear(4, 2)


class Pair(torch.nn.Module):
    """A model with two RNNs: which one to run is the user's choice."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.RNN(3, 4)
        self.decoder = torch.nn.RNN(4, 4)


def prefixed(prefix, sd):
    """A state dict with every key under `prefix`, as DistributedDataParallel ('module.'), torch.compile
    ('_orig_mod.') or a LightningModule holding the model ('model.') save it; torch 1.13 has no torch.compile,
    and DDP needs a process group, so the keys are written as those wrappers write them."""
    out = OrderedDict((prefix + k, v) for k, v in sd.items())
    out._metadata = OrderedDict((prefix + k if k else prefix.rstrip("."), v) for k, v in sd._metadata.items())
    return out


def write_torch2_layout(path, members):
    """Repacks a torch.save archive with the records PyTorch 2.x adds (.format_version, .storage_alignment,
    byteorder, .data/serialization_id), in the order PyTorch 2.4 writes them."""
    folder = members[0][0].split("/")[0]
    by_name = dict(members)
    data = [(n, d) for n, d in members if n.startswith(f"{folder}/data/")]
    layout = [(f"{folder}/data.pkl", by_name[f"{folder}/data.pkl"]),
              (f"{folder}/.format_version", b"1"),
              (f"{folder}/.storage_alignment", b"64"),
              (f"{folder}/byteorder", b"little"),
              *data,
              (f"{folder}/version", b"3\n"),
              (f"{folder}/.data/serialization_id", b"1234567890123456789012345678901234567890")]
    write_zip(path, layout)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.pt"):
        old.unlink()
    torch.manual_seed(0)

    rnn = torch.nn.RNN(3, 4, num_layers=2, bidirectional=True)
    readable("rnn.pt", rnn.state_dict())

    readable("params.pt", {
        "a": torch.nn.Parameter(torch.randn(2, 3)),
        "b": torch.nn.Parameter(torch.randn(4), requires_grad=False),
    })

    model = torch.nn.RNN(2, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 1, 2))[0].sum().backward()
    opt.step()
    readable("checkpoint.pt", {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, key="model",
             weights_only=False)  # torch 1.13's weights_only unpickler has no BINFLOAT (the learning rate)
    expected["files"]["checkpoint.pt"]["epoch"] = 3

    nested = {"run": {"ema": model.state_dict(), "step": 10}, "note": "nested"}
    readable("nested.pt", nested, key="run.ema")

    readable("prefixed.pt", Holder().state_dict(), prefix="rnn.")

    readable("half.pt", {
        "h": torch.randn(3, 4).half(),
        "b": torch.randn(5).bfloat16(),
        "d": torch.randn(2, 2, dtype=torch.float64),
        "hs": torch.tensor([0.0, -0.0, 65504.0, 6.0e-8, -1.0e-5, float("inf"), float("nan")]).half(),
        "bs": torch.tensor([0.0, -0.0, 3.0e38, 1.0e-40, float("-inf"), float("nan")]).bfloat16(),
    })

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    line = torch.randn(10)
    readable("views.pt", {
        "base": base,
        "transposed": base.t(),
        "block": base[1:3, 2:5],
        "strided": base[::2, ::3],
        "tail": line[3:],
        "expanded": torch.randn(3)[1:2].expand(2, 4),
        "half_view": torch.randn(4, 4).half().t()[1:],
    })

    shared = torch.randn(6)
    readable("shared.pt", {"a": shared, "a2": shared.view(2, 3), "a3": shared[2:]})

    readable("int64.pt", {
        "n": torch.tensor([0, -1, 2**62 + 1, -(2**63), 2**63 - 1]),
        "num_batches_tracked": torch.tensor(7),
        "i32": torch.tensor([1, -2, 2**31 - 1], dtype=torch.int32),
        "w": torch.randn(2),
    })

    readable("special.pt", {
        "scalar": torch.tensor(1.5),
        "empty": torch.zeros(0, 3),
        "nonfinite": torch.tensor([float("nan"), float("inf"), float("-inf"), -0.0, 1e-45]),
        "big": torch.randn(40, 50),
    })

    readable("protocol4.pt", rnn.state_dict(), weights_only=False, save_args={"pickle_protocol": 4})


    members = archive_members(OUT / "rnn.pt")
    write_zip64(OUT / "zip64.pt", members)
    record("zip64.pt", zip64=True)
    write_torch2_layout(OUT / "torch2.pt", members)
    record("torch2.pt")
    renamed = [("my model v2" + n[len("rnn"):], d) for n, d in members]
    write_zip(OUT / "deflated.pt", renamed, zipfile.ZIP_DEFLATED)
    record("deflated.pt")

    # The legacy format names storages by memory address, so this one file differs from run to run.
    torch.save(rnn.state_dict(), OUT / "legacy.pt", _use_new_zipfile_serialization=False)
    expected["files"]["legacy.pt"] = {"kind": "legacy"}

    # Hostile: a real torch.save of an object whose __reduce__ calls os.system (posix.system on Linux) ...
    buf = io.BytesIO()
    torch.save({"weight": torch.ones(2), "evil": Evil()}, buf)
    (OUT / "evil-reduce.pt").write_bytes(buf.getvalue())
    expected["files"]["evil-reduce.pt"] = {"kind": "hostile", "global": f"{os.system.__module__}.system"}
    # ... and hand-written pickles: eval, getattr (protocol 0 names), STACK_GLOBAL, INST, a whole nn.Module.
    command = f"__import__('os').system('touch {MARKER}')".encode()
    hostile("evil-eval.pt", b"\x80\x02cbuiltins\neval\nX" + struct.pack("<I", len(command)) + command + b"\x85R.",
            "builtins.eval")
    hostile("evil-getattr.pt", b"c__builtin__\ngetattr\n(c__builtin__\n__import__\nS'os'\n\x85RS'system'\ntR.",
            "__builtin__.getattr")
    touch = f"touch {MARKER}".encode()
    hostile("evil-stack-global.pt",
            b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(touch)]) + touch + b"\x85R.", "os.system")
    hostile("evil-inst.pt", b"(S'touch " + MARKER.encode() + b"'\nios\nsystem\n.", "os.system")
    torch.save(torch.nn.RNN(2, 2), OUT / "module.pt")
    expected["files"]["module.pt"] = {"kind": "hostile", "global": "torch.nn.modules.rnn.RNN"}

    # Checkpoints as other tools write them: each loads without --key or --prefix.
    holder = Holder()
    opt = torch.optim.Adam(holder.parameters(), lr=0.01)
    holder.rnn(torch.randn(5, 1, 3))[0].sum().backward()
    opt.step()
    lightning = {
        "epoch": 2,
        "global_step": 30,
        "pytorch-lightning_version": "2.1.3",
        "state_dict": prefixed("model.", holder.state_dict()),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 3, "completed": 2}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0}": {
                "monitor": "val_loss",
                "best_model_score": torch.tensor(0.5),
                "best_model_path": "/runs/epoch=1.ckpt",
                # A dict of tensors too: the common key 'state_dict' is what makes the choice.
                "best_k_models": {"/runs/epoch=1.ckpt": torch.tensor(0.5), "/runs/epoch=0.ckpt": torch.tensor(0.7)},
                "kth_value": torch.tensor(0.7),
            },
        },
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"hidden": 4, "lr": 0.01},
    }
    readable("lightning.pt", lightning, key="state_dict", weights_only=False, auto="common", prefix="model.rnn.")
    ddp = {"model_state_dict": prefixed("module.", holder.state_dict()), "optimizer_state_dict": opt.state_dict(),
           "epoch": 5}
    readable("ddp.pt", ddp, key="model_state_dict", weights_only=False, auto="only", prefix="module.rnn.")
    readable("compiled.pt", prefixed("_orig_mod.", rnn.state_dict()), prefix="_orig_mod.")
    ema = {"model": holder.state_dict(), "ema": Holder().state_dict(), "step": 10}
    readable("ema.pt", ema, key="model", auto="common", prefix="rnn.")
    pair = Pair()
    readable("two-rnns.pt", pair.state_dict(), prefixes=["encoder.", "decoder."])
    readable("two-models.pt", {"generator": pair.state_dict(), "discriminator": holder.state_dict()},
             key="generator", keys=["generator", "discriminator"])
    proto = OrderedDict(rnn.state_dict())
    proto["__proto__"] = torch.zeros(2)  # torch's load_state_dict: Unexpected key(s) in state_dict: "__proto__"
    readable("proto.pt", proto)
    readable("linear-checkpoint.pt", {"model": OrderedDict([("fc.weight", torch.zeros(2, 2))]), "epoch": 1}, key="model",
             auto="only")  # a checkpoint whose one state dict holds no RNN
    torch.save(torch.randn(3, 2), OUT / "tensor.pt")
    expected["files"]["tensor.pt"] = {"kind": "tensor"}

    for name, entry in expected["files"].items():
        if entry["kind"] == "hostile":
            try:
                torch.load(OUT / name, weights_only=True)
                sys.exit(f"{name}: torch.load(weights_only=True) accepted a hostile file")
            except Exception as e:  # noqa: BLE001 - torch raises several kinds
                entry["torch_error"] = str(e).split("WeightsUnpickler error: ")[-1][:200]
    if os.path.exists(MARKER):
        sys.exit(f"{MARKER} exists: something ran a hostile pickle")

    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {len(expected['files'])} files to {OUT}")


if __name__ == "__main__":
    main()
