/**
 * The one error class the library throws.
 *
 * Every check in stacked-rnn raises `RnnError` with a stable `code`, and where a value was compared, the
 * `expected` and `got` sides, so a caller can branch on the kind of failure without parsing the message. The
 * message itself uses PyTorch's words where PyTorch has them. The CLI prints `message` (plus `hint`) and exits;
 * the library never exits.
 */
export type RnnErrorCode =
  | 'invalid_argument' // a constructor or function option is out of its domain
  | 'shape_mismatch' // a tensor's rank or size is not the one required
  | 'state_dict' // missing, unexpected or misshapen parameters
  | 'corrupt_file' // a file's bytes do not parse or contradict themselves
  | 'unsupported' // a valid file or option this library does not handle
  | 'io'; // the file system refused (missing file, permission)

export interface RnnErrorDetails {
  expected?: unknown;
  got?: unknown;
  hint?: string;
  /** Extra structured information (e.g. the missing keys of a state dict). */
  data?: Record<string, unknown>;
}

export class RnnError extends Error {
  override readonly name = 'RnnError';
  readonly code: RnnErrorCode;
  readonly expected: unknown;
  readonly got: unknown;
  readonly hint: string | undefined;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: RnnErrorCode, message: string, details: RnnErrorDetails = {}) {
    super(message);
    this.code = code;
    this.expected = details.expected;
    this.got = details.got;
    this.hint = details.hint;
    this.data = details.data;
  }
}

/** Shape as PyTorch prints a torch.Size in its messages: `(2, 3, 5)`; one element keeps the comma: `(3,)`. */
export function formatSizeTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Shape as PyTorch prints `list(t.size())`: `[2, 3, 5]`. */
export function formatSizeList(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws unless `value` is an integer >= `min`; `what` names the argument as PyTorch does (`hidden_size`). */
export function checkInteger(value: unknown, what: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new RnnError('invalid_argument', `${what} should be of type int, got: ${describe(value)}`, {
      expected: 'integer',
      got: value,
    });
  }
  if (value < min) {
    const bound = min === 1 ? 'greater than zero' : `at least ${min}`;
    throw new RnnError('invalid_argument', `${what} must be ${bound}, got ${value}`, {
      expected: `>= ${min}`,
      got: value,
    });
  }
  return value;
}

/**
 * Throws RnnError('invalid_argument') unless `ok`: `${what} must be ${expected}, got <value's kind>`. For the
 * arguments of exported functions, so that a wrong one fails in words rather than as a TypeError inside.
 */
export function checkArgument(ok: boolean, what: string, expected: string, value: unknown): void {
  if (ok) return;
  const got =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'an array'
        : typeof value === 'object'
          ? `${value.constructor?.name ?? 'an object'}`
          : describe(value);
  throw new RnnError('invalid_argument', `${what} must be ${expected}, got ${got}`, { expected, got });
}

/** Whether `value` is a plain object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${value}'`;
  return value === null ? 'null' : typeof value;
}

/** The longest name a message shows whole; a hostile file's names can be megabytes long. */
const MAX_NAME_CHARS = 60;

/** A name as a message shows it: quoted, and cut to 60 characters (`'aaaa...' (300000 characters)`). */
export function quoteName(name: string, quote = "'"): string {
  if (name.length <= MAX_NAME_CHARS) return `${quote}${name}${quote}`;
  return `${quote}${name.slice(0, MAX_NAME_CHARS)}...${quote} (${name.length} characters)`;
}

/**
 * Names as a message lists them: the first `max` quoted and comma-separated, then "... and N more", so that a
 * message stays one readable line however many names a file holds.
 */
export function formatNames(names: readonly string[], options: { max?: number; quote?: string } = {}): string {
  const max = options.max ?? 8;
  const shown = names.slice(0, max).map((n) => quoteName(n, options.quote));
  if (names.length > max) shown.push(`... and ${names.length - max} more`);
  return shown.join(', ');
}
