/**
 * Opens a torch.save zip: finds its folder (the prefix before `/data.pkl`, which torch takes from the file
 * name), runs `data.pkl` through the restricted unpickler and hands out storage bytes by key.
 *
 * Files that are not zips get a clear verdict: the legacy pre-1.6 format (a pickle of a magic number, or a tar)
 * is recognised and named, anything else is reported as not a .pt file.
 */
import { RnnError } from '../../errors.js';
import { Budget, type PtLimits } from './limits.js';
import { type StorageRef, TorchHooks } from './torch-pickle.js';
import { type PyValue, unpickle } from './unpickler.js';
import { listEntries, readEntry, type ZipEntry } from './zip.js';

/** torch.save's legacy format starts with a protocol-2 pickle of the long 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_HINT = 're-save with a current PyTorch (torch.save(sd, path)), which writes the zip format';

export interface PtArchive {
  readonly root: PyValue;
  /** The bytes of a storage, read (and for deflated entries inflated) once and kept. */
  storageBytes(ref: StorageRef): Uint8Array;
  readonly littleEndian: boolean;
  readonly budget: Budget;
  readonly limits: PtLimits;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  return prefix.every((b, i) => bytes[at + i] === b);
}

/** Throws for the legacy formats and bare pickles, which are recognised by their first bytes. */
function refuseLegacy(bytes: Uint8Array): void {
  const tar = startsWith(bytes, [0x75, 0x73, 0x74, 0x61, 0x72], 257); // 'ustar'
  if (startsWith(bytes, LEGACY_MAGIC) || tar) {
    throw new RnnError('unsupported', `legacy .pt format: ${LEGACY_HINT}`, {
      expected: 'a zip archive (torch.save since PyTorch 1.6)',
      got: tar ? 'a tar archive (PyTorch < 0.4)' : 'a legacy pickle stream (_use_new_zipfile_serialization=False)',
      hint: LEGACY_HINT,
    });
  }
  if (bytes[0] === 0x80) {
    throw new RnnError('unsupported', 'this is a bare pickle, not a torch.save archive', {
      expected: 'a zip archive written by torch.save',
      got: 'a pickle stream',
      hint: LEGACY_HINT,
    });
  }
}

function notZip(bytes: Uint8Array, cause: RnnError): never {
  throw new RnnError('corrupt_file', `not a PyTorch .pt file: ${cause.message}`, {
    expected: 'a zip archive written by torch.save',
    got: `${bytes.length} bytes starting ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}`,
  });
}

/** The folder holding data.pkl: torch uses the first entry's folder; any single folder is accepted. */
function findPrefix(entries: readonly ZipEntry[]): string {
  const folders = entries.map((e) => /^([^/]+)\/data\.pkl$/.exec(e.name)?.[1]).filter((f) => f !== undefined);
  if (folders.length === 0) {
    const names = entries.slice(0, 5).map((e) => `'${e.name}'`);
    throw new RnnError('corrupt_file', `not a torch.save archive: no <folder>/data.pkl among ${names.join(', ')}`, {
      expected: '<folder>/data.pkl',
      got: entries.map((e) => e.name),
    });
  }
  const first = entries[0]!.name.split('/')[0]!;
  return folders.includes(first) ? first : folders[0]!;
}

export function openPtArchive(bytes: Uint8Array, limits: PtLimits, verifyCrc: boolean): PtArchive {
  if (!(bytes instanceof Uint8Array)) {
    throw new RnnError('invalid_argument', `expected the file's bytes as a Uint8Array, got ${typeof bytes}`);
  }
  const zip = startsWith(bytes, [0x50, 0x4b]); // 'PK'
  if (!zip) refuseLegacy(bytes);
  let entries: ZipEntry[];
  try {
    entries = listEntries(bytes);
  } catch (err) {
    if (err instanceof RnnError && err.code === 'corrupt_file' && !zip) notZip(bytes, err);
    throw err;
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const prefix = findPrefix(entries);
  const budget = new Budget(limits.maxBytes);
  const read = (name: string): Uint8Array | undefined => {
    const e = byName.get(`${prefix}/${name}`);
    return e === undefined ? undefined : readEntry(bytes, e, budget, verifyCrc);
  };

  const pklEntry = byName.get(`${prefix}/data.pkl`)!;
  if (pklEntry.size > limits.maxPickleBytes) {
    throw new RnnError(
      'corrupt_file',
      `data.pkl is ${pklEntry.size} bytes, over the limit of ${limits.maxPickleBytes}`,
      {
        expected: `<= ${limits.maxPickleBytes}`,
        got: pklEntry.size,
        hint: 'raise options.limits.maxPickleBytes if the file is trusted',
      },
    );
  }
  const hooks = new TorchHooks(limits.maxItems);
  const root = unpickle(read('data.pkl')!, hooks, limits.maxItems);

  // torch >= 2.1 records the byte order; older files are little-endian.
  const order = read('byteorder');
  const orderText = order === undefined ? 'little' : new TextDecoder().decode(order).trim();
  if (orderText !== 'little' && orderText !== 'big') {
    throw new RnnError('corrupt_file', `unknown byteorder record '${orderText.slice(0, 20)}'`, {
      expected: "'little' or 'big'",
      got: orderText.slice(0, 20),
    });
  }

  const cache = new Map<string, Uint8Array>();
  return {
    root,
    littleEndian: orderText === 'little',
    budget,
    limits,
    storageBytes(ref: StorageRef): Uint8Array {
      let data = cache.get(ref.key);
      if (data === undefined) {
        data = read(`data/${ref.key}`);
        if (data === undefined) {
          throw new RnnError('corrupt_file', `storage '${ref.key}' is missing: no entry ${prefix}/data/${ref.key}`, {
            expected: `${prefix}/data/${ref.key}`,
          });
        }
        cache.set(ref.key, data);
      }
      return data;
    },
  };
}
