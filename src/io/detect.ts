/**
 * What kind of tensor file some bytes are, from their first bytes, and the one-line refusal of a file that is
 * none of them. Pure: the CLI and the explainer page both use it.
 */
import { RnnError } from '../errors.js';
import { MAX_HEADER_BYTES } from './safetensors.js';

export type TensorFormat = 'safetensors' | 'pt' | 'json';

/** How many leading bytes `detectFormat` needs to decide (it also works on a whole file). */
export const DETECT_BYTES = 4096;

const isSpace = (b: number | undefined) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The format of a file from its first bytes (`head`; the whole file will do):
 * - safetensors: an 8-byte little-endian header length no larger than the reference reader's limit, then `{`
 *   (a truncated file still counts, so that the safetensors reader can say what is missing);
 * - pt: a zip (`PK\3\4`, `PK\5\6`), a bare or legacy pickle (`\x80`), or a pre-0.4 tar: the .pt reader names
 *   the old formats;
 * - json: text opening with `{` or `[`, or any file named `.json`;
 * - 'unknown' for anything else (a script, random bytes, an old text file).
 */
export function detectFormat(head: Uint8Array, path = ''): TensorFormat | 'unknown' {
  if (head.length >= 9 && head[8] === 0x7b) {
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(MAX_HEADER_BYTES)) return 'safetensors';
  }
  if (head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6)))
    return 'pt';
  if (head[0] === 0x80) return 'pt';
  if (head.length > 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'pt';
  let i = 0;
  while (i < head.length && isSpace(head[i])) i++;
  // Text that opens like JSON, or a .json name, goes to the JSON reader, which explains what is wrong with it.
  if (head[i] === 0x7b || head[i] === 0x5b || /\.json$/i.test(path)) return 'json';
  return 'unknown';
}

/** The first bytes, as text when they are printable ASCII, else in hex. */
function preview(head: Uint8Array): string {
  const first = head.subarray(0, 16);
  const printable = first.every((b) => (b >= 0x20 && b < 0x7f) || isSpace(b));
  if (printable) return JSON.stringify(String.fromCharCode(...first));
  return Array.from(first.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The refusal of a file whose bytes `detectFormat` does not recognise; `size` is the whole file's. */
export function notATensorFile(head: Uint8Array, size: number): RnnError {
  const what = size === 0 ? 'the file is empty' : `it starts with ${preview(head)}`;
  return new RnnError('corrupt_file', `neither a PyTorch .pt file nor a safetensors file (nor JSON): ${what}`, {
    expected: 'a .pt, .safetensors or .json tensor file',
    got: size === 0 ? 'an empty file' : preview(head),
    hint:
      "a .pt file is the zip archive torch.save writes (it starts with 'PK'); a safetensors file starts with " +
      'an 8-byte header length and a JSON header',
  });
}
