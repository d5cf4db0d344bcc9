/**
 * Text from a language model in a Sequential (ids -> Embedding -> cell -> Linear -> logits): feed the prime,
 * then repeatedly choose the next token from the last step's logits (`sample`: greedy at temperature 0, else
 * torch.multinomial's draw, optionally top-k) and feed it back, carrying the recurrent state.
 */
import { RnnError } from '../errors.js';
import type { Sequential } from '../nn/sequential.js';
import { Generator } from '../random.js';
import { sample } from '../sampling.js';

export interface GenerateOptions {
  /** Tokens to generate after the prime. */
  length: number;
  /** 0: always the likeliest (greedy). Default 1. */
  temperature?: number;
  topK?: number;
  /** The random stream, or a seed that starts one for the whole text. Default: a random seed. */
  generator?: Generator | number;
}

/**
 * The ids generated after `prime` (the prime not included). The model runs on (L, 1) ids and must end in logits
 * (L, 1, V).
 *
 * @example
 * const ids = generateIds(model, [stoi.T, stoi.h, stoi.e], { length: 200, temperature: 0 });
 */
export function generateIds(model: Sequential, prime: readonly number[], options: GenerateOptions): number[] {
  if (prime.length === 0) throw new RnnError('invalid_argument', 'the prime must hold at least one token', { got: 0 });
  const draw = {
    temperature: options.temperature ?? 1,
    ...(options.topK === undefined ? {} : { topK: options.topK }),
    // One stream for the whole text: a seed given as a number starts it once, as torch.manual_seed does.
    generator:
      options.generator instanceof Generator
        ? options.generator
        : new Generator(options.generator ?? Math.floor(Math.random() * 2 ** 32)),
  };
  const out: number[] = [];
  let [logits, state] = model.forward(prime.map((id) => [id]));
  for (let i = 0; i < options.length; i++) {
    const V = logits.shape[logits.ndim - 1] as number;
    const next = sample(logits.data.subarray(logits.numel - V), draw);
    out.push(next);
    if (i + 1 < options.length) [logits, state] = model.forward([[next]], state);
  }
  return out;
}

/** A vocabulary: token strings in id order. */
export type Vocabulary = readonly string[];

/** The ids of `text`, longest vocabulary entry first at each position; an unknown character is an error. */
export function encodeWith(vocab: Vocabulary, text: string): number[] {
  const byLength = [...vocab.keys()].sort((a, b) => (vocab[b] as string).length - (vocab[a] as string).length);
  const ids: number[] = [];
  let i = 0;
  while (i < text.length) {
    const id = byLength.find((v) => (vocab[v] as string).length > 0 && text.startsWith(vocab[v] as string, i));
    if (id === undefined) {
      const c = String.fromCodePoint(text.codePointAt(i) as number);
      throw new RnnError('invalid_argument', `the prime has ${JSON.stringify(c)}, which the vocabulary does not hold`, {
        got: c,
        hint: `the vocabulary is ${JSON.stringify(vocab.join('')).slice(0, 200)}`,
      });
    }
    ids.push(id);
    i += (vocab[id] as string).length;
  }
  return ids;
}

/**
 * A vocabulary from a parsed vocab.json: an array of tokens (`["\n", " ", "a", ...]`), an object of token -> id
 * (`{"a": 0, ...}`, a `stoi`), or an object holding one of those under `itos`, `chars`, `vocab` or `stoi`.
 */
export function vocabularyFrom(value: unknown): Vocabulary {
  const fail = (why: string) =>
    new RnnError('invalid_argument', `the vocabulary ${why}`, {
      expected: 'a JSON array of tokens in id order, or an object of token -> id',
      hint: 'e.g. ["\\n", " ", "T", "h", "e"] or {"T": 0, "h": 1, "e": 2}',
    });
  if (Array.isArray(value)) {
    if (value.length === 0 || !value.every((t) => typeof t === 'string'))
      throw fail('must be a non-empty list of strings');
    return value as string[];
  }
  if (value === null || typeof value !== 'object') throw fail(`is a ${value === null ? 'null' : typeof value}`);
  const record = value as Record<string, unknown>;
  for (const key of ['itos', 'chars', 'vocab', 'stoi']) if (key in record) return vocabularyFrom(record[key]);
  const entries = Object.entries(record);
  if (entries.length === 0) throw fail('is empty');
  const out: string[] = new Array(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length || out[id] !== undefined) {
      throw fail(
        `maps ${JSON.stringify(token)} to ${JSON.stringify(id)}: ids must be 0..${entries.length - 1}, each once`,
      );
    }
    out[id] = token;
  }
  return out;
}
