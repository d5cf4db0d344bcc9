"""PyTorch autograd gradients of torch.nn.RNN and torch.nn.RNNCell: the reference side of stacked-rnn's backward tests.

test/grad-live.test.ts pipes cases to it, and scripts/make_grad_fixtures.py uses `grads` to write the committed
fixtures. Run with /usr/bin/python3 (the interpreter with torch):

    torch_grad.py < request.json > response.json

request:  {"cases": [case, ...]}        response: {"torch": version, "results": [result, ...]} (same order)

Tensors are {"shape": [...], "data": [flat row-major floats]}; float32 values travel as float64 reprs (exact).

An RNN case: {"kind": "rnn", "config": {inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, dropout,
bidirectional, dtype}, "stateDict": {name: tensor}, "input", "h0" (or null), "lengths" (list or null), "gradOutput",
"gradHN" (or null), "masks" (null, or K-1 dropout masks of shape (L, N, D*H), time-major whatever batchFirst is)}.
The loss is sum(output * gradOutput) + sum(h_n * gradHN). Without masks it is plain torch.nn.RNN (in eval mode,
so a dropout option must change nothing), through pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence
when lengths are given. With masks, dropout is applied by hand: K single-layer RNNs chained, layer k+1 reading
layer k's output times masks[k], since torch's own dropout draws from its own generator.

A cell case: {"kind": "cell", "config": {inputSize, hiddenSize, bias, nonlinearity, dtype}, "stateDict", "input",
"hx" (or null), "gradH"}; the loss is sum(h' * gradH).

LSTM and GRU: config["cell"] is "LSTM" or "GRU" (absent: "RNN"), in both kinds of case. An LSTM case's config has
"projSize" (0: none), and the case adds "c0" (given with h0, or null) and "gradCN" (or null), the masks being
(L, N, D*P); the loss adds sum(c_n * gradCN). An LSTMCell case adds "cx" (given with hx, or null) and "gradC", and
its "gradH" may be null; the loss is sum(h' * gradH) + sum(c' * gradC). A GRU or GRUCell case has no nonlinearity.

A result: {"output", "h_n"} (or {"h"} for a cell), "grads": {"input", "h0" (or "hx"), parameter names...} with
null for an input that was not given; for float32 cases also "grads64": the same computation on the same values
cast to float64, the reference both float32 results are measured against. LSTM and GRU results (of either kind)
add: an LSTM's "c_n" (an LSTMCell's "c") and grads "c0" ("cx"), and for float32 "forward64", the forward's outputs of
that float64 computation. A case with a "seed" also gets "init": the state dict of torch.manual_seed(seed) then the
module (in the case's dtype), to compare a seeded initialisation with.
"""

import json
import sys
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_rnn  # noqa: E402

TORCH_DTYPE = torch_rnn.TORCH_DTYPE


def to_tensor(obj, dtype):
    return torch.tensor(obj["data"], dtype=torch.float64).reshape(obj["shape"]).to(dtype)


def as_json(t):
    return None if t is None else {"shape": list(t.shape), "data": t.detach().double().reshape(-1).tolist()}


def run_rnn(rnn, x, h0, lengths, batch_first):
    """torch.nn.RNN (LSTM, GRU) with autograd on; with lengths, packed and padded back to L steps."""
    if lengths is None:
        return rnn(x, h0)
    L = x.shape[1] if batch_first else x.shape[0]
    packed = pack_padded_sequence(x, torch.tensor(lengths, dtype=torch.int64), batch_first=batch_first,
                                  enforce_sorted=False)
    out, h_n = rnn(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=L)
    return out, h_n


def layer_slice(name, k):
    """weight_ih_l2_reverse -> (2, weight_ih_l0_reverse): the name a single-layer RNN gives layer k's parameter."""
    base, rest = name.split("_l", 1)
    layer, _, suffix = rest.partition("_")
    return int(layer), f"{base}_l0" + (f"_{suffix}" if suffix else "")


def rnn_grads(case, dtype):
    """Forward and autograd in `dtype`: {"output", "h_n", "grads"} (and an LSTM's "c_n")."""
    cfg = case["config"]
    lstm = cfg.get("cell", "RNN") == "LSTM"
    sd = {k: to_tensor(v, dtype) for k, v in case["stateDict"].items()}
    x = to_tensor(case["input"], dtype).requires_grad_()
    h0 = None if case["h0"] is None else to_tensor(case["h0"], dtype).requires_grad_()
    c0 = None if not lstm or case["c0"] is None else to_tensor(case["c0"], dtype).requires_grad_()
    lengths = case["lengths"]
    bf = cfg["batchFirst"]
    unbatched = x.dim() == 2
    K, D = cfg["numLayers"], 2 if cfg["bidirectional"] else 1
    P = torch_rnn.state_size(cfg)
    masks = case.get("masks")

    def state(k0, k1):
        """The initial state of layers k0..k1-1: h0's slice, or (h0, c0)'s for the LSTM; None when not given."""
        if h0 is None:
            return None
        return (h0[k0 * D:k1 * D], c0[k0 * D:k1 * D]) if lstm else h0[k0 * D:k1 * D]

    if not masks:
        rnn = torch_rnn.make_rnn(cfg, dtype)
        rnn.load_state_dict(sd)
        rnn.eval()
        out, h_n = run_rnn(rnn, x, state(0, K), lengths, bf)
        params = dict(rnn.named_parameters())
    else:
        params = {}
        layers = []
        for k in range(K):
            single = torch_rnn.make_rnn(
                dict(cfg, numLayers=1, dropout=0.0, inputSize=cfg["inputSize"] if k == 0 else D * P),
                dtype,
            )
            single.load_state_dict({layer_slice(n, k)[1]: v for n, v in sd.items() if layer_slice(n, k)[0] == k})
            for n, p in single.named_parameters():
                params[n.replace("_l0", f"_l{k}")] = p
            layers.append(single)
        inp, hs = x, []
        for k, single in enumerate(layers):
            out, hn = run_rnn(single, inp, state(k, k + 1), lengths, bf)
            hs.append(hn)
            if k < K - 1:
                m = to_tensor(masks[k], dtype)  # (L, N, D*P)
                if unbatched:
                    m = m[:, 0]
                elif bf:
                    m = m.transpose(0, 1)
                inp = out * m
        h_n = (torch.cat([h for h, _ in hs], 0), torch.cat([c for _, c in hs], 0)) if lstm else torch.cat(hs, 0)
    h_n, c_n = h_n if lstm else (h_n, None)
    tensors, grads = [out], [to_tensor(case["gradOutput"], dtype)]
    if case["gradHN"] is not None:
        tensors.append(h_n)
        grads.append(to_tensor(case["gradHN"], dtype))
    if lstm and case["gradCN"] is not None:
        tensors.append(c_n)
        grads.append(to_tensor(case["gradCN"], dtype))
    torch.autograd.backward(tensors, grads)
    result = {"input": as_json(x.grad), "h0": None if h0 is None else as_json(h0.grad)}
    if lstm:
        result["c0"] = None if c0 is None else as_json(c0.grad)
    for n in case["stateDict"]:
        g = params[n].grad
        result[n] = as_json(torch.zeros_like(params[n]) if g is None else g)
    outputs = {"output": as_json(out), "h_n": as_json(h_n)}
    if lstm:
        outputs["c_n"] = as_json(c_n)
    return dict(outputs, grads=result)


def make_cell(cfg, dtype):
    """torch.nn.RNNCell, or nn.LSTMCell / nn.GRUCell when cfg["cell"] says so (absent: "RNN")."""
    cell = cfg.get("cell", "RNN")
    if cell == "LSTM":
        return torch.nn.LSTMCell(cfg["inputSize"], cfg["hiddenSize"], bias=cfg["bias"], dtype=dtype)
    if cell == "GRU":
        return torch.nn.GRUCell(cfg["inputSize"], cfg["hiddenSize"], bias=cfg["bias"], dtype=dtype)
    return torch.nn.RNNCell(cfg["inputSize"], cfg["hiddenSize"], bias=cfg["bias"],
                            nonlinearity=cfg["nonlinearity"], dtype=dtype)


def cell_grads(case, dtype):
    cfg = case["config"]
    lstm = cfg.get("cell", "RNN") == "LSTM"
    cell = make_cell(cfg, dtype)
    cell.load_state_dict({k: to_tensor(v, dtype) for k, v in case["stateDict"].items()})
    x = to_tensor(case["input"], dtype).requires_grad_()
    hx = None if case["hx"] is None else to_tensor(case["hx"], dtype).requires_grad_()
    if not lstm:
        h = cell(x, hx)
        h.backward(to_tensor(case["gradH"], dtype))
        result = {"input": as_json(x.grad), "hx": None if hx is None else as_json(hx.grad)}
        for n, p in cell.named_parameters():
            result[n] = as_json(p.grad)
        return {"h": as_json(h), "grads": result}
    cx = None if case["cx"] is None else to_tensor(case["cx"], dtype).requires_grad_()
    h, c = cell(x, None if hx is None else (hx, cx))
    tensors, grads = [], []
    for t, g in ((h, case["gradH"]), (c, case["gradC"])):
        if g is not None:
            tensors.append(t)
            grads.append(to_tensor(g, dtype))
    torch.autograd.backward(tensors, grads)
    result = {"input": as_json(x.grad), "hx": None if hx is None else as_json(hx.grad),
              "cx": None if cx is None else as_json(cx.grad)}
    for n, p in cell.named_parameters():
        result[n] = as_json(torch.zeros_like(p) if p.grad is None else p.grad)
    return {"h": as_json(h), "c": as_json(c), "grads": result}


def seeded_init(case):
    """The state dict of torch.manual_seed(case["seed"]) then the case's module, in its dtype."""
    cfg = case["config"]
    dtype = TORCH_DTYPE[cfg["dtype"]]
    torch.manual_seed(case["seed"])
    module = make_cell(cfg, dtype) if case.get("kind") == "cell" else torch_rnn.make_rnn(cfg, dtype)
    return {k: as_json(v) for k, v in module.state_dict().items()}


def grads(case):
    """The result for one case (see the module docstring)."""
    run = cell_grads if case.get("kind") == "cell" else rnn_grads
    dtype = TORCH_DTYPE[case["config"]["dtype"]]
    result = run(case, dtype)
    if dtype == torch.float32:
        result64 = run(case, torch.float64)
        result["grads64"] = result64.pop("grads")
        if case["config"].get("cell", "RNN") != "RNN":
            result["forward64"] = result64
    if "seed" in case:
        result["init"] = seeded_init(case)
    return result


def main():
    request = json.load(sys.stdin)
    results = [grads(case) for case in request["cases"]]
    json.dump({"torch": torch.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
