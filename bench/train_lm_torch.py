"""PyTorch's side of `npm run bench -- --train-lm` (bench/train-lm.ts): the whole training step of a character model,
Embedding(65, 64) -> LSTM(64, 256, num_layers=2) -> Linear(256, 65) on a batch of 32 sequences of 64 characters,
with cross-entropy, backward, clip_grad_norm_(1.0) and Adam, timed phase by phase; and Adam.step over 1 M float32
parameters alone.

  /usr/bin/python3 bench/train_lm_torch.py THREADS SECONDS

Prints one JSON line: the median ms of each phase (forward, loss, backward, clip, optimizer), of the whole step,
and of the 1 M-parameter Adam step, at torch.set_num_threads(THREADS).
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, E, H, K, L, N = 65, 64, 256, 2, 64, 32


class CharModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.LSTM(E, H, num_layers=K)
        self.head = nn.Linear(H, V)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)


def main():
    threads, seconds = int(sys.argv[1]), float(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CharModel()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    ids = torch.randint(0, V, (L, N))
    targets = torch.randint(0, V, (L * N,))
    phases = {k: [] for k in ("forward", "loss", "backward", "clip", "optimizer", "step")}

    def step(record):
        t0 = time.perf_counter()
        logits = model(ids)
        t1 = time.perf_counter()
        loss = F.cross_entropy(logits.reshape(-1, V), targets)
        t2 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if record:
            for k, a, b in (("forward", t0, t1), ("loss", t1, t2), ("backward", t2, t3), ("clip", t3, t4),
                            ("optimizer", t4, t5), ("step", t0, t5)):
                phases[k].append((b - a) * 1000)

    for _ in range(3):
        step(False)
    start = time.perf_counter()
    while len(phases["step"]) < 5 or (time.perf_counter() - start < seconds and len(phases["step"]) < 100):
        step(True)

    # Adam.step over one 1 M-element float32 parameter (torch 1.13's default: the single-tensor loop)
    p = torch.nn.Parameter(torch.randn(1 << 20))
    p.grad = torch.randn(1 << 20)
    big = torch.optim.Adam([p], lr=1e-3)
    for _ in range(3):
        big.step()
    adam = []
    start = time.perf_counter()
    while len(adam) < 5 or (time.perf_counter() - start < seconds / 3 and len(adam) < 100):
        t0 = time.perf_counter()
        big.step()
        adam.append((time.perf_counter() - t0) * 1000)

    result = {k: statistics.median(v) for k, v in phases.items()}
    result["reps"] = len(phases["step"])
    result["adam1m"] = statistics.median(adam)
    result["params"] = sum(q.numel() for q in model.parameters())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
