/**
 * The WebAssembly kernel: native/core.h compiled for WebAssembly SIMD (scripts/build-wasm.sh), for the browser
 * and for Node.js without the native addon. It ships inside this module (deflated, base64: ./decode.ts), so it needs no
 * download and no build step; it is compiled synchronously on first import (about 20 KB) and runs on the calling thread.
 *
 * The LSTM and GRU recurrences are fused (native/gated.h), forward and backward, as in the native kernel.
 *
 * Each call copies its arrays into the module's memory, runs, and copies the results back: the copies are
 * O(rows x features), the work O(rows x features x features). float64 calls go to the float64 build (./f64.ts),
 * loaded on demand. Precision and the hand-off of small problems to the reference kernel are as for the native
 * kernel (see ../native.ts).
 */
import { allFloat32 } from '../../dtype.js';
import { EXACT_BELOW, float32Scratch, minWorkFor, readF32, sinkF32 } from '../f32.js';
import { gatedRecurrence, gatedRecurrenceBackward } from '../gated.js';
import {
  type Kernel,
  LAYOUT_CODES,
  type LayersArgs,
  type PreparedWeight,
  type RecurrenceArgs,
  type RecurrenceBackwardArgs,
  type WeightLayout,
} from '../kernel.js';
import { referenceKernel } from '../reference.js';
import { WASM_KERNEL_BASE64 } from './binary.js';
import { wasmBytes } from './decode.js';
import { wasm64 } from './f64.js';
import { wasmLayers } from './layers.js';
import { KeptBlocks, type Layout, type WasmExports } from './memory.js';

/** Why the WebAssembly kernel is not in use, or null when it is. */
export let wasmUnavailable: string | null = null;

function instantiate(): WasmExports | null {
  try {
    const bytes = wasmBytes(WASM_KERNEL_BASE64);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    return instance.exports as unknown as WasmExports;
  } catch (e) {
    // a module that does not compile is SIMD missing; anything else (no memory to reserve) says what it was
    const reason = (e as Error).message;
    wasmUnavailable =
      e instanceof WebAssembly.CompileError
        ? `WebAssembly SIMD is unavailable (${reason})`
        : `the WebAssembly kernel could not start (${reason})`;
    return null;
  }
}

export interface WasmKernelOptions {
  /** The kernel's name. Default 'wasm'. */
  name?: string;
  /** As for the native kernel: scratch buffers shorter than this go to the reference. Default 4096. */
  exactBelow?: number;
}

/** A weight packed in one instance's memory (its `pack`), as `Kernel.prepare` returns it; freed when collected. */
class WasmPrepared implements PreparedWeight {
  constructor(
    readonly exports: WasmExports,
    readonly at: number,
    readonly bytes: number,
  ) {}
}

/**
 * Each WebAssembly kernel's instance and where a call's arrays go in its memory (above the blocks it keeps), for
 * the optimizers' calls on the same instance (src/train/optim-kernel.ts).
 */
export const wasmKernelCalls = new WeakMap<Kernel, { exports: WasmExports; layout: () => Layout }>();

/** A kernel over a WebAssembly instance: float32 and float64 buffers go to it, mixed ones to the reference kernel. */
export function createWasmKernel(w: WasmExports, options: WasmKernelOptions = {}): Kernel {
  const exactBelow = options.exactBelow ?? EXACT_BELOW;
  // Prepared weights live in the module's memory between calls, below every call's arrays (./memory.ts)
  const kept = new KeptBlocks(w);
  const reserve = (bytes: number) => kept.keep(bytes);
  const layout = () => kept.layout();
  /** The offset of a weight this instance prepared, or null. */
  const packedAt = (p: PreparedWeight | null | undefined): number | null =>
    p instanceof WasmPrepared && p.exports === w ? p.at : null;
  const minWork = minWorkFor(exactBelow);
  const float64 = wasm64(() => kernel, minWork);
  const NR = w.panel_width();
  const panels = (O: number) => Math.ceil(O / NR) * NR;
  const putLengths = (at: number, lengths: Int32Array | null, N: number) => {
    if (lengths) new Int32Array(w.memory.buffer, at, N).set(lengths.subarray(0, N));
  };

  /** The fused LSTM or GRU recurrence (native/gated.h) when every buffer is float32, else ../gated.ts. */
  function gated(a: RecurrenceArgs): void {
    const lstm = a.mode === 'LSTM';
    const { out, hN, pre, whh, h0, L, N, H, lengths } = a;
    const P = a.P ?? H;
    const [c0, cN, whr] = lstm ? [a.c0 ?? null, a.cN ?? null, a.whr ?? null] : [null, null, null];
    const [bhh, tape] = [lstm ? null : (a.bhh ?? null), a.tape ?? null];
    if (!allFloat32(out, hN, pre, whh, h0, c0, cN, whr, bhh, tape)) {
      gatedRecurrence(kernel, a);
      return;
    }
    const G = lstm ? 4 : 3;
    const W = (G + 1) * H;
    const m = layout();
    const outLength = L * N * a.outStride;
    const [pout, phN, pcN, ppre] = [
      m.take(4 * outLength),
      m.take(4 * N * P),
      m.array(cN, N * H),
      m.array(pre, L * N * G * H),
    ];
    const [whhAt, whrAt] = [packedAt(a.whhPrepared), whr ? packedAt(a.whrPrepared) : null];
    const [pwhh, ph0, pc0, pwhr] = [
      whhAt === null ? m.array(whh, G * H * P) : 0,
      m.array(h0, N * P),
      m.array(c0, N * H),
      whrAt === null ? m.array(whr, P * H) : 0,
    ];
    const [pbhh, ptape, plen] = [m.array(bhh, G * H), m.array(tape, L * N * W), lengths ? m.take(4 * N) : 0];
    const work = m.take(w.gated_work_bytes(0, lstm ? 1 : 0, L, N, H, P));
    m.commit();
    // the other direction's half of `out` (when there is one: the call writes every element of its own), and the
    // tape's padded rows, must survive the round trip
    if (a.outStride !== P) m.put(pout, out, outLength);
    m.put(ppre, pre, L * N * G * H);
    if (pwhh) m.put(pwhh, whh, G * H * P);
    m.put(ph0, h0, N * P);
    m.put(pc0, c0, N * H);
    if (pwhr) m.put(pwhr, whr, P * H);
    m.put(pbhh, bhh, G * H);
    m.put(ptape, tape, L * N * W);
    putLengths(plen, lengths, N);
    // biome-ignore format: the C argument order
    w.gated_recurrence(pout, phN, pcN, ppre, pwhh, ph0, pc0, pwhr, pbhh, ptape, L, N, H, P, a.outStride, a.outOffset, lstm ? 1 : 0, a.reverse ? 1 : 0, plen, work, whhAt ?? 0, whrAt ?? 0);
    m.get(pout, out, outLength);
    m.get(phN, hN, N * P);
    m.get(pcN, cN, N * H);
    m.get(ptape, tape, L * N * W);
  }

  /** Its backward (native/gated_backward.h) when the big buffers are float32, else ../gated.ts. */
  function gatedBackward(a: RecurrenceBackwardArgs): void {
    const lstm = a.mode === 'LSTM';
    const { dpre, dwhh, dout, out, whh, L, N, H, lengths } = a;
    const P = a.P ?? H;
    const [whr, dwhr] = lstm ? [a.whr ?? null, a.dwhr ?? null] : [null, null];
    const [dbhh, tape] = [lstm ? null : (a.dbhh ?? null), a.tape ?? null];
    if (!(tape instanceof Float32Array) || !allFloat32(dpre, dwhh, out, whh, dout, whr, dwhr, dbhh)) {
      gatedRecurrenceBackward(kernel, a);
      return;
    }
    // small float64 buffers beside float32 ones (states and their gradients) go through float32
    const [dh0, flushH] = sinkF32(a.dh0);
    const [dc0, flushC] = sinkF32(lstm ? (a.dc0 ?? null) : null);
    const [dhN, dcN] = [readF32(a.dhN), lstm ? readF32(a.dcN ?? null) : null];
    const [h0, c0] = [readF32(a.h0), lstm ? readF32(a.c0 ?? null) : null];
    const G = lstm ? 4 : 3;
    const W = (G + 1) * H;
    const m = layout();
    const outLength = L * N * a.outStride;
    const [pdpre, pdh0, pdc0, pdwhh] = [
      m.take(4 * L * N * G * H),
      m.take(4 * N * P),
      m.array(dc0, N * H),
      m.take(4 * G * H * P),
    ];
    const [pdwhr, pdbhh, pdout, pdhN] = [
      m.array(dwhr, P * H),
      m.array(dbhh, G * H),
      m.array(dout, outLength),
      m.array(dhN, N * P),
    ];
    const [pdcN, pout, ph0, pc0] = [m.array(dcN, N * H), m.take(4 * outLength), m.take(4 * N * P), m.array(c0, N * H)];
    const [pwhh, pwhr, ptape, plen] = [
      m.take(4 * G * H * P),
      m.array(whr, P * H),
      m.take(4 * L * N * W),
      lengths ? m.take(4 * N) : 0,
    ];
    const work = m.take(w.gated_work_bytes(1, lstm ? 1 : 0, L, N, H, P));
    m.commit();
    m.put(pdpre, dpre, L * N * G * H);
    m.put(pdh0, dh0, N * P);
    m.put(pdc0, dc0, N * H);
    m.put(pdwhh, dwhh, G * H * P);
    m.put(pdwhr, dwhr, P * H);
    m.put(pdbhh, dbhh, G * H);
    m.put(pdout, dout, outLength);
    m.put(pdhN, dhN, N * P);
    m.put(pdcN, dcN, N * H);
    m.put(pout, out, outLength);
    m.put(ph0, h0, N * P);
    m.put(pc0, c0, N * H);
    m.put(pwhh, whh, G * H * P);
    m.put(pwhr, whr, P * H);
    m.put(ptape, tape, L * N * W);
    putLengths(plen, lengths, N);
    // biome-ignore format: the C argument order
    w.gated_recurrence_backward(pdpre, pdh0, pdc0, pdwhh, pdwhr, pdbhh, pdout, pdhN, pdcN, pout, ph0, pc0, pwhh, pwhr, ptape, L, N, H, P, a.outStride, a.outOffset, lstm ? 1 : 0, a.reverse ? 1 : 0, plen, work);
    m.get(pdpre, dpre, L * N * G * H);
    m.get(pdh0, dh0, N * P);
    m.get(pdc0, dc0, N * H);
    m.get(pdwhh, dwhh, G * H * P);
    m.get(pdwhr, dwhr, P * H);
    m.get(pdbhh, dbhh, G * H);
    flushH();
    flushC();
  }

  const kernel: Kernel = {
    ...referenceKernel,
    name: options.name ?? 'wasm',

    scratch: float32Scratch(exactBelow),

    prepare(wt, kind: WeightLayout, O, C, into) {
      if (wt instanceof Float64Array) return float64.prepare(wt, kind, O, C, into);
      if (!(wt instanceof Float32Array) || O < 1 || C < 1) return null;
      const bytes = 4 * w.packed_floats(LAYOUT_CODES[kind], O, C);
      // an earlier handle of this size is packed again in place (its layout and sizes give its bytes)
      const old = into instanceof WasmPrepared && into.exports === w && into.bytes === bytes ? into : null;
      const at = old ? old.at : reserve(bytes);
      const m = layout();
      const pw = m.take(4 * O * C);
      m.commit();
      m.put(pw, wt, O * C);
      w.pack(at, pw, LAYOUT_CODES[kind], O, C);
      if (old) return old;
      const prepared = new WasmPrepared(w, at, bytes);
      kept.release(prepared, at, bytes);
      return prepared;
    },

    linear(y, x, wt, b1, b2, M, C, O, prepared) {
      if (float64.linear(y, x, wt, b1, b2, M, C, O, prepared)) return;
      if (!allFloat32(y, x, wt, b1, b2)) {
        referenceKernel.linear(y, x, wt, b1, b2, M, C, O);
        return;
      }
      const at = packedAt(prepared);
      const m = layout();
      const [py, px, pw] = [m.take(4 * M * O), m.take(4 * M * C), at === null ? m.take(4 * O * C) : 0];
      const pb1 = b1 ? m.take(4 * O) : 0;
      const pb2 = b2 ? m.take(4 * O) : 0;
      const bp = at ?? m.take(4 * panels(O) * C);
      m.commit();
      m.f32(px, M * C).set(x.subarray(0, M * C));
      if (pw) m.f32(pw, O * C).set(wt.subarray(0, O * C));
      if (b1) m.f32(pb1, O).set(b1.subarray(0, O));
      if (b2) m.f32(pb2, O).set(b2.subarray(0, O));
      w.linear(py, px, pw, pb1, pb2, M, C, O, bp);
      y.set(m.f32(py, M * O));
    },

    // the threaded build's layer wavefront (./layers.ts); the one-thread build has none
    ...(w.layers ? { layers: (a: LayersArgs) => wasmLayers(w, a, exactBelow) } : {}),

    recurrence(a: RecurrenceArgs) {
      if (float64.recurrence(a)) return;
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        gated(a);
        return;
      }
      const { out, hN, pre, whh, h0, L, N, H, lengths } = a;
      if (![out, hN, pre, whh, h0].every((v) => v instanceof Float32Array)) {
        referenceKernel.recurrence(a);
        return;
      }
      const at = packedAt(a.whhPrepared);
      const m = layout();
      const outLength = L * N * a.outStride;
      const [pout, phN, ppre, pwhh, ph0] = [
        m.take(4 * outLength),
        m.take(4 * N * H),
        m.take(4 * L * N * H),
        at === null ? m.take(4 * H * H) : 0,
        m.take(4 * N * H),
      ];
      const plen = lengths ? m.take(4 * N) : 0;
      const [bp, buf] = [at ?? m.take(4 * panels(H) * H), m.take(8 * N * H)];
      m.commit();
      // the other direction's half of `out` must survive the round trip; one direction alone writes all of it
      if (a.outStride !== H) m.f32(pout, outLength).set(out.subarray(0, outLength));
      m.f32(ppre, L * N * H).set(pre.subarray(0, L * N * H));
      if (pwhh) m.f32(pwhh, H * H).set(whh.subarray(0, H * H));
      m.f32(ph0, N * H).set(h0.subarray(0, N * H));
      if (lengths) new Int32Array(w.memory.buffer, plen, N).set(lengths.subarray(0, N));
      const relu = a.mode === 'RNN_RELU' ? 1 : 0;
      w.recurrence(
        pout,
        phN,
        ppre,
        pwhh,
        ph0,
        L,
        N,
        H,
        a.outStride,
        a.outOffset,
        relu,
        a.reverse ? 1 : 0,
        plen,
        bp,
        buf,
      );
      out.set(m.f32(pout, outLength));
      hN.set(m.f32(phN, N * H));
    },

    linearBackward(dx, dw, db1, db2, dy, x, wt, M, C, O) {
      if (float64.linearBackward(dx, dw, db1, db2, dy, x, wt, M, C, O)) return;
      if (!(dw instanceof Float32Array && dy instanceof Float32Array && x instanceof Float32Array)) {
        referenceKernel.linearBackward(dx, dw, db1, db2, dy, x, wt, M, C, O);
        return;
      }
      const [dx32, flushDx] = sinkF32(dx);
      const [db1_32, flush1] = sinkF32(db1);
      const [db2_32, flush2] = sinkF32(db2);
      const m = layout();
      const [pdx, pdw, pdb1, pdb2] = [m.array(dx32, M * C), m.take(4 * O * C), m.array(db1_32, O), m.array(db2_32, O)];
      const [pdy, px, pw] = [m.take(4 * M * O), m.take(4 * M * C), m.take(4 * O * C)];
      const bp = dx ? m.take(4 * panels(C) * O) : 0;
      const work = m.take(4 * w.grad_weight_floats(O, C));
      const [acc, bsum] = [m.take(8 * w.grad_weight_doubles(O, C)), m.take(8 * O)];
      m.commit();
      m.put(pdx, dx32, M * C);
      m.put(pdw, dw, O * C);
      m.put(pdb1, db1_32, O);
      m.put(pdb2, db2_32, O);
      m.put(pdy, dy, M * O);
      m.put(px, x, M * C);
      m.put(pw, readF32(wt), O * C);
      w.linear_backward(pdx, pdw, pdb1, pdb2, pdy, px, pw, M, C, O, bp, work, acc, bsum);
      m.get(pdx, dx32, M * C);
      m.get(pdw, dw, O * C);
      m.get(pdb1, db1_32, O);
      m.get(pdb2, db2_32, O);
      flushDx();
      flush1();
      flush2();
    },

    recurrenceBackward(a: RecurrenceBackwardArgs) {
      if (float64.recurrenceBackward(a)) return;
      if (a.mode === 'LSTM' || a.mode === 'GRU') {
        gatedBackward(a);
        return;
      }
      const { dpre, dwhh, dout, out, whh, L, N, H, lengths } = a;
      if (
        !(dpre instanceof Float32Array && dwhh instanceof Float32Array && out instanceof Float32Array) ||
        !(whh instanceof Float32Array && (dout === null || dout instanceof Float32Array))
      ) {
        referenceKernel.recurrenceBackward(a);
        return;
      }
      const [dh0, flush] = sinkF32(a.dh0);
      const [dhN, h0] = [readF32(a.dhN), readF32(a.h0)];
      const m = layout();
      const outLength = L * N * a.outStride;
      const [pdpre, pdh0, pdwhh] = [m.take(4 * L * N * H), m.take(4 * N * H), m.take(4 * H * H)];
      const [pdout, pdhN, pout] = [m.array(dout, outLength), m.array(dhN, N * H), m.take(4 * outLength)];
      const [ph0, pwhh] = [m.take(4 * N * H), m.take(4 * H * H)];
      const plen = lengths ? m.take(4 * N) : 0;
      const [pz, bp, dh, zero] = [m.take(4 * L * N * H), m.take(4 * panels(H) * H), m.take(4 * N * H), m.take(4 * H)];
      const [work, acc] = [m.take(4 * w.grad_weight_floats(H, H)), m.take(8 * w.grad_weight_doubles(H, H))];
      m.commit();
      m.put(pdpre, dpre, L * N * H);
      m.put(pdh0, dh0, N * H);
      m.put(pdwhh, dwhh, H * H);
      m.put(pdout, dout, outLength);
      m.put(pdhN, dhN, N * H);
      m.put(pout, out, outLength);
      m.put(ph0, h0, N * H);
      m.put(pwhh, whh, H * H);
      if (lengths) new Int32Array(w.memory.buffer, plen, N).set(lengths.subarray(0, N));
      const relu = a.mode === 'RNN_RELU' ? 1 : 0;
      // biome-ignore format: the C argument order
      w.recurrence_backward(pdpre, pdh0, pdwhh, pdout, pdhN, pout, ph0, pwhh, L, N, H, a.outStride, a.outOffset, relu, a.reverse ? 1 : 0, plen, pz, bp, dh, zero, work, acc);
      m.get(pdpre, dpre, L * N * H);
      m.get(pdh0, dh0, N * H);
      m.get(pdwhh, dwhh, H * H);
      flush();
    },
  };
  wasmKernelCalls.set(kernel, { exports: w, layout });
  return kernel;
}

/** The module's exports, or null (see `wasmUnavailable`). */
export const wasmExports: WasmExports | null = instantiate();

/** The WebAssembly kernel, or null when WebAssembly SIMD is unavailable. */
export const wasmKernel: Kernel | null = wasmExports ? createWasmKernel(wasmExports) : null;
