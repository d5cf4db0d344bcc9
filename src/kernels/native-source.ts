/**
 * The hash of the native addon's source (native/addon.cc and the headers it compiles), which
 * scripts/build-prebuilds.sh builds into each prebuilt binary (its `sourceHash` export) and ./native.ts compares
 * with the shipped source's before it uses a prebuilt binary: a binary built from other source is never used, so
 * a change to native/ that was not followed by `npm run build:prebuilds` cannot go unseen.
 *
 * The hash: SHA-256 over each file (sorted by name, line ends as LF) as name, NUL, text, NUL; its first 16 hex
 * digits. The WebAssembly builds' own files (native/wasm*) are not the addon's and are left out.
 */

/** Whether a file of native/ is compiled into the addon. */
export function isAddonSource(name: string): boolean {
  return (name === 'addon.cc' || name.endsWith('.h')) && !name.startsWith('wasm');
}

type NodeFs = typeof import('node:fs');
type NodeCrypto = typeof import('node:crypto');
type NodePath = typeof import('node:path');

/** The hash of the addon's source in the folder `nativeDir` (a path), or null where it cannot be read. */
export function nativeSourceHash(nativeDir: string): string | null {
  // getBuiltinModule keeps node:fs and node:crypto out of the static imports, so bundlers for the browser never
  // see them
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  const fs = get?.('node:fs') as NodeFs | undefined;
  const crypto = get?.('node:crypto') as NodeCrypto | undefined;
  const path = get?.('node:path') as NodePath | undefined;
  if (!fs || !crypto || !path) return null;
  try {
    const hash = crypto.createHash('sha256');
    for (const name of fs.readdirSync(nativeDir).filter(isAddonSource).sort()) {
      const text = fs.readFileSync(path.join(nativeDir, name), 'utf8').replace(/\r\n/g, '\n');
      hash.update(`${name}\0${text}\0`);
    }
    return hash.digest('hex').slice(0, 16);
  } catch {
    return null;
  }
}
