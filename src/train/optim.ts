/**
 * Optimizers with torch.optim 1.13's update rules, element for element: SGD (momentum, dampening, Nesterov,
 * weight decay, maximize) and Adam (weight decay, AMSGrad, maximize), as the single-tensor code path of each
 * (foreach=False, PyTorch's default on CPU) writes them.
 *
 * Each operation PyTorch performs on a tensor is one rounding to the parameter's dtype here too, so a float32
 * step rounds where PyTorch's does; float64 steps agree with PyTorch's to rounding.
 *
 * float32 parameters step in the kernel in use, all in one call (./optim-kernel.ts: native/optim.h, threaded in
 * the native addon), with the same floats bit for bit as the loops here, which step float64 parameters and run
 * under the reference kernel.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import { Module } from '../nn/module.js';
import { allocate, type FloatArray, type Tensor } from '../tensor.js';
import { optimKernel } from './optim-kernel.js';
import {
  hyper,
  type OptimizerStateDict,
  readOptimizerState,
  stateArray,
  stateTensor,
  stepOf,
  stepTensor,
  tuple,
} from './optim-state.js';

/**
 * What an optimizer updates: a parameter (changed in place) and its gradient. A null gradient skips the parameter
 * for that step and leaves its state untouched, as PyTorch skips `p.grad is None`. `grad` is read at every step,
 * so it may be a getter onto a module's gradient storage.
 */
export interface Param {
  readonly value: Tensor;
  readonly grad: Tensor | null;
}

/**
 * Every parameter of `modules` with its live gradient (`module.grad(name)`), in order: what `new SGD(...)` and
 * `new Adam(...)` take, like `model.parameters()` in PyTorch.
 */
export function parametersOf(...modules: Module[]): Param[] {
  modules.forEach((m, i) => checkArgument(m instanceof Module, `parametersOf: argument ${i}`, 'a module', m));
  return modules.flatMap((m) => m.namedParameters().map(([name, value]) => ({ value, grad: m.grad(name) })));
}

type Round = (x: number) => number;
const exact: Round = (x) => x;

/** Whether a parameter and its gradient are float32: what the kernels' optimizer steps take. */
function isF32(e: { p: FloatArray; grad: FloatArray }): boolean {
  return e.p instanceof Float32Array && e.grad instanceof Float32Array;
}

/** Rounds to the dtype of `data`: what storing a result in a tensor of that dtype does. */
function rounder(data: FloatArray): Round {
  return data instanceof Float32Array ? Math.fround : exact;
}

function checkNonNegative(value: unknown, message: string): number {
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new RnnError('invalid_argument', `${message}: ${String(value)}`, { expected: '>= 0', got: value });
  }
  return value;
}

function checkParams(params: readonly Param[]): readonly Param[] {
  if (!Array.isArray(params) || params.length === 0) {
    throw new RnnError('invalid_argument', 'optimizer got an empty parameter list', { expected: '>= 1', got: 0 });
  }
  return params;
}

/** The gradient of `p` for this step, or null; it must have the parameter's number of elements. */
function gradOf(p: Param, i: number): FloatArray | null {
  const g = p.grad;
  if (g === null) return null;
  if (g.numel !== p.value.numel) {
    throw new RnnError(
      'shape_mismatch',
      `params[${i}]: gradient has ${g.numel} elements, the parameter ${p.value.numel} (shape [${p.value.shape.join(', ')}])`,
      { expected: p.value.numel, got: g.numel },
    );
  }
  return g.data;
}

export interface SGDOptions {
  /** Learning rate (required, >= 0). */
  lr: number;
  /** Default 0: plain gradient descent. */
  momentum?: number;
  /** Scales the new gradient in the momentum buffer by 1 - dampening. Default 0. */
  dampening?: number;
  /** L2 penalty: weightDecay * param is added to the gradient. Default 0. */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** Ascend instead of descend. Default false. */
  maximize?: boolean;
}

/**
 * torch.optim.SGD. Per element, with g the gradient (negated when maximizing):
 *
 *     g += weightDecay * p
 *     b = g at the first step, else momentum * b + (1 - dampening) * g
 *     g = nesterov ? g + momentum * b : b          (when momentum != 0)
 *     p -= lr * g
 *
 * @example
 * const opt = new SGD(parametersOf(model), { lr: 0.1, momentum: 0.9 });
 * model.zeroGrad(); ... backward ...; opt.step();
 */
export class SGD {
  readonly params: readonly Param[];
  /** Mutable, for schedules. */
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
  /** One momentum buffer per parameter, created at its first step with a gradient. */
  private readonly buffers: (FloatArray | null)[];
  /** Which parameters have taken a step (torch keeps `momentum_buffer: None` for them without momentum). */
  private readonly stepped: boolean[];

  constructor(params: readonly Param[], options: SGDOptions) {
    this.params = checkParams(params);
    this.lr = checkNonNegative(options.lr, 'Invalid learning rate');
    this.momentum = checkNonNegative(options.momentum ?? 0, 'Invalid momentum value');
    this.dampening = options.dampening ?? 0;
    this.weightDecay = checkNonNegative(options.weightDecay ?? 0, 'Invalid weight_decay value');
    this.nesterov = options.nesterov ?? false;
    this.maximize = options.maximize ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RnnError('invalid_argument', 'Nesterov momentum requires a momentum and zero dampening', {
        expected: 'momentum > 0 and dampening 0',
        got: { momentum: this.momentum, dampening: this.dampening },
      });
    }
    this.buffers = params.map(() => null);
    this.stepped = params.map(() => false);
  }

  step(): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = this;
    const stepping: { i: number; p: FloatArray; grad: FloatArray }[] = [];
    this.params.forEach((param, i) => {
      const grad = gradOf(param, i);
      if (grad === null) return;
      stepping.push({ i, p: param.value.data, grad });
      param.value.bumpVersion(); // written in place below: prepared copies of it are stale
    });
    const kernel = stepping.length > 0 && stepping.every(isF32) ? optimKernel() : null;
    if (kernel) {
      const r = Math.fround;
      const consts = new Float64Array(7 + stepping.length);
      consts.set([+maximize, +(weightDecay !== 0), +nesterov, r(weightDecay), r(momentum), r(1 - dampening), r(-lr)]);
      const bufs = stepping.map(({ i, p }, k) => {
        this.stepped[i] = true;
        if (momentum === 0) return null;
        consts[7 + k] = this.buffers[i] === null ? 1 : 2;
        this.buffers[i] ??= allocate('float32', p.length);
        return this.buffers[i] as Float32Array;
      });
      // biome-ignore format: the kernel's argument order
      kernel.sgdStep(stepping.map(({ p }) => p as Float32Array), stepping.map(({ grad }) => grad as Float32Array), bufs, consts);
      return;
    }
    for (const { i, p, grad } of stepping) {
      this.stepped[i] = true;
      if (momentum === 0) {
        this.plainStep(p, grad);
        continue;
      }
      const r = rounder(p);
      const first = this.buffers[i] === null;
      const buf = this.buffers[i] ?? allocate(p instanceof Float32Array ? 'float32' : 'float64', p.length);
      this.buffers[i] = buf;
      // Scalars become the tensor's dtype inside PyTorch's kernels.
      const wd = r(weightDecay);
      const mom = r(momentum);
      const keep = r(1 - dampening);
      const negLr = r(-lr);
      for (let j = 0; j < p.length; j++) {
        let d = maximize ? -(grad[j] as number) : (grad[j] as number);
        if (weightDecay !== 0) d = r(d + wd * (p[j] as number));
        const b = first ? d : r(r((buf[j] as number) * mom) + keep * d);
        buf[j] = b;
        d = nesterov ? r(d + mom * b) : b;
        p[j] = r((p[j] as number) + negLr * d);
      }
    }
  }

  /** Without momentum no buffer is kept, as torch keeps none (`momentum_buffer: None`). */
  private plainStep(p: FloatArray, grad: FloatArray): void {
    const r = rounder(p);
    const [wd, negLr] = [r(this.weightDecay), r(-this.lr)];
    for (let j = 0; j < p.length; j++) {
      let d = this.maximize ? -(grad[j] as number) : (grad[j] as number);
      if (this.weightDecay !== 0) d = r(d + wd * (p[j] as number));
      p[j] = r((p[j] as number) + negLr * d);
    }
  }

  /**
   * The state in torch.optim.SGD's layout: `{ state: {i: { momentum_buffer }}, param_groups: [{ lr, momentum,
   * dampening, weight_decay, nesterov, maximize, foreach, differentiable, params }] }` (copies).
   */
  stateDict(): OptimizerStateDict {
    const state = new Map<number, Record<string, Tensor | null>>();
    this.params.forEach((p, i) => {
      if (!this.stepped[i]) return;
      const b = this.buffers[i];
      state.set(i, { momentum_buffer: b ? stateTensor(b, p.value.shape) : null });
    });
    return {
      state,
      param_groups: [
        {
          lr: this.lr,
          momentum: this.momentum,
          dampening: this.dampening,
          weight_decay: this.weightDecay,
          nesterov: this.nesterov,
          maximize: this.maximize,
          foreach: null,
          differentiable: false,
          params: this.params.map((_, i) => i),
        },
      ],
    };
  }

  /**
   * Resumes from a state dict in torch's layout (ours, or torch's as readPtObject reads it): the momentum
   * buffers by parameter index and the group's hyperparameters, which replace this optimizer's, as torch does.
   */
  loadStateDict(sd: unknown): void {
    const { group, state } = readOptimizerState(sd, this.params.length);
    this.lr = hyper(group, 'lr', this.lr);
    this.momentum = hyper(group, 'momentum', this.momentum);
    this.dampening = hyper(group, 'dampening', this.dampening);
    this.weightDecay = hyper(group, 'weight_decay', this.weightDecay);
    this.nesterov = hyper(group, 'nesterov', this.nesterov);
    this.maximize = hyper(group, 'maximize', this.maximize);
    this.params.forEach((p, i) => {
      const entry = state.get(i);
      this.stepped[i] = entry !== undefined;
      this.buffers[i] = entry ? stateArray(entry, 'momentum_buffer', i, p.value.numel, p.value.dtype) : null;
    });
  }
}

export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moment averages. Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient (not decoupled: that is AdamW). Default 0. */
  weightDecay?: number;
  /** Normalise by the largest second moment seen so far. Default false. */
  amsgrad?: boolean;
  /** Ascend instead of descend. Default false. */
  maximize?: boolean;
}

interface AdamState {
  step: number;
  expAvg: FloatArray;
  expAvgSq: FloatArray;
  maxExpAvgSq: FloatArray | null;
}

/**
 * torch.optim.Adam. Per element at step t (counted per parameter), g negated when maximizing:
 *
 *     g += weightDecay * p
 *     m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g * g
 *     vMax = max(vMax, v)                                        (amsgrad; then vMax replaces v below)
 *     p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
export class Adam {
  readonly params: readonly Param[];
  /** Mutable, for schedules. */
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  private readonly state: (AdamState | null)[];
  /** AdamW: weight decay scales the parameter (p *= 1 - lr * weightDecay) instead of adding to the gradient. */
  protected readonly decoupled: boolean = false;

  constructor(params: readonly Param[], options: AdamOptions = {}) {
    this.params = checkParams(params);
    this.lr = checkNonNegative(options.lr ?? 1e-3, 'Invalid learning rate');
    this.eps = checkNonNegative(options.eps ?? 1e-8, 'Invalid epsilon value');
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    [beta1, beta2].forEach((b, i) => {
      if (typeof b !== 'number' || !(b >= 0 && b < 1)) {
        throw new RnnError('invalid_argument', `Invalid beta parameter at index ${i}: ${String(b)}`, {
          expected: '[0, 1)',
          got: b,
        });
      }
    });
    this.betas = [beta1, beta2];
    this.weightDecay = checkNonNegative(options.weightDecay ?? 0, 'Invalid weight_decay value');
    this.amsgrad = options.amsgrad ?? false;
    this.maximize = options.maximize ?? false;
    this.state = params.map(() => null);
  }

  step(): void {
    const { lr, eps, weightDecay, amsgrad, maximize } = this;
    const [beta1, beta2] = this.betas;
    const stepping: { p: FloatArray; grad: FloatArray; s: AdamState }[] = [];
    this.params.forEach((param, i) => {
      const grad = gradOf(param, i);
      if (grad === null) return;
      const n = param.value.numel;
      const dtype = param.value.dtype;
      const s = this.state[i] ?? {
        step: 0,
        expAvg: allocate(dtype, n),
        expAvgSq: allocate(dtype, n),
        maxExpAvgSq: amsgrad ? allocate(dtype, n) : null,
      };
      this.state[i] = s;
      s.step += 1;
      if (amsgrad && s.maxExpAvgSq === null) s.maxExpAvgSq = allocate(dtype, n);
      stepping.push({ p: param.value.data, grad, s });
      param.value.bumpVersion(); // written in place below: prepared copies of it are stale
    });
    const wdMode = weightDecay === 0 ? 0 : this.decoupled ? 2 : 1;
    // float32 parameters (and gradients) step in the kernel in one call: the same floats as the loop below
    const kernel = stepping.length > 0 && stepping.every(isF32) ? optimKernel() : null;
    if (kernel) {
      const r = Math.fround;
      const consts = new Float64Array(10 + 2 * stepping.length);
      consts.set([+maximize, wdMode, +amsgrad, r(beta1), r(1 - beta1), r(beta2), r(1 - beta2), r(eps)]);
      consts.set([r(weightDecay), r(1 - lr * weightDecay)], 8);
      stepping.forEach(({ s }, i) => {
        consts[10 + 2 * i] = r(-(lr / (1 - beta1 ** s.step)));
        consts[11 + 2 * i] = r(Math.sqrt(1 - beta2 ** s.step));
      });
      const f32 = (a: FloatArray | null) => a as Float32Array;
      const vmax = amsgrad ? stepping.map(({ s }) => f32(s.maxExpAvgSq)) : null;
      // biome-ignore format: the kernel's argument order
      kernel.adamStep(stepping.map(({ p }) => f32(p)), stepping.map(({ grad }) => f32(grad)), stepping.map(({ s }) => f32(s.expAvg)), stepping.map(({ s }) => f32(s.expAvgSq)), vmax, consts);
      return;
    }
    for (const { p, grad, s } of stepping) {
      const r = rounder(p);
      const n = p.length;
      // The bias corrections are Python floats (double) in PyTorch; only the tensor operations round.
      const stepSize = lr / (1 - beta1 ** s.step);
      const bc2Sqrt = Math.sqrt(1 - beta2 ** s.step);
      const [b1, b2, wd] = [r(beta1), r(beta2), r(weightDecay)];
      const [c1, c2] = [r(1 - beta1), r(1 - beta2)];
      const [epsR, bc2, negStep] = [r(eps), r(bc2Sqrt), r(-stepSize)];
      const { expAvg: m, expAvgSq: v, maxExpAvgSq: vMax } = s;
      const decay = wdMode === 2 ? r(1 - lr * weightDecay) : null;
      for (let j = 0; j < n; j++) {
        let g = maximize ? -(grad[j] as number) : (grad[j] as number);
        if (decay !== null) p[j] = r((p[j] as number) * decay);
        else if (wdMode === 1) g = r(g + wd * (p[j] as number));
        const mj = r(r((m[j] as number) * b1) + c1 * g);
        const vj = r(r((v[j] as number) * b2) + r(r(c2 * g) * g));
        m[j] = mj;
        v[j] = vj;
        let second = vj;
        if (vMax) {
          second = Math.max(vMax[j] as number, vj);
          vMax[j] = second;
        }
        const denom = r(r(r(Math.sqrt(second)) / bc2) + epsR);
        p[j] = r((p[j] as number) + negStep * r(mj / denom));
      }
    }
  }

  /**
   * The state in torch.optim.Adam's layout (copies): `{ state: {i: { step, exp_avg, exp_avg_sq,
   * max_exp_avg_sq (amsgrad) }}, param_groups: [{ lr, betas, eps, weight_decay, amsgrad, maximize, foreach,
   * capturable, differentiable, fused, params }] }`, `step` a float32 0-d tensor as torch 1.13 keeps it. Write it
   * with `writePtObject` and torch's `optimizer.load_state_dict(torch.load(path)[...])` resumes from it.
   */
  stateDict(): OptimizerStateDict {
    const state = new Map<number, Record<string, Tensor | null>>();
    this.params.forEach((p, i) => {
      const s = this.state[i];
      if (!s) return;
      const shape = p.value.shape;
      state.set(i, {
        step: stepTensor(s.step),
        exp_avg: stateTensor(s.expAvg, shape),
        exp_avg_sq: stateTensor(s.expAvgSq, shape),
        ...(s.maxExpAvgSq ? { max_exp_avg_sq: stateTensor(s.maxExpAvgSq, shape) } : {}),
      });
    });
    return {
      state,
      param_groups: [
        {
          lr: this.lr,
          betas: tuple(...this.betas),
          eps: this.eps,
          weight_decay: this.weightDecay,
          amsgrad: this.amsgrad,
          maximize: this.maximize,
          foreach: null,
          capturable: false,
          differentiable: false,
          fused: false,
          params: this.params.map((_, i) => i),
        },
      ],
    };
  }

  /**
   * Resumes from a state dict in torch's layout - a torch checkpoint's `optimizer` entry as readPtObject reads
   * it, or ours: each parameter's step and moments by index (converted to the parameter's dtype), and the
   * group's hyperparameters, which replace this optimizer's as torch's load_state_dict does. The next `step()`
   * is then torch's next step.
   */
  loadStateDict(sd: unknown): void {
    const { group, state } = readOptimizerState(sd, this.params.length);
    this.lr = hyper(group, 'lr', this.lr);
    this.eps = hyper(group, 'eps', this.eps);
    this.weightDecay = hyper(group, 'weight_decay', this.weightDecay);
    this.amsgrad = hyper(group, 'amsgrad', this.amsgrad);
    this.maximize = hyper(group, 'maximize', this.maximize);
    const betas = group.betas;
    if (betas !== undefined) {
      if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number')) {
        throw new RnnError('state_dict', "param_groups 'betas' must be a pair of numbers", { got: String(betas) });
      }
      this.betas = [betas[0] as number, betas[1] as number];
    }
    this.params.forEach((p, i) => {
      const entry = state.get(i);
      if (!entry) {
        this.state[i] = null;
        return;
      }
      const { numel, dtype } = p.value;
      const moment = (key: string): FloatArray => {
        const a = stateArray(entry, key, i, numel, dtype);
        if (a === null) throw new RnnError('state_dict', `state[${i}] has no '${key}'`, { expected: key });
        return a;
      };
      this.state[i] = {
        step: stepOf(entry, i),
        expAvg: moment('exp_avg'),
        expAvgSq: moment('exp_avg_sq'),
        maxExpAvgSq: this.amsgrad ? moment('max_exp_avg_sq') : null,
      };
    });
  }
}

export type AdamWOptions = AdamOptions;

/**
 * torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). Per element, before Adam's update with no
 * weight decay in the gradient: `p *= 1 - lr * weightDecay` (torch's `param.mul_(1 - lr * weight_decay)`).
 *
 * @example
 * const opt = new AdamW(model.parameters(), { lr: 3e-4, weightDecay: 0.1 });
 */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: readonly Param[], options: AdamWOptions = {}) {
    checkArgument(isObject(options), 'AdamW options', 'an object such as { lr: 1e-3 }', options);
    super(params, { ...options, weightDecay: options.weightDecay ?? 1e-2 });
  }

  /** As Adam's, with AdamW's param_groups keys (no `differentiable`, `fused`). */
  override stateDict(): OptimizerStateDict {
    const sd = super.stateDict();
    for (const g of sd.param_groups) {
      delete g.differentiable;
      delete g.fused;
    }
    return sd;
  }
}

/** Any of the optimizers: what the training loop needs. */
export type Optimizer = SGD | Adam;
