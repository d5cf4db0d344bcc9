/**
 * Text from a character model: feed a prime, then repeatedly draw the next character from the softmax of the
 * logits divided by a temperature (`sample`, src/sampling.ts: torch.multinomial's draw) and feed it back, carrying the hidden state from step to step.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import { Generator } from '../random.js';
import { sample } from '../sampling.js';
import { Tensor } from '../tensor.js';
import { oneHot } from './data.js';
import { SequenceModel } from './model.js';

export interface SampleOptions {
  /** Characters to generate after the prime. Default 300. */
  length?: number;
  /** Text to start from (every character must be in the vocabulary). Default: a newline, else the first character. */
  prime?: string;
  /** Softmax temperature: below 1 is more conservative, above 1 wilder; 0 always takes the likeliest. Default 0.8. */
  temperature?: number;
  /** Draw only among the k likeliest characters. Default: all. */
  topK?: number;
  /** Seeds the draws. Default: random. */
  seed?: number | Generator;
}

/** The prime followed by `length` generated characters. */
export function sampleText(model: SequenceModel, options: SampleOptions = {}): string {
  checkArgument(model instanceof SequenceModel, 'sampleText: model', 'a SequenceModel', model);
  checkArgument(isObject(options), 'sampleText: options', 'an object', options);
  const vocab = model.config.vocab;
  if (model.config.task !== 'chars' || vocab === null) {
    throw new RnnError('invalid_argument', `sampling needs a 'chars' model, got a '${model.config.task}' model`, {
      expected: 'chars',
      got: model.config.task,
      hint: 'train one with: stacked-rnn train --task chars',
    });
  }
  const length = options.length ?? 300;
  if (!Number.isInteger(length) || length < 0) {
    throw new RnnError('invalid_argument', `length must be an integer >= 0, got ${length}`, {
      expected: '>= 0',
      got: length,
    });
  }
  const temperature = options.temperature ?? 0.8;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RnnError('invalid_argument', `temperature must be a finite number >= 0, got ${temperature}`, {
      expected: '>= 0',
      got: temperature,
    });
  }
  const prime = options.prime ?? (vocab.includes('\n') ? '\n' : (vocab[0] as string));
  const chars = [...prime];
  if (chars.length === 0) throw new RnnError('invalid_argument', 'prime must hold at least one character', { got: '' });
  const unknown = [...new Set(chars.filter((c) => !vocab.includes(c)))];
  if (unknown.length > 0) {
    throw new RnnError(
      'invalid_argument',
      `prime has characters the model never saw: ${unknown.map((c) => JSON.stringify(c)).join(', ')}`,
      {
        expected: vocab.join(''),
        got: unknown,
        hint: `the vocabulary is ${JSON.stringify(vocab.join(''))}`,
      },
    );
  }
  const g =
    options.seed instanceof Generator
      ? options.seed
      : new Generator(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const V = vocab.length;
  const dtype = model.config.dtype;
  const codes = chars.map((c) => vocab.indexOf(c));
  // The prime as one sequence (L, 1, V); then one step (1, 1, V) at a time, carrying h_n (and the LSTM's c_n).
  let [logits, states] = model.forward(new Tensor(oneHot(codes, V, dtype), [codes.length, 1, V]));
  const out = [...chars];
  for (let i = 0; i < length; i++) {
    const last = logits.data.subarray(logits.numel - V); // (V) logits of the last step
    const next = sample(last, {
      temperature,
      generator: g,
      ...(options.topK === undefined ? {} : { topK: options.topK }),
    });
    out.push(vocab[next] as string);
    if (i + 1 < length) [logits, states] = model.forward(new Tensor(oneHot([next], V, dtype), [1, 1, V]), { states });
  }
  return out.join('');
}
