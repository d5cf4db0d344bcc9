/**
 * The WebAssembly kernels' float64 calls: native/f64.h in a build of its own (native/wasm_f64.cc,
 * ./binary-f64.ts), one thread, so that the float32 builds every page loads keep their size. It is loaded when a
 * float64 call first needs it: in Node.js at once, by a require that bundlers do not follow; in a page by a dynamic
 * import (a chunk of its own), that call and any before the import resolves running on the reference kernel
 * (`kernelReady({ float64: true })` waits for it). Each call's Float64Arrays are copied into the build's memory,
 * run, and copied back, as ./wasm.ts does for float32; a weight prepared from a Float64Array is kept there.
 *
 * Each call returns false, having done nothing, when it is not all float64, is smaller than `minWork`
 * multiply-adds, or the build is not loaded (the reference kernel's then); a projected LSTM runs ../gated.ts's
 * steps around these products.
 */
import { allFloat64, type FloatArray } from '../../dtype.js';
import { gatedRecurrence, gatedRecurrenceBackward } from '../gated.js';
import {
  gatesOf,
  type Kernel,
  LAYOUT_CODES,
  MODE_CODES,
  type PreparedWeight,
  type RecurrenceArgs,
  type RecurrenceBackwardArgs,
  type WeightLayout,
} from '../kernel.js';
import { wasmBytes } from './decode.js';
import { KeptBlocks, type Layout, type Wasm64Exports } from './memory.js';

type F64Module = typeof import('./binary-f64.js');
type NodeProcess = { getBuiltinModule?: (id: string) => unknown };

/** The float64 build's instance and the blocks kept in its memory, once loaded. */
interface Loaded {
  w: Wasm64Exports;
  kept: KeptBlocks;
}
let loaded: Loaded | null = null;
let loading: Promise<void> | null = null;

function start(m: F64Module): void {
  const w = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes(m.WASM_F64_BASE64)), {})
    .exports as unknown as Wasm64Exports;
  loaded = { w, kept: new KeptBlocks(w) };
}

/** The float64 build, loading it if it is not (at once in Node.js; null in a page until the import resolves). */
function instance(): Loaded | null {
  if (loaded || loading) return loaded;
  const proc = (globalThis as { process?: NodeProcess }).process;
  const nodeModule = proc?.getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
  if (nodeModule) {
    loading = Promise.resolve();
    try {
      start(nodeModule.createRequire(import.meta.url)('./binary-f64.js') as F64Module);
    } catch {
      // not loadable here: float64 stays on the reference kernel
    }
    return loaded;
  }
  loading = import('./binary-f64.js').then(start, () => {});
  return null;
}

/** Resolves once the float64 build is loaded (or has failed to: float64 then stays on the reference kernel). */
export function wasm64Ready(): Promise<void> {
  instance();
  return loading ?? Promise.resolve();
}

/** A weight packed in the float64 build's memory, freed when collected. */
class Prepared64 implements PreparedWeight {
  constructor(
    readonly at: number,
    readonly bytes: number,
  ) {}
}

/** The float64 calls, as the kernel interface's (./kernel.ts), each saying whether it ran. */
export interface Wasm64 {
  // biome-ignore format: the kernel interface's signatures
  prepare(w: Float64Array, layout: WeightLayout, O: number, C: number, into?: PreparedWeight | null): PreparedWeight | null;
  // biome-ignore format: the kernel interface's signatures
  linear(y: FloatArray, x: FloatArray, w: FloatArray, b1: FloatArray | null, b2: FloatArray | null, M: number, C: number, O: number, prepared?: PreparedWeight | null): boolean;
  recurrence(a: RecurrenceArgs): boolean;
  // biome-ignore format: the kernel interface's signatures
  linearBackward(dx: FloatArray | null, dw: FloatArray, db1: FloatArray | null, db2: FloatArray | null, dy: FloatArray, x: FloatArray, w: FloatArray, M: number, C: number, O: number): boolean;
  recurrenceBackward(a: RecurrenceBackwardArgs): boolean;
}

/** The float64 calls of `kernel` (the WebAssembly kernel they belong to), from `minWork` multiply-adds on. */
export function wasm64(kernel: () => Kernel, minWork: number): Wasm64 {
  const packedAt = (p: PreparedWeight | null | undefined) => (p instanceof Prepared64 ? p.at : null);
  const lengthsAt = (m: Layout, lengths: Int32Array | null) => (lengths ? m.take(4 * lengths.length) : 0);
  const putLengths = (m: Layout, at: number, lengths: Int32Array | null, N: number) => {
    if (lengths) m.i32(at, N).set(lengths.subarray(0, N));
  };
  return {
    prepare(wt, kind, O, C, into) {
      const f = instance();
      if (!f || O < 1 || C < 1) return null;
      const bytes = 8 * f.w.packed64_doubles(LAYOUT_CODES[kind], O, C);
      // an earlier handle of this size is packed again in place (its layout and sizes give its bytes)
      const old = into instanceof Prepared64 && into.bytes === bytes ? into : null;
      const at = old ? old.at : f.kept.keep(bytes);
      const m = f.kept.layout();
      const pw = m.take(8 * O * C);
      m.commit();
      m.put64(pw, wt, O * C);
      f.w.pack64(at, pw, LAYOUT_CODES[kind], O, C);
      if (old) return old;
      const prepared = new Prepared64(at, bytes);
      f.kept.release(prepared, at, bytes);
      return prepared;
    },

    linear(y, x, wt, b1, b2, M, C, O, prepared) {
      if (!allFloat64(y, x, wt, b1, b2) || M * C * O < minWork) return false;
      const f = instance();
      if (!f) return false;
      const { w } = f;
      const packed = packedAt(prepared);
      const m = f.kept.layout();
      const [py, px, pw] = [m.take(8 * M * O), m.take(8 * M * C), packed === null ? m.take(8 * O * C) : 0];
      const [pb1, pb2] = [m.array64(b1, O), m.array64(b2, O)];
      const bp = packed ?? m.take(8 * w.packed64_doubles(0, O, C));
      m.commit();
      m.put64(px, x, M * C);
      m.put64(pw, packed === null ? wt : null, O * C);
      m.put64(pb1, b1, O);
      m.put64(pb2, b2, O);
      w.linear64(py, px, pw, pb1, pb2, M, C, O, bp);
      m.get64(py, y, M * O);
      return true;
    },

    recurrence(a) {
      const { out, hN, pre, whh, h0, L, N, H, mode, lengths } = a;
      const G = gatesOf(mode);
      const lstm = mode === 'LSTM';
      const [c0, cN, whr] = [lstm ? (a.c0 ?? null) : null, lstm ? (a.cN ?? null) : null, a.whr ?? null];
      const [bhh, tape] = [mode === 'GRU' ? (a.bhh ?? null) : null, G > 1 ? (a.tape ?? null) : null];
      if (!allFloat64(out, hN, pre, whh, h0, c0, cN, whr, bhh, tape) || L * N * G * H * (a.P ?? H) < minWork)
        return false;
      const f = instance();
      if (!f) return false;
      if (whr !== null) {
        gatedRecurrence(kernel(), a);
        return true;
      }
      const { w } = f;
      const packed = packedAt(a.whhPrepared);
      const m = f.kept.layout();
      const outLength = L * N * a.outStride;
      const [pout, phN, pcN, ppre] = [
        m.take(8 * outLength),
        m.take(8 * N * H),
        m.array64(cN, N * H),
        m.take(8 * L * N * G * H),
      ];
      const [pwhh, ph0, pc0, pbhh] = [
        packed === null ? m.take(8 * G * H * H) : 0,
        m.take(8 * N * H),
        m.array64(c0, N * H),
        m.array64(bhh, G * H),
      ];
      const [ptape, plen] = [m.array64(tape, L * N * (G + 1) * H), lengthsAt(m, lengths)];
      const bp = packed ?? m.take(8 * w.packed64_doubles(G === 1 ? 0 : G, G * H, H));
      const state = m.take(8 * 3 * N * H);
      m.commit();
      // the other direction's half of `out`, and the tape's padded rows, must survive the round trip
      if (a.outStride !== H) m.put64(pout, out, outLength);
      m.put64(ppre, pre, L * N * G * H);
      if (pwhh) m.put64(pwhh, whh, G * H * H);
      m.put64(ph0, h0, N * H);
      m.put64(pc0, c0, N * H);
      m.put64(pbhh, bhh, G * H);
      m.put64(ptape, tape, L * N * (G + 1) * H);
      putLengths(m, plen, lengths, N);
      // biome-ignore format: the C argument order
      w.recurrence64(pout, phN, pcN, ppre, pwhh, ph0, pc0, pbhh, ptape, L, N, H, a.outStride, a.outOffset, MODE_CODES[mode], a.reverse ? 1 : 0, plen, bp, state);
      m.get64(pout, out, outLength);
      m.get64(phN, hN, N * H);
      m.get64(pcN, cN, N * H);
      m.get64(ptape, tape, L * N * (G + 1) * H);
      return true;
    },

    linearBackward(dx, dw, db1, db2, dy, x, wt, M, C, O) {
      if (!allFloat64(dx, dw, db1, db2, dy, x, wt) || M * C * O < minWork) return false;
      const f = instance();
      if (!f) return false;
      const { w } = f;
      const m = f.kept.layout();
      const [pdx, pdw, pdb1, pdb2] = [m.array64(dx, M * C), m.take(8 * O * C), m.array64(db1, O), m.array64(db2, O)];
      const [pdy, px, pw] = [m.take(8 * M * O), m.take(8 * M * C), m.take(8 * O * C)];
      const bp = dx ? m.take(8 * w.packed64_doubles(0, C, O)) : 0;
      const [work, bsum] = [m.take(8 * w.gw64_doubles(O, C)), m.take(8 * O)];
      m.commit();
      for (const [at, v, n] of [
        [pdx, dx, M * C],
        [pdw, dw, O * C],
        [pdb1, db1, O],
        [pdb2, db2, O],
        [pdy, dy, M * O],
        [px, x, M * C],
        [pw, wt, O * C],
      ] as const)
        m.put64(at, v, n);
      w.linear_backward64(pdx, pdw, pdb1, pdb2, pdy, px, pw, M, C, O, bp, work, bsum);
      m.get64(pdx, dx, M * C);
      m.get64(pdw, dw, O * C);
      m.get64(pdb1, db1, O);
      m.get64(pdb2, db2, O);
      return true;
    },

    recurrenceBackward(a) {
      const { dpre, dh0, dwhh, dout, dhN, out, h0, whh, L, N, H, mode, lengths } = a;
      const G = gatesOf(mode);
      const lstm = mode === 'LSTM';
      const [dc0, dcN, c0] = lstm ? [a.dc0 ?? null, a.dcN ?? null, a.c0 ?? null] : [null, null, null];
      const [whr, dbhh, tape] = [
        a.whr ?? null,
        mode === 'GRU' ? (a.dbhh ?? null) : null,
        G > 1 ? (a.tape ?? null) : null,
      ];
      if (!allFloat64(dpre, dh0, dwhh, dout, dhN, out, h0, whh, dc0, dcN, c0, whr, dbhh, tape)) return false;
      if (L * N * G * H * (a.P ?? H) < minWork) return false;
      const f = instance();
      if (!f) return false;
      if (whr !== null) {
        gatedRecurrenceBackward(kernel(), a);
        return true;
      }
      const { w } = f;
      const m = f.kept.layout();
      const outLength = L * N * a.outStride;
      const GH = G * H;
      const [pdpre, pdh0, pdc0, pdwhh, pdbhh] = [
        m.take(8 * L * N * GH),
        m.take(8 * N * H),
        m.array64(dc0, N * H),
        m.take(8 * GH * H),
        m.array64(dbhh, GH),
      ];
      const [pdout, pdhN, pdcN, pout, ph0, pc0] = [
        m.array64(dout, outLength),
        m.array64(dhN, N * H),
        m.array64(dcN, N * H),
        m.take(8 * outLength),
        m.take(8 * N * H),
        m.array64(c0, N * H),
      ];
      const [pwhh, ptape, plen] = [m.take(8 * GH * H), m.array64(tape, L * N * (G + 1) * H), lengthsAt(m, lengths)];
      const [pz, bp, state] = [
        m.take(8 * L * N * GH),
        m.take(8 * w.packed64_doubles(0, H, GH)),
        m.take(8 * (3 * N * H + H)),
      ];
      const [work, bsum] = [m.take(8 * w.gw64_doubles(GH, H)), m.take(8 * GH)];
      m.commit();
      for (const [at, v, n] of [
        [pdpre, dpre, L * N * GH],
        [pdh0, dh0, N * H],
        [pdc0, dc0, N * H],
        [pdwhh, dwhh, GH * H],
        [pdbhh, dbhh, GH],
        [pdout, dout, outLength],
        [pdhN, dhN, N * H],
        [pdcN, dcN, N * H],
        [pout, out, outLength],
        [ph0, h0, N * H],
        [pc0, c0, N * H],
        [pwhh, whh, GH * H],
        [ptape, tape, L * N * (G + 1) * H],
      ] as const)
        m.put64(at, v, n);
      putLengths(m, plen, lengths, N);
      // biome-ignore format: the C argument order
      w.recurrence_backward64(pdpre, pdh0, pdc0, pdwhh, pdbhh, pdout, pdhN, pdcN, pout, ph0, pc0, pwhh, ptape, L, N, H, a.outStride, a.outOffset, MODE_CODES[mode], a.reverse ? 1 : 0, plen, pz, bp, state, work, bsum);
      m.get64(pdpre, dpre, L * N * GH);
      m.get64(pdh0, dh0, N * H);
      m.get64(pdc0, dc0, N * H);
      m.get64(pdwhh, dwhh, GH * H);
      m.get64(pdbhh, dbhh, GH);
      return true;
    },
  };
}
