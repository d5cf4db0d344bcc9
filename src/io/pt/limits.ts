/**
 * Bounds on what reading an untrusted `.pt` file may cost, and the byte budget that enforces them.
 *
 * A `.pt` file is attacker-controlled input: a zip entry can claim any size, a tensor any shape, a pickle any
 * nesting. Every allocation the reader makes is charged to one `Budget` first, so a hostile file ends in an
 * RnnError before it can take more memory than `maxBytes`, and every loop is bounded by the input's length or
 * by these limits.
 */
import { RnnError } from '../../errors.js';

export interface PtLimits {
  /** Most bytes the reader produces in all: inflated zip entries plus the tensors it builds. Default 2 GiB. */
  maxBytes: number;
  /**
   * Most bytes one tensor may take when its view repeats storage elements (a stride of 0 over a dimension of
   * size > 1, as `torch.expand` makes): a file of a kilobyte can describe gigabytes that way, and the model built
   * from them would take as much again. Checked from the shape before anything is allocated. Default 16 MiB;
   * ordinary (dense) tensors are bounded by `maxBytes` and the file's own bytes.
   */
  maxExpandedBytes: number;
  /** Largest `data.pkl` accepted. Default 64 MiB. */
  maxPickleBytes: number;
  /** Deepest nesting of dicts, lists and tuples in the loaded object. Default 100, at most 1000. */
  maxDepth: number;
  /** Most entries on the unpickler's stack, mark stack or memo. Default 1,000,000. */
  maxItems: number;
}

const MAX_DEPTH = 1000;

export const DEFAULT_PT_LIMITS: Readonly<PtLimits> = Object.freeze({
  maxBytes: 2 ** 31,
  maxExpandedBytes: 16 * 2 ** 20,
  maxPickleBytes: 64 * 2 ** 20,
  maxDepth: 100,
  maxItems: 1_000_000,
});

/** Merges user limits over the defaults, checking each is a positive integer. */
export function resolveLimits(limits: Partial<PtLimits> | undefined): PtLimits {
  const out: PtLimits = { ...DEFAULT_PT_LIMITS, ...limits };
  for (const [name, value] of Object.entries(out)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RnnError('invalid_argument', `limits.${name} must be a positive integer, got ${String(value)}`, {
        expected: 'positive integer',
        got: value,
      });
    }
  }
  if (out.maxDepth > MAX_DEPTH) {
    // The walks over the loaded object recurse once per level; JavaScript's call stack is the real bound.
    throw new RnnError('invalid_argument', `limits.maxDepth must be at most ${MAX_DEPTH}, got ${out.maxDepth}`, {
      expected: `<= ${MAX_DEPTH}`,
      got: out.maxDepth,
    });
  }
  return out;
}

/** The bytes still allowed; `take` charges an allocation before it is made. */
export class Budget {
  private left: number;

  constructor(readonly limit: number) {
    this.left = limit;
  }

  take(bytes: number, what: string): void {
    if (!(bytes <= this.left)) {
      throw new RnnError('corrupt_file', `${what} needs ${bytes} bytes, over the reader's limit of ${this.limit}`, {
        expected: `<= ${this.left} bytes`,
        got: bytes,
        hint: 'raise options.limits.maxBytes if the file is trusted and really this large',
      });
    }
    this.left -= bytes;
  }
}
