/**
 * The embedded training data, so `stacked-rnn train` runs with no files: a noisy sine mixture for next-step
 * prediction, and a short text for a character-level language model. Batches are (L, N, features), time-major,
 * drawn as random windows with the caller's seeded Generator, so a seed fixes the whole data stream.
 */
import { RnnError } from '../errors.js';
import { Generator } from '../random.js';
import { allocate, type DType, Tensor } from '../tensor.js';

/** A training batch: the input sequence and what each step must predict. */
export interface Batch {
  input: Tensor; // (L, N, I)
  /** Regression targets (L, N, O), or null for classification. */
  target: Tensor | null; // (L, N, O)
  /** Class targets, one per (t, n) in time-major order, or null for regression. */
  classes: Int32Array | null; // (L*N)
}

// ---------------------------------------------------------------------------------------------------------------
// the sine mixture

/** The mixture's components: amplitude, angular frequency (radians per step), phase. */
export const SINE_COMPONENTS: readonly (readonly [number, number, number])[] = [
  [0.6, 0.21, 0],
  [0.3, 0.47, 1],
  [0.15, 0.93, 2],
];

/** Standard deviation of the Gaussian noise added to every sample. */
export const SINE_NOISE = 0.03;

/** Samples in the embedded series; windows are drawn from anywhere in it. */
export const SINE_LENGTH = 4000;

/**
 * The noisy sine mixture: x_t = sum_k a_k sin(w_k t + phi_k) + noise_t, t = 0..length-1. The noise comes from a
 * Generator seeded with `seed`, so the same seed gives the same series.
 */
export function sineSeries(seed: number, length = SINE_LENGTH): Float64Array {
  const noise = new Float64Array(length);
  new Generator(seed).normal(noise, 0, SINE_NOISE);
  const x = new Float64Array(length);
  for (let t = 0; t < length; t++) {
    let v = noise[t] as number;
    for (const [a, w, phi] of SINE_COMPONENTS) v += a * Math.sin(w * t + phi);
    x[t] = v;
  }
  return x;
}

/**
 * N windows of L+1 consecutive samples at random starts: input x_t and target x_{t+1} for t in the window.
 * Input (L, N, 1), target (L, N, 1).
 */
export function sineBatch(series: Float64Array, g: Generator, L: number, N: number, dtype: DType): Batch {
  if (L + 1 > series.length) {
    throw new RnnError(
      'invalid_argument',
      `sequence length ${L} needs ${L + 1} samples, the series has ${series.length}`,
      {
        expected: `<= ${series.length - 1}`,
        got: L,
      },
    );
  }
  const input = allocate(dtype, L * N); // (L, N, 1)
  const target = allocate(dtype, L * N); // (L, N, 1)
  for (let n = 0; n < N; n++) {
    const start = Math.floor(g.nextDouble() * (series.length - L));
    for (let t = 0; t < L; t++) {
      input[t * N + n] = series[start + t] as number;
      target[t * N + n] = series[start + t + 1] as number;
    }
  }
  return { input: new Tensor(input, [L, N, 1]), target: new Tensor(target, [L, N, 1]), classes: null };
}

// ---------------------------------------------------------------------------------------------------------------
// the text

/** The embedded text: original prose written for this project, free to use for any purpose. */
export const TEXT = `The lighthouse stood at the end of a long spit of sand, and the keeper climbed its stairs every evening before
the sun went down. There were one hundred and twelve steps, and he counted them each time, not because he feared
to lose his way, but because counting kept the day in order. At the top he wiped the glass, trimmed the wick, and
lit the lamp, and the light went out over the water in a slow white circle.

The sea was never the same two nights running. Some evenings it lay flat and grey, like a sheet of tin left out in
the rain. Other evenings it rose in long green hills that broke on the rocks below and threw their spray against
the windows. The keeper did not mind the storms. He knew that the ships were out there, small and far apart, and
that every one of them was looking for his light.

In the morning he wrote in his book. He wrote the wind and the weather, the height of the tide, the ships that had
passed, and the birds that had rested on the rail. He wrote that the gulls were loud and the terns were quick, that
the fog came in at dawn and left by noon, that the lamp had burned for eleven hours and used four pints of oil.
The book was plain and the words were plain, and he liked them that way.

Once a year a boat came from the town with flour and salt, oil for the lamp, and letters. The keeper read the
letters slowly, one a day, so that they would last. His sister wrote about her garden and her children and the
price of bread. His old friend wrote about the mill by the river and the new bridge that was built across it. The
keeper wrote back about the sea, the light, the birds, and the long quiet of the winter.

When he grew old, a young woman came to learn the work. She counted the steps with him, and wiped the glass, and
wrote in the book in a neat small hand. At first she asked many questions, and he answered each one. Later she
asked fewer, and he was glad, because it meant that the light would go on shining after he had gone. On the last
night he climbed the stairs, he stood beside her at the top and watched the beam turn over the dark water, and he
said that it was a good life, to keep a light for people you would never meet.
`;

/** A character vocabulary: the sorted distinct characters of a text, and lookups both ways. */
export interface Vocabulary {
  chars: string[];
  index: Map<string, number>;
}

export function vocabularyOf(text: string): Vocabulary {
  const chars = [...new Set(text)].sort();
  return { chars, index: new Map(chars.map((c, i) => [c, i])) };
}

/** A text as class indices; every character must be in the vocabulary. */
export function encodeText(text: string, vocab: Vocabulary): Int32Array {
  const out = new Int32Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const k = vocab.index.get(c);
    if (k === undefined) {
      throw new RnnError(
        'invalid_argument',
        `character ${JSON.stringify(c)} (position ${i}) is not in the vocabulary`,
        {
          expected: vocab.chars.join(''),
          got: c,
        },
      );
    }
    out[i] = k;
  }
  return out;
}

/** One-hot rows for class indices: (count, V). */
export function oneHot(indices: ArrayLike<number>, V: number, dtype: DType): Float32Array | Float64Array {
  const out = allocate(dtype, indices.length * V);
  for (let i = 0; i < indices.length; i++) out[i * V + (indices[i] as number)] = 1;
  return out;
}

/**
 * N windows of L+1 consecutive characters at random starts: input one-hot x_t (L, N, V), class target x_{t+1}.
 */
export function charBatch(codes: Int32Array, V: number, g: Generator, L: number, N: number, dtype: DType): Batch {
  if (L + 1 > codes.length) {
    throw new RnnError(
      'invalid_argument',
      `sequence length ${L} needs ${L + 1} characters, the text has ${codes.length}`,
      {
        expected: `<= ${codes.length - 1}`,
        got: L,
      },
    );
  }
  const inputCodes = new Int32Array(L * N); // (L, N)
  const classes = new Int32Array(L * N); // (L, N)
  for (let n = 0; n < N; n++) {
    const start = Math.floor(g.nextDouble() * (codes.length - L));
    for (let t = 0; t < L; t++) {
      inputCodes[t * N + n] = codes[start + t] as number;
      classes[t * N + n] = codes[start + t + 1] as number;
    }
  }
  return { input: new Tensor(oneHot(inputCodes, V, dtype), [L, N, V]), target: null, classes };
}
