/**
 * File access for Node: read a whole file with clear errors, write one atomically.
 *
 * Every failure becomes RnnError('io') naming the path, so the CLI can print one line instead of a stack.
 * The parsers (safetensors.ts, json-tensors.ts) stay pure and take bytes or text, so the browser can use them.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises';
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
 * Writes a file so that readers see either the old content or the new, never a partial file: the bytes go
 * to a temporary file in the same directory (same file system, so rename is atomic), are flushed to disk,
 * and the temporary file is renamed over `path`. On any failure the temporary file is removed.
 * An existing file's permission bits are kept.
 */
export async function writeFileAtomic(path: string, contents: Uint8Array | string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const mode = await stat(path).then(
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
    await rename(temp, path);
    created = false;
  } catch (err) {
    if (created) await rm(temp, { force: true }).catch(() => undefined);
    throw ioError(err, path, 'write');
  }
}
