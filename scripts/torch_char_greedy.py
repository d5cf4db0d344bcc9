"""A PyTorch character model as users write and save one, and its greedy text step by step (test/generation-live.test.ts).

    torch_char_model.py DIR SEED LENGTH PRIME

Makes `CharModel` (Embedding(V, 32) -> LSTM(32, 64, num_layers=2, batch_first=True) -> Linear(64, V)) over the
vocabulary of a short text after torch.manual_seed(SEED), saves its state dict with torch.save to DIR/lm.pt and
the vocabulary to DIR/vocab.json, then feeds PRIME and generates LENGTH characters greedily, one step per call
with the state carried, and prints them as JSON: {"text": ...}.
"""

import json
import sys

import torch

TEXT = "the quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! 0123456789\n"


class CharModel(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 32)
        self.rnn = torch.nn.LSTM(32, 64, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(64, vocab)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.emb(ids), state)
        return self.head(y), state


def main():
    out_dir, seed, length, prime = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    vocab = sorted(set(TEXT))
    torch.manual_seed(seed)
    model = CharModel(len(vocab)).eval()
    torch.save(model.state_dict(), f"{out_dir}/lm.pt")
    with open(f"{out_dir}/vocab.json", "w") as f:
        json.dump(vocab, f)
    with torch.no_grad():
        state, text = None, prime
        for ch in prime:
            logits, state = model(torch.tensor([[vocab.index(ch)]]), state)
        for _ in range(length):
            nxt = int(logits[0, -1].argmax())
            text += vocab[nxt]
            logits, state = model(torch.tensor([[nxt]]), state)
    print(json.dumps({"text": text}))


if __name__ == "__main__":
    main()
