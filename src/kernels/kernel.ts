/**
 * The kernel interface: the only place the model's heavy arithmetic happens.
 *
 * A layer's forward is two calls: `linear` projects the whole input sequence at once (one matrix product over
 * all L*N rows), then `recurrence` runs the time loop without returning per step. Its backward is the same two
 * calls mirrored and run in reverse order: `recurrenceBackward` walks the time loop backwards and turns the
 * gradients of the outputs into gradients of `pre`, then `linearBackward` turns those into gradients of the layer
 * input and weights. Fast kernels (SIMD, threads) implement the same four calls and are tested against the
 * reference kernel, which is also the fallback. A kernel may also take a whole unidirectional stack in one call
 * (`layers`), writing the same floats as the per-layer calls, so that it can overlap the layers.
 *
 * The recurrence is one of PyTorch's four modes. The cell changes what a step computes from `pre_t` and the
 * state, never the calls around it:
 *
 *   RNN_TANH, RNN_RELU (G = 1)  h_t = f(pre_t + h_{t-1} W_hh^T)
 *   LSTM (G = 4)                [i f g o] = [s s tanh s](pre_t + h_{t-1} W_hh^T),  c_t = f c_{t-1} + i g,
 *                               h_t = (o tanh(c_t)) W_hr^T  (W_hr only with proj_size; else h_t = o tanh(c_t))
 *   GRU (G = 3)                 [r z] = s(pre_t + h_{t-1} W_hh^T + b_hh),  n = tanh(pre_n + r (h_{t-1} W_hn^T + b_hn)),
 *                               h_t = (h_{t-1} - n) z + n
 *
 * where s is the sigmoid and pre_t = x_t W_ih^T + b_ih (+ b_hh for RNN and LSTM, whose hidden bias adds outside
 * any gate; GRU's b_hn is multiplied by r, so the GRU keeps b_hh in the recurrence).
 *
 * Backward contract (llm.c's): every gradient a backward call writes is ACCUMULATED (+=), never overwritten; the
 * caller zeroes what must start at zero. That is what lets two directions add into one input gradient, and
 * parameter gradients add up across backward calls as PyTorch's `.grad` does.
 *
 * Dimension letters: L sequence, N batch, I input features, H hidden, P state width (proj_size, else H), G gates,
 * D directions, K layers.
 */
import type { FloatArray } from '../dtype.js';

/** PyTorch's recurrence modes (RNNBase's `mode`). */
export type Mode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';

/** G: the gates of a mode, each H wide: the rows of W_ih and W_hh are G*H. */
export function gatesOf(mode: Mode): number {
  return mode === 'LSTM' ? 4 : mode === 'GRU' ? 3 : 1;
}

/**
 * The multiply-adds of a stack's smallest layer call (its input projection and recurrence, reading I features in
 * layer 0 and D*P above): what a kernel weighs to choose whether a stack's calls are worth its fast path
 * (`Kernel.scratch`'s `work`).
 */
export function layerWork(L: number, N: number, I: number, H: number, P: number, D: number, mode: Mode): number {
  return L * N * (gatesOf(mode) * H * (Math.min(I, D * P) + P) + (P === H ? 0 : P * H));
}

/**
 * Values per (step, row) a gated recurrence keeps for its backward, beside the h it writes to `out`: the LSTM's
 * four gate values and c (5H), the GRU's three gate values and h W_hn^T + b_hn (4H). The RNN keeps nothing (f' is
 * read off its output).
 */
export function tapeWidth(mode: Mode, H: number): number {
  return mode === 'LSTM' ? 5 * H : mode === 'GRU' ? 4 * H : 0;
}

/** What the forward recurrence and its backward share: the sizes, the output layout and which steps run. */
export interface RecurrenceShape {
  L: number;
  N: number;
  H: number;
  /** P: the width of h (proj_size of a projected LSTM). Omitted: H. */
  P?: number;
  outStride: number;
  outOffset: number;
  mode: Mode;
  /** Walk t = L-1 .. 0 instead of 0 .. L-1 (in the backward: the direction the forward walked). */
  reverse: boolean;
  /** Valid steps per sequence (1..L); steps t >= lengths[n] leave h unchanged and write 0. Null: all L. */
  lengths: Int32Array | null;
}

export interface RecurrenceArgs extends RecurrenceShape {
  /** Written: the hidden state at each step, `out[(t*N + n)*outStride + outOffset + j]`; 0 where inactive. */
  out: FloatArray; // (L, N, outStride)
  /** Written: the state after each sequence's last valid step (the first step, for the reverse direction). */
  hN: FloatArray; // (N, P)
  /** Read: the input projection plus its biases (both but the GRU's b_hh), from `linear`. */
  pre: FloatArray; // (L, N, G*H)
  whh: FloatArray; // (G*H, P)
  h0: FloatArray; // (N, P)
  /** LSTM: the cell state before the first step and after each sequence's last (null or omitted: other modes). */
  c0?: FloatArray | null; // (N, H)
  cN?: FloatArray | null; // (N, H)
  /** LSTM with proj_size: the projection h_t = (o tanh(c_t)) W_hr^T. */
  whr?: FloatArray | null; // (P, H)
  /** GRU: b_hh, added to h_{t-1} W_hh^T inside the gates (null without bias). */
  bhh?: FloatArray | null; // (G*H)
  /** Written when given (LSTM and GRU): what the backward reads besides `out`, `tapeWidth(mode, H)` per row. */
  tape?: FloatArray | null; // (L, N, tapeWidth)
  /** This kernel's prepared `whh` (layout: the mode's) and `whr`, read instead of them when given. */
  whhPrepared?: PreparedWeight | null;
  whrPrepared?: PreparedWeight | null;
}

export interface RecurrenceBackwardArgs extends RecurrenceShape {
  /** Accumulated: d loss / d pre at every active step; inactive (padded) steps get nothing. */
  dpre: FloatArray; // (L, N, G*H)
  /** Accumulated: d loss / d h0, what flows out of the first step (through any padded steps unchanged). */
  dh0: FloatArray; // (N, P)
  /** Accumulated: d loss / d whh, summed over all active steps. */
  dwhh: FloatArray; // (G*H, P)
  /** Read: d loss / d out, at `dout[(t*N + n)*outStride + outOffset + j]`; ignored where inactive. Null: 0. */
  dout: FloatArray | null; // (L, N, outStride)
  /** Read: d loss / d hN. Null: 0. */
  dhN: FloatArray | null; // (N, P)
  /** Read: the forward's `out` (the hidden states it wrote): the RNN's f'(pre) comes from them, 1 - h^2 or [h > 0]. */
  out: FloatArray; // (L, N, outStride)
  /** Read: the forward's h0, the state before the first active step. */
  h0: FloatArray; // (N, P)
  whh: FloatArray; // (G*H, P)
  /** LSTM: accumulated d loss / d c0; read d loss / d cN (null: 0); the forward's c0. */
  dc0?: FloatArray | null; // (N, H)
  dcN?: FloatArray | null; // (N, H)
  c0?: FloatArray | null; // (N, H)
  /** LSTM with proj_size: the projection and its accumulated gradient. */
  whr?: FloatArray | null; // (P, H)
  dwhr?: FloatArray | null; // (P, H)
  /** GRU: b_hh and its accumulated gradient (null without bias). */
  bhh?: FloatArray | null; // (G*H)
  dbhh?: FloatArray | null; // (G*H)
  /** LSTM and GRU: what the forward wrote to its `tape`. */
  tape?: FloatArray | null; // (L, N, tapeWidth)
}

/**
 * A weight matrix that a kernel has laid out once for its products (`Kernel.prepare`): opaque, owned by the module
 * that asked for it, and freed with it. Valid only for the values the weights had when it was made.
 */
export interface PreparedWeight {
  /** The bytes it holds. */
  readonly bytes: number;
}

/** How a weight is laid out: `panels` for a plain product (W_ih, the RNN's W_hh, W_hr), or a gated cell's W_hh. */
export type WeightLayout = 'panels' | 'LSTM' | 'GRU';

/** The native and WebAssembly kernels' numbers for a layout (native/prepared.h, f64.h: 0, or the gates G). */
export const LAYOUT_CODES = { panels: 0, GRU: 3, LSTM: 4 } as const;

/** The float64 kernels' numbers for a mode (native/f64_addon.h, f64_wasm.h: 0 tanh, 1 relu, or the gates G). */
export const MODE_CODES = { RNN_TANH: 0, RNN_RELU: 1, GRU: 3, LSTM: 4 } as const;

/** One direction's weights as a kernel prepared them (null where it did not, or there is no such weight). */
export interface PreparedDirection {
  wih: PreparedWeight | null;
  whh: PreparedWeight | null;
  whr: PreparedWeight | null;
}

/**
 * One direction of one layer, by PyTorch's names: weight_ih, weight_hh, bias_ih, bias_hh (null without bias),
 * weight_hr (a projected LSTM's; null or omitted otherwise), and the module's prepared copies of them, which a
 * kernel reads instead of packing the arrays again.
 */
export interface DirectionWeights {
  wih: FloatArray; // (G*H, I) for layer 0, (G*H, D*P) above
  whh: FloatArray; // (G*H, P)
  bih: FloatArray | null; // (G*H)
  bhh: FloatArray | null; // (G*H)
  whr?: FloatArray | null; // (P, H)
  prepared?: PreparedDirection | null;
}

/** A whole unidirectional stack of K layers (without proj_size), for `Kernel.layers`. */
export interface LayersArgs {
  /**
   * Layer k's output sequence (L, N, H), to be written; the last layer's is the stack's output. Made when first
   * asked for, so a kernel that declines should decide before it asks.
   */
  layerOutput(k: number): FloatArray;
  /**
   * LSTM and GRU, when the forward is recorded: layer k's tape (L, N, tapeWidth), to be written as `recurrence`
   * writes it; made when first asked for, as `layerOutput`. Null or omitted: not recorded.
   */
  layerTape?: ((k: number) => FloatArray) | null;
  /** Written: each layer's state after each sequence's last valid step. */
  hN: FloatArray; // (K, N, H)
  /** LSTM: each layer's cell state after its last valid step (null or omitted: other modes). */
  cN?: FloatArray | null; // (K, N, H)
  x: FloatArray; // (L, N, I)
  h0: FloatArray; // (K, N, H)
  /** LSTM: each layer's cell state before its first step. */
  c0?: FloatArray | null; // (K, N, H)
  weights: DirectionWeights[]; // K
  L: number;
  N: number;
  I: number;
  H: number;
  mode: Mode;
  lengths: Int32Array | null;
}

export interface Kernel {
  readonly name: string;
  /**
   * Scratch for intermediate values such as `pre`; a kernel may keep more precision than the dtype. `work`, the
   * multiply-adds of the call that fills it (default: as many as its elements), lets a fast kernel hand calls too
   * small to gain from it to the reference, through a float64 buffer.
   */
  scratch(like: FloatArray, length: number, work?: number): FloatArray;
  /**
   * Optional: `w` (O, C) laid out once for this kernel's products, for a module to keep and pass back with the
   * calls (`linear`'s `prepared`, `RecurrenceArgs.whhPrepared`/`whrPrepared`) while the weights are unchanged.
   * Null when this kernel does not prepare such weights (the reference kernel's); the calls then take the arrays.
   * A float32 weight is prepared for the float32 calls, a float64 one for the float64 calls. `into`:
   * an earlier result for the same layout and sizes, which the kernel may pack again in place and return (a
   * module whose weights changed keeps its memory).
   */
  prepare?(
    w: FloatArray,
    layout: WeightLayout,
    O: number,
    C: number,
    into?: PreparedWeight | null,
  ): PreparedWeight | null;
  /**
   * y (M, O) = x (M, C) @ w (O, C)^T + b1 (O) + b2 (O); a null bias is skipped. Overwrites y. `prepared`: this
   * kernel's `prepare(w, 'panels', O, C)`, read instead of `w` when given.
   */
  linear(
    y: FloatArray,
    x: FloatArray,
    w: FloatArray,
    b1: FloatArray | null,
    b2: FloatArray | null,
    M: number,
    C: number,
    O: number,
    prepared?: PreparedWeight | null,
  ): void;
  /** The recurrence of one direction over every step, h_{-1} = h0 (and c_{-1} = c0): see the modes above. */
  recurrence(args: RecurrenceArgs): void;
  /**
   * The backward of `linear`, accumulating: dx (M, C) += dy (M, O) @ w (O, C); dw (O, C) += dy^T @ x (M, C);
   * db1 (O) += sum over rows of dy, and db2 (O) likewise (the two biases of a layer get the same gradient). A null
   * dx, db1 or db2 is skipped.
   */
  linearBackward(
    dx: FloatArray | null,
    dw: FloatArray,
    db1: FloatArray | null,
    db2: FloatArray | null,
    dy: FloatArray,
    x: FloatArray,
    w: FloatArray,
    M: number,
    C: number,
    O: number,
  ): void;
  /**
   * The backward of `recurrence`: walks the steps in the reverse of the forward's order. With g_t = dout_t plus
   * the gradient carried back from the step after, at each active step (the RNN's; a gated cell's dz is that of
   * its gates, see ./gated.ts): dz = g_t * f'(h_t); dpre_t += dz; dwhh += dz^T @ h_{t-1}; the carried gradient
   * becomes dz @ whh. Inactive steps pass it on unchanged.
   */
  recurrenceBackward(args: RecurrenceBackwardArgs): void;
  /**
   * Optional: the forward of K unidirectional layers in one call, writing exactly what `linear` then
   * `recurrence` layer by layer would, so that a kernel may run layer k's step t while layer k-1 runs a later
   * step (a wavefront over the layers, on two cores). Returns false, having written nothing, when it declines;
   * the caller then runs the layers one by one.
   */
  layers?(args: LayersArgs): boolean;
}
