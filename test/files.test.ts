import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { checkOutputPath, readBytes, writeFileAtomic } from '../src/io/files.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stacked-rnn-files-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejectsIo(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof RnnError, `expected RnnError, got ${String(err)}`);
    assert.equal(err.code, 'io', err.message);
    assert.match(err.message, message);
    return true;
  });
}

const isRoot = process.getuid?.() === 0;

test('readBytes returns the exact bytes of a file', async () => {
  const path = join(dir, 'data.bin');
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  await writeFile(path, bytes);
  const got = await readBytes(path);
  assert.equal(got.length, bytes.length);
  assert.deepEqual(Buffer.from(got), Buffer.from(bytes));
});

test('readBytes of a missing file says "No such file" with the path', async () => {
  const path = join(dir, 'missing.safetensors');
  await rejectsIo(readBytes(path), new RegExp(`^No such file: ${path}$`));
});

test('readBytes of a directory says it is a directory', async () => {
  await rejectsIo(readBytes(dir), /^Is a directory: /);
});

test('readBytes refuses a file larger than maxBytes before reading it', async () => {
  const path = join(dir, 'big.bin');
  await writeFile(path, new Uint8Array(1000));
  await rejectsIo(readBytes(path, { maxBytes: 999 }), /File too large: .* is 1000 bytes, the limit is 999/);
  assert.equal((await readBytes(path, { maxBytes: 1000 })).length, 1000);
});

test('readBytes stops reading an endless stream at maxBytes', { skip: !existsSync('/dev/zero') }, async () => {
  await rejectsIo(readBytes('/dev/zero', { maxBytes: 100_000 }), /is more than 100000 bytes, the limit is 100000/);
});

test('readBytes of an unreadable file says permission denied', { skip: isRoot && 'root reads any file' }, async () => {
  const path = join(dir, 'secret.bin');
  await writeFile(path, 'x');
  await chmod(path, 0o000);
  await rejectsIo(readBytes(path), /^Permission denied: /);
});

test('writeFileAtomic writes text and bytes, replacing an old file, and leaves nothing else behind', async () => {
  const sub = join(dir, 'write');
  await mkdir(sub);
  const path = join(sub, 'out.json');
  await writeFileAtomic(path, 'first');
  await writeFileAtomic(path, new Uint8Array([104, 105]));
  assert.equal(await readFile(path, 'utf8'), 'hi');
  assert.deepEqual(await readdir(sub), ['out.json']);
});

test('writeFileAtomic keeps the permission bits of the file it replaces', async () => {
  const path = join(dir, 'private.bin');
  await writeFile(path, 'old');
  await chmod(path, 0o640);
  await writeFileAtomic(path, 'new');
  assert.equal((await stat(path)).mode & 0o777, 0o640);
  assert.equal(await readFile(path, 'utf8'), 'new');
});

test('writeFileAtomic into a missing directory fails with an io error', async () => {
  await rejectsIo(writeFileAtomic(join(dir, 'nope', 'out.bin'), 'x'), /No such directory for .*out\.bin/);
});

test('writeFileAtomic over a directory fails and removes its temporary file', async () => {
  const sub = join(dir, 'target');
  await mkdir(join(sub, 'taken'), { recursive: true });
  await rejectsIo(writeFileAtomic(join(sub, 'taken'), 'x'), /taken/);
  assert.deepEqual(await readdir(sub), ['taken']);
  assert.deepEqual(await readdir(join(sub, 'taken')), []);
});

test('writeFileAtomic refuses a FIFO, which stays a FIFO, and writes nothing beside it', {
  skip: process.platform === 'win32',
}, async () => {
  const sub = join(dir, 'fifo');
  await mkdir(sub);
  const fifo = join(sub, 'out.json');
  execFileSync('mkfifo', [fifo]);
  await rejectsIo(
    writeFileAtomic(fifo, '{}'),
    /cannot write .*out\.json: it is a named pipe \(FIFO\), not a regular file/,
  );
  assert.ok((await lstat(fifo)).isFIFO(), 'the FIFO is not replaced');
  assert.deepEqual(await readdir(sub), ['out.json']);
});

// A private device node in the scratch folder, never a system one: were the check broken, the rename would
// replace the node it names.
test('writeFileAtomic refuses a character device, reached through a link too', {
  skip: !isRoot && 'mknod needs root',
}, async () => {
  const sub = join(dir, 'device');
  await mkdir(sub);
  const device = join(sub, 'null');
  execFileSync('mknod', ['-m', '666', device, 'c', '1', '3']);
  await rejectsIo(writeFileAtomic(device, 'x'), /it is a character device, not a regular file/);
  const link = join(sub, 'null-link.json');
  await symlink(device, link);
  await rejectsIo(writeFileAtomic(link, 'x'), /character device/);
  assert.ok((await lstat(link)).isSymbolicLink(), 'the link is kept');
  assert.ok((await lstat(device)).isCharacterDevice(), 'the device is kept');
  assert.deepEqual((await readdir(sub)).sort(), ['null', 'null-link.json']);
});

test('writeFileAtomic through a symbolic link replaces the file it points to and keeps the link', async () => {
  const target = join(dir, 'linked-target.json');
  const link = join(dir, 'linked.json');
  await writeFile(target, 'old');
  await symlink(target, link);
  await writeFileAtomic(link, 'new');
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.equal(await readFile(target, 'utf8'), 'new');
});

test('checkOutputPath refuses a missing directory before anything is computed', async () => {
  await rejectsIo(checkOutputPath(join(dir, 'nowhere', 'out.json')), /No such directory for .*out\.json/);
  assert.equal(await checkOutputPath(join(dir, 'fresh.json')), join(dir, 'fresh.json'));
});
