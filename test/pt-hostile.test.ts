/**
 * Hand-made hostile and corrupt .pt files: each must end in an RnnError, quickly and without allocating what
 * the file claims. The pickles here are written opcode by opcode (see Python's pickletools for the names).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'fflate';
import { RnnError, type RnnErrorCode } from '../src/errors.js';
import { crc32 } from '../src/io/pt/crc32.js';
import { readPt, readPtObject } from '../src/io/pt/index.js';
import { listEntries } from '../src/io/pt/zip.js';
import { writeStoredZip } from '../src/io/pt/zip-write.js';

/** Concatenates opcodes: numbers are bytes, strings are latin-1 text. */
function pkl(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else for (const b of p) out.push(b);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number): Uint8Array => new Uint8Array(Uint32Array.of(n).buffer);
const str = (s: string): Uint8Array => pkl('X', u32(s.length), s); // BINUNICODE (ASCII here)
const int = (n: number): Uint8Array => pkl('J', new Uint8Array(Int32Array.of(n).buffer)); // BININT
const tuple = (...xs: number[]): Uint8Array => pkl('(', ...xs.map(int), 't');

/** `{'w': tensor}` viewing storage '0' of `numel` float32s with the given size, stride and offset. */
function tensorPickle(numel: number, size: number[], stride: number[], offset = 0): Uint8Array {
  // biome-ignore format: one opcode group per line
  return pkl(
    0x80, 2, '}', str('w'),
    'ctorch._utils\n_rebuild_tensor_v2\n',
    '(', '(', str('storage'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), int(numel), 't', 'Q',
    int(offset), tuple(...size), tuple(...stride), 0x89, 'ccollections\nOrderedDict\n', ')', 'R', 't', 'R',
    's', '.',
  );
}

function archive(pickle: Uint8Array, storage: Uint8Array = new Uint8Array(16)): Uint8Array {
  return writeStoredZip([
    { name: 'archive/data.pkl', data: pickle },
    { name: 'archive/data/0', data: storage },
    { name: 'archive/version', data: pkl('3\n') },
  ]);
}

function refused(code: RnnErrorCode, pattern: RegExp, run: () => unknown): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof RnnError, `expected RnnError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a well-formed hand-made tensor pickle loads (the baseline the other cases break)', () => {
  const sd = readPt(archive(tensorPickle(4, [2, 2], [2, 1]), new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer)));
  assert.deepEqual(Array.from(sd.get('w')!.data as Float32Array), [1, 2, 3, 4]);
});

test('a storage that claims more elements than its entry holds is corrupt', () => {
  refused(
    'corrupt_file',
    /storage '0' should hold 100 float32 elements \(400 bytes\) but its archive entry has 16/,
    () => readPt(archive(tensorPickle(100, [100], [1]))),
  );
});

test('a tensor whose size and stride reach past its storage is corrupt, before any data is read', () => {
  refused('corrupt_file', /needs 7 elements, but its storage '0' has 4/, () =>
    readPt(archive(tensorPickle(4, [2, 2], [4, 2]))),
  );
  refused('corrupt_file', /needs 5 elements/, () => readPt(archive(tensorPickle(4, [4], [1], 1))));
});

test('a tensor expanded to an enormous size by zero strides is refused by the byte budget, not allocated', () => {
  refused('corrupt_file', /over the reader's limit/, () =>
    readPt(archive(tensorPickle(4, [100000, 100000, 100000], [0, 0, 0]), new Uint8Array(16))),
  );
});

test('a pickle nested 200,000 lists deep is refused by the depth limit', () => {
  const n = 200_000;
  const deep = pkl(0x80, 2, new Uint8Array(n).fill(0x5d), new Uint8Array(n - 1).fill(0x61), '.'); // ] x n, a x n-1
  refused('unsupported', /nested deeper than 100 levels/, () => readPtObject(archive(deep)));
  refused('state_dict', /got a list/, () => readPt(archive(deep)));
});

test('cyclic structures are refused, and the search for state dicts does not loop', () => {
  const cyclicList = pkl(0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'); // a = []; a.append(a)
  refused('unsupported', /cycle/, () => readPtObject(archive(cyclicList)));
  const cyclicDict = pkl(0x80, 2, '}', 'q', 0, str('a'), 'h', 0, 's', '.'); // d = {}; d['a'] = d
  refused('state_dict', /no state dict inside it; its keys: 'a'/, () => readPt(archive(cyclicDict)));
  refused('unsupported', /nested deeper/, () => readPt(archive(cyclicDict), { key: Array(200).fill('a').join('.') }));
});

test('the stack, mark stack and memo are bounded by maxItems', () => {
  const limits = { maxItems: 50 };
  refused('corrupt_file', /stack exceeds 50/, () =>
    readPtObject(archive(pkl(0x80, 2, 'N'.repeat(60), '.')), { limits }),
  );
  refused('corrupt_file', /mark stack exceeds 50/, () =>
    readPtObject(archive(pkl(0x80, 2, '('.repeat(60), '.')), { limits }),
  );
  const puts = Array.from({ length: 60 }, (_, i) => pkl('q', i)).flatMap((b) => Array.from(b));
  refused('corrupt_file', /memo exceeds 50/, () =>
    readPtObject(archive(pkl(0x80, 2, 'N', Uint8Array.from(puts), '.')), { limits }),
  );
});

test('passing one large memoized list to OrderedDict() over and over is cut off, not quadratic', () => {
  const pair = pkl(str('k'), 'N', 0x86); // ('k', None)
  const pairs = new Uint8Array(pair.length * 20_000).map((_, i) => pair[i % pair.length]!);
  const call = pkl('h', 1, 'h', 0, 0x85, 'R', '0'); // OrderedDict(L); pop
  const calls = new Uint8Array(call.length * 100_000).map((_, i) => call[i % call.length]!);
  const pickle = pkl(
    0x80,
    2,
    ']',
    '(',
    pairs,
    'e',
    'q',
    0,
    'ccollections\nOrderedDict\n',
    'q',
    1,
    '0',
    calls,
    'N',
    '.',
  );
  refused('corrupt_file', /more calls over more items than the limit allows/, () => readPtObject(archive(pickle)));
});

test('maxDepth above 1000 is refused, since the walks recurse once per level', () => {
  refused('invalid_argument', /maxDepth must be at most 1000, got 5000/, () =>
    readPt(archive(tensorPickle(4, [4], [1])), { limits: { maxDepth: 5000 } }),
  );
});

test('a data.pkl larger than maxPickleBytes is refused before it is read', () => {
  refused('corrupt_file', /data.pkl is \d+ bytes, over the limit of 10/, () =>
    readPt(archive(tensorPickle(4, [4], [1])), { limits: { maxPickleBytes: 10 } }),
  );
});

test('opcodes that build arbitrary objects are refused even without a global', () => {
  refused('unsupported', /NEWOBJ/, () => readPtObject(archive(pkl(0x80, 2, ')', ')', 0x81, '.'))));
  refused('unsupported', /EXT1/, () => readPtObject(archive(pkl(0x80, 2, 0x82, 1, '.'))));
  refused('corrupt_file', /not callable/, () => readPtObject(archive(pkl(0x80, 2, str('os'), ')', 'R', '.'))));
});

test('truncated pickles and stack underflows are corrupt, not crashes', () => {
  const whole = tensorPickle(4, [4], [1]);
  for (let cut = 0; cut < whole.length; cut++) {
    assert.throws(() => readPt(archive(whole.subarray(0, cut))), RnnError, `cut at ${cut}`);
  }
  refused('corrupt_file', /stack underflow/, () => readPtObject(archive(pkl(0x80, 2, 'a', '.'))));
  refused('corrupt_file', /unknown opcode 0xff/, () => readPtObject(archive(pkl(0x80, 2, 0xff, '.'))));
});

/** Overwrites the sizes of entry `name` in the central directory (and the local header). */
function lieAboutSize(zip: Uint8Array, name: string, compressed: number, size: number): Uint8Array {
  const out = zip.slice();
  const view = new DataView(out.buffer);
  const entry = listEntries(zip).find((e) => e.name === name)!;
  view.setUint32(entry.headerOffset + 18, compressed, true);
  view.setUint32(entry.headerOffset + 22, size, true);
  for (let p = 0; p + 46 <= out.length; p++) {
    if (view.getUint32(p, true) !== 0x02014b50) continue;
    const n = view.getUint16(p + 28, true);
    if (new TextDecoder().decode(out.subarray(p + 46, p + 46 + n)) !== name) continue;
    view.setUint32(p + 20, compressed, true);
    view.setUint32(p + 24, size, true);
  }
  return out;
}

test('a stored entry that claims more bytes than the file has is corrupt', () => {
  const zip = archive(tensorPickle(4, [4], [1]));
  refused('corrupt_file', /runs past the end of the file/, () =>
    readPt(lieAboutSize(zip, 'archive/data/0', 0xfffffff0, 0xfffffff0)),
  );
});

/** An archive whose storage '0' is `inflated` bytes of zeros, deflated (about 1000:1). */
function bomb(inflated: number): { zip: Uint8Array; compressed: number } {
  const deflated = deflateSync(new Uint8Array(inflated), { level: 9 });
  const stored = archive(tensorPickle(inflated / 4, [inflated / 4], [1]), deflated);
  // Turn the stored entry into a deflated one: method 8 in both headers, true inflated size.
  const out = lieAboutSize(stored, 'archive/data/0', deflated.length, inflated);
  const view = new DataView(out.buffer);
  const entry = listEntries(stored).find((e) => e.name === 'archive/data/0')!;
  const crc = crc32(new Uint8Array(inflated));
  view.setUint16(entry.headerOffset + 8, 8, true);
  view.setUint32(entry.headerOffset + 14, crc, true);
  for (let p = 0; p + 46 <= out.length; p++) {
    if (view.getUint32(p, true) === 0x02014b50 && view.getUint32(p + 42, true) === entry.headerOffset) {
      view.setUint16(p + 10, 8, true);
      view.setUint32(p + 16, crc, true);
    }
  }
  return { zip: out, compressed: deflated.length };
}

test('a zip bomb is refused by its claimed size before inflating, and by its true size while inflating', () => {
  const { zip, compressed } = bomb(2 * 2 ** 20);
  // Honest claim of 2 MiB against a 1 MiB budget: refused before any inflating.
  refused('corrupt_file', /inflating 'archive\/data\/0' needs 2097152 bytes, over the reader's limit of 1048576/, () =>
    readPt(zip, { limits: { maxBytes: 2 ** 20 }, verifyCrc: false }),
  );
  // A claim of 1 KiB: inflating stops as soon as the output passes it.
  refused('corrupt_file', /inflates past the 1024 bytes it claims/, () =>
    readPt(lieAboutSize(zip, 'archive/data/0', compressed, 1024), { verifyCrc: false }),
  );
  // A claim no DEFLATE stream of this length could honour.
  refused('corrupt_file', /more than DEFLATE can give/, () =>
    readPt(lieAboutSize(zip, 'archive/data/0', compressed, 0xfffffff0)),
  );
});

test('an honest deflated storage within the budget loads', () => {
  const { zip } = bomb(4096);
  const t = readPt(zip).get('w')!;
  assert.equal(t.data.length, 1024);
  assert.ok((t.data as Float32Array).every((x) => x === 0));
});
