"""A PyTorch character model as users write one, and torch's numbers for it (test/char-model*.test.ts).

  /usr/bin/python3 scripts/torch_char_model.py make DIR [SEED] [CELL]
      DIR/lm.pt        torch.save({'model': model.state_dict(), 'optimizer': adam.state_dict(), 'epoch': 150})
                       after 150 Adam steps on TEXT; model = CharModel (emb: Embedding -> rnn: 2-layer CELL -> head: Linear)
      DIR/vocab.json   the characters, index order
      DIR/expected.json  for ids (L, N) and targets: logits, cross-entropy loss, every parameter's gradient by name
                       (at the saved weights), the weights after one more Adam step resumed from the saved state,
                       and greedy text from the prime "The" (length 80)
  /usr/bin/python3 scripts/torch_char_model.py sample LM_PT VOCAB PRIME LENGTH TEMPERATURE TOP_K|none SEED
      prints torch's text: the prime, then LENGTH draws of torch.multinomial(softmax(top-k(logits) / T)) after
      torch.manual_seed(SEED), as `stacked-rnn sample` draws them
  /usr/bin/python3 scripts/torch_char_model.py resume CKPT GRADS OUT
      loads our checkpoint CKPT ({'model', 'optimizer', 'epoch'}) into CharModel and torch.optim.Adam with
      load_state_dict (strict), sets the gradients from GRADS (a .pt state dict by parameter name), takes one step
      and saves the weights to OUT; prints the epoch.

The committed fixture test/fixtures/char-model/ is `make test/fixtures/char-model 0 LSTM`.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

STEPS = 150
TEXT = "The quick brown fox jumps over the lazy dog. The end, then: a new start!\n"


class CharModel(nn.Module):
    def __init__(self, vocab, emb, hidden, cell="LSTM"):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = getattr(nn, cell)(emb, hidden, num_layers=2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.emb(ids), state)
        return self.head(out), state


def greedy(model, stoi, itos, prime, length):
    with torch.no_grad():
        ids = torch.tensor([[stoi[c] for c in prime]]).T  # (L, 1)
        logits, state = model(ids)
        out = list(prime)
        for _ in range(length):
            nxt = int(torch.argmax(logits[-1, 0]))
            out.append(itos[nxt])
            logits, state = model(torch.tensor([[nxt]]), state)
        return "".join(out)


def batch(g, V, L=7, N=3):
    ids = torch.randint(0, V, (L, N), generator=g)
    targets = torch.randint(0, V, (L, N), generator=g)
    return ids, targets


def make(out_dir, seed=0, cell="LSTM"):
    os.makedirs(out_dir, exist_ok=True)
    itos = sorted(set(TEXT))
    stoi = {c: i for i, c in enumerate(itos)}
    V = len(itos)
    torch.manual_seed(seed)
    model = CharModel(V, 8, 12, cell)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    g = torch.Generator().manual_seed(seed + 1)
    codes = torch.tensor([stoi[c] for c in TEXT])
    for _ in range(STEPS):
        starts = torch.randint(0, len(TEXT) - 17, (4,), generator=g)
        window = torch.stack([codes[s : s + 17] for s in starts], dim=1)  # (17, 4)
        ids, targets = window[:-1], window[1:]
        opt.zero_grad()
        logits, _ = model(ids)
        F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).backward()
        opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": STEPS}, os.path.join(out_dir, "lm.pt"))
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(itos, f)
    ids, targets = batch(g, V)
    opt.zero_grad()
    logits, (h_n, *rest) = (lambda r: (r[0], r[1] if isinstance(r[1], tuple) else (r[1],)))(model(ids))
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    grads = {n: p.grad.reshape(-1).tolist() for n, p in model.named_parameters()}
    opt.step()
    stepped = {n: p.detach().reshape(-1).tolist() for n, p in model.named_parameters()}
    expected = {
        "torch": torch.__version__,
        "cell": cell,
        "ids": ids.tolist(),
        "targets": targets.reshape(-1).tolist(),
        "logits": logits.detach().reshape(-1).tolist(),
        "h_n": h_n.detach().reshape(-1).tolist(),
        "loss": loss.item(),
        "grads": grads,
        "stepped": stepped,
        "names": [n for n, _ in model.named_parameters()],
        "greedy": greedy(model_at_checkpoint(out_dir, V, cell), stoi, itos, "The", 80),
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")
    print(f"wrote {out_dir}: lm.pt, vocab.json, expected.json ({cell}, V={V})")


def model_at_checkpoint(out_dir, V, cell):
    model = CharModel(V, 8, 12, cell)
    model.load_state_dict(torch.load(os.path.join(out_dir, "lm.pt"))["model"])
    return model.eval()


def resume(ckpt_path, grads_path, out_path):
    ckpt = torch.load(ckpt_path)  # weights_only=True in torch 1.13 refuses floats, its own optimizer state too
    sd = ckpt["model"]
    V, E = sd["emb.weight"].shape
    H = sd["rnn.weight_hh_l0"].shape[1]
    cell = {1: "RNN", 4: "LSTM", 3: "GRU"}[sd["rnn.weight_hh_l0"].shape[0] // H]
    model = CharModel(V, E, H, cell)
    model.load_state_dict(sd, strict=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.5)
    opt.load_state_dict(ckpt["optimizer"])
    grads = torch.load(grads_path, weights_only=True)
    for n, p in model.named_parameters():
        p.grad = grads[n].clone()
    opt.step()
    torch.save({n: p.detach() for n, p in model.named_parameters()}, out_path)
    print(json.dumps({"epoch": ckpt["epoch"], "lr": opt.param_groups[0]["lr"]}))


def sample_text(model_path, vocab_path, prime, length, temperature, top_k, seed):
    """torch's draw for `stacked-rnn sample --temperature T --top-k K --seed S` (the CLI's live test)."""
    with open(vocab_path) as f:
        itos = json.load(f)
    stoi = {c: i for i, c in enumerate(itos)}
    sd = torch.load(model_path)["model"]
    V, E = sd["emb.weight"].shape
    H = sd["rnn.weight_hh_l0"].shape[1]
    cell = {1: "RNN", 4: "LSTM", 3: "GRU"}[sd["rnn.weight_hh_l0"].shape[0] // H]
    model = CharModel(V, E, H, cell)
    model.load_state_dict(sd)
    model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        logits, state = model(torch.tensor([[stoi[c] for c in prime]]).T)
        out = list(prime)
        for i in range(length):
            last = logits[-1, 0].clone()
            if top_k is not None and top_k < V:
                kth = torch.topk(last, top_k).values[-1]
                last[last < kth] = -float("inf")
            nxt = int(torch.multinomial(torch.softmax(last / temperature, -1), 1))
            out.append(itos[nxt])
            if i + 1 < length:
                logits, state = model(torch.tensor([[nxt]]), state)
    return "".join(out)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["make"] and len(args) >= 2:
        make(args[1], int(args[2]) if len(args) > 2 else 0, args[3] if len(args) > 3 else "LSTM")
    elif args[:1] == ["resume"] and len(args) == 4:
        resume(*args[1:])
    elif args[:1] == ["sample"] and len(args) == 8:
        k = None if args[6] == "none" else int(args[6])
        print(sample_text(args[1], args[2], args[3], int(args[4]), float(args[5]), k, int(args[7])), end="")
    else:
        sys.exit(__doc__)
