/**
 * Builds the explainer page (web/) into dist/web/, where `stacked-rnn explain` serves it from.
 *
 * The page imports the library's own sources (../src/*.ts) so the browser runs exactly the code Node runs.
 * `base: './'` makes every asset URL relative, so the files work from any path the static server mounts them
 * at; KaTeX's fonts are emitted as files next to the CSS, so nothing is fetched from the network at run time.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  publicDir: fileURLToPath(new URL('./public', import.meta.url)),
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // The fonts stay separate files (the browser fetches only the few faces the formulas use).
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    // One bundle on purpose (KaTeX, the library with its three cells and its three WebAssembly builds: one
    // thread, threads, threads with relaxed SIMD, as base64), served from 127.0.0.1: about 1.0 MB, above Vite's
    // 500 kB default warning, which is meant for pages on the network.
    chunkSizeWarningLimit: 1400,
  },
  server: { host: '127.0.0.1' },
});
