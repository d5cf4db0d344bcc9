/**
 * File access for Node: read a whole file with clear errors, write one atomically.
 *
 * Every failure becomes RnnError('io') naming the path, so the CLI can print one line instead of a stack.
 * The parsers (safetensors.ts, json-tensors.ts) stay pure and take bytes or text, so the browser can use them.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, link, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RnnError } from '../errors.js';

/** Default cap for readBytes: far beyond any RNN checkpoint, well below what a Uint8Array can hold. */
export const DEFAULT_MAX_BYTES = 1024 ** 3;

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function ioError(err: unknown, path: string, action: 'read' | 'write'): RnnError {
  if (err instanceof RnnError) return err;
  const code = errnoCode(err);
  const data = { path, errno: code };
  switch (code) {
    case 'ENOENT':
      return new RnnError('io', action === 'read' ? `No such file: ${path}` : `No such directory for ${path}`, {
        data,
      });
    case 'ENOTDIR':
      return new RnnError('io', `Not a directory: a parent of ${path} is a file`, { data });
    case 'EISDIR':
      return new RnnError('io', `Is a directory: ${path}`, { data });
    case 'EACCES':
    case 'EPERM':
      return new RnnError('io', `Permission denied: ${path}`, { data });
    default: {
      const reason = err instanceof Error ? err.message : String(err);
      return new RnnError('io', `Cannot ${action} ${path}: ${reason}`, { data });
    }
  }
}

/**
 * Reads a whole file. Throws RnnError('io') for a missing file ("No such file: PATH"), a directory, a
 * permission error, or a file larger than `maxBytes` (checked before reading, and again while reading in
 * case the file grows).
 */
export async function readBytes(path: string, options: { maxBytes?: number } = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const info = await handle.stat();
    if (info.isDirectory()) throw ioError({ code: 'EISDIR' }, path, 'read');
    const tooBig = (size: number, more = '') =>
      new RnnError('io', `File too large: ${path} is ${more}${size} bytes, the limit is ${maxBytes}`, {
        expected: `<= ${maxBytes} bytes`,
        got: size,
        data: { path },
      });
    if (info.size > maxBytes) throw tooBig(info.size);
    // Read until end of file rather than trusting the size: pipes and /proc files report 0.
    const chunks: Uint8Array[] = [];
    let total = 0;
    let chunkSize = Math.min(Math.max(info.size + 1, 1 << 16), maxBytes + 1);
    for (;;) {
      const chunk = new Uint8Array(chunkSize);
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await handle.read(chunk, filled, chunk.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      total += filled;
      if (total > maxBytes) throw tooBig(maxBytes, 'more than ');
      chunks.push(chunk.subarray(0, filled));
      if (filled < chunk.length) break;
      chunkSize = Math.min(chunkSize * 2, maxBytes + 1 - total);
    }
    if (chunks.length === 1) return chunks[0] as Uint8Array;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } catch (err) {
    throw ioError(err, path, 'read');
  } finally {
    await handle?.close();
  }
}

/**
 * The first `n` bytes of a regular file, and its size; `regular` is false (and `head` empty) for a pipe, a
 * device or anything else that cannot be read twice.
 */
export async function readHead(path: string, n: number): Promise<{ head: Uint8Array; size: number; regular: boolean }> {
  let handle: FileHandle | undefined;
  try {
    // A FIFO is not opened here: opening it takes its writer's one pass, and the read that follows would wait
    // for a second writer forever. stat() opens nothing.
    const kind = await stat(path);
    if (!kind.isFile() && !kind.isDirectory()) return { head: new Uint8Array(0), size: 0, regular: false };
    handle = await open(path, 'r');
    const info = await handle.stat();
    if (info.isDirectory()) throw ioError({ code: 'EISDIR' }, path, 'read');
    if (!info.isFile()) return { head: new Uint8Array(0), size: 0, regular: false };
    const head = new Uint8Array(Math.min(n, info.size));
    let filled = 0;
    while (filled < head.length) {
      const { bytesRead } = await handle.read(head, filled, head.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return { head: head.subarray(0, filled), size: info.size, regular: true };
  } catch (err) {
    throw ioError(err, path, 'read');
  } finally {
    await handle?.close();
  }
}

/** What a file system entry is, for messages: 'a named pipe (FIFO)', 'a directory', ... */
function kindOfEntry(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Where writeFileAtomic will write `path`: the path itself when nothing is there, the file a symbolic link
 * points to when it is one, and a refusal when the path is a FIFO, a device, a socket or a directory. Such an
 * output is never written: the rename would replace it with a regular file (a FIFO's reader would get nothing;
 * `/dev/stdout`, run as root, would be replaced). Also checks that the directory exists.
 */
export async function checkOutputPath(path: string): Promise<string> {
  let info: Stats | undefined;
  try {
    info = await stat(path); // follows links: a link to a FIFO is a FIFO
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError(err, path, 'write');
  }
  if (info === undefined) {
    const dir = dirname(path);
    const parent = await stat(dir).catch((err: unknown) => {
      throw ioError(err, path, 'write');
    });
    if (!parent.isDirectory()) throw ioError({ code: 'ENOTDIR' }, path, 'write');
    return path;
  }
  if (!info.isFile()) {
    throw new RnnError('io', `cannot write ${path}: it is ${kindOfEntry(info)}, not a regular file`, {
      expected: 'a regular file, or a path where none exists yet',
      got: kindOfEntry(info),
      data: { path },
      hint: 'outputs are written to a temporary file that is then renamed over the target, which would replace it: name a regular file',
    });
  }
  // A link to a regular file: write the file it points to, as a shell redirection would.
  return realpath(path).catch(() => path);
}

/**
 * Writes a file so that readers see either the old content or the new, never a partial file: the bytes go
 * to a temporary file in the same directory (same file system, so rename is atomic), are flushed to disk,
 * and the temporary file is renamed over `path`. On any failure the temporary file is removed.
 * An existing file's permission bits are kept; a symbolic link to a file gets the file replaced (the link
 * stays); a FIFO, device, socket or directory at `path` is refused (see checkOutputPath).
 */
export async function writeFileAtomic(path: string, contents: Uint8Array | string): Promise<void> {
  await writeFilesAtomic([{ path, contents }]);
}

/** A temporary file beside `target` (same directory, so rename is atomic). */
function tempBeside(target: string, kind: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.${kind}`);
}

/**
 * Writes `contents` to a new temporary file beside `target`, flushed to disk, with the existing target's
 * permission bits; returns its path. Removes it on failure.
 */
async function stage(target: string, contents: Uint8Array | string): Promise<string> {
  const temp = tempBeside(target, 'tmp');
  let created = false;
  try {
    const mode = await stat(target).then(
      (s) => (s.isFile() ? s.mode & 0o7777 : undefined),
      () => undefined,
    );
    const handle = await open(temp, 'wx', mode ?? 0o666);
    created = true;
    try {
      await handle.writeFile(contents);
      await handle.sync();
      // open() applies the umask to `mode`; chmod restores the existing file's bits exactly.
      if (mode !== undefined) await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    return temp;
  } catch (err) {
    if (created) await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes several files all or none (a command's outputs: weights, a loss table, a plot): every path is checked
 * first (as checkOutputPath), every file is staged beside its target and flushed (a full disk fails here, before
 * any target is touched), and only then are they renamed into place. Should a rename still fail, the targets
 * already replaced get their old contents back (kept as hard links until the end). Throws RnnError('io') naming
 * the path that failed.
 */
export async function writeFilesAtomic(
  files: readonly { path: string; contents: Uint8Array | string }[],
): Promise<void> {
  const targets: string[] = [];
  for (const f of files) targets.push(await checkOutputPath(f.path));
  const temps: string[] = [];
  let failed = files[0]?.path ?? '';
  try {
    for (const [i, f] of files.entries()) {
      failed = f.path;
      temps.push(await stage(targets[i] as string, f.contents));
    }
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true }).catch(() => undefined)));
    throw ioError(err, failed, 'write');
  }
  // Commit: keep each old target as a hard link, so that a failed rename can put back the ones before it.
  const done: { target: string; backup: string | null }[] = [];
  try {
    for (const [i, target] of targets.entries()) {
      failed = files[i]?.path as string;
      let backup: string | null = tempBeside(target, 'old');
      try {
        await link(target, backup);
      } catch {
        backup = null; // no old file (or no hard links here): nothing to put back but the absence
      }
      done.push({ target, backup });
      await rename(temps[i] as string, target);
      temps[i] = '';
    }
  } catch (err) {
    const failedOne = done.pop(); // not replaced: only its link goes
    if (failedOne?.backup) await rm(failedOne.backup, { force: true }).catch(() => undefined);
    for (const { target, backup } of done.reverse()) {
      await (backup ? rename(backup, target) : rm(target, { force: true })).catch(() => undefined);
    }
    await Promise.all(temps.filter(Boolean).map((t) => rm(t, { force: true }).catch(() => undefined)));
    throw ioError(err, failed, 'write');
  } finally {
    await Promise.all(done.map((d) => (d.backup ? rm(d.backup, { force: true }).catch(() => undefined) : undefined)));
  }
}
