/** Reading a vocab.json for `sample --vocab` and `train --data ... --vocab`. */
import { RnnError } from '../errors.js';
import { readBytes } from '../io/files.js';
import { type Vocabulary, vocabularyFrom } from '../train/generate.js';

/** A vocab.json file as a vocabulary (see vocabularyFrom for the forms it takes). */
export async function readVocab(path: string): Promise<Vocabulary> {
  const text = new TextDecoder().decode(await readBytes(path, { maxBytes: 64 * 1024 * 1024 }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RnnError('invalid_argument', `${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`, {
      hint: 'a vocabulary file is a JSON array of tokens in id order, e.g. ["\\n", " ", "T", "h", "e"]',
    });
  }
  try {
    return vocabularyFrom(parsed);
  } catch (err) {
    throw err instanceof RnnError ? new RnnError(err.code, `${path}: ${err.message}`, { hint: err.hint ?? '' }) : err;
  }
}
