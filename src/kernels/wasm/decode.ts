/**
 * The WebAssembly builds as binary*.ts hold them: raw DEFLATE in base64, a third of the plain base64's size, so an
 * app's bundle carries about 60 KB per build instead of 190 KB. Inflated synchronously (fflate, a dependency
 * already), so the kernels are ready at import as before.
 */
import { inflateSync } from 'fflate';

/** The bytes of a build from its deflated base64. */
export function wasmBytes(deflatedBase64: string): Uint8Array<ArrayBuffer> {
  return inflateSync(Uint8Array.from(atob(deflatedBase64), (c) => c.charCodeAt(0))) as Uint8Array<ArrayBuffer>;
}
