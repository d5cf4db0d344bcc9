/**
 * Sequential: PyTorch's nn.Sequential with named children, made to fit recurrent models. Children run in order;
 * a recurrent child (RNN, LSTM, GRU) passes its output sequence on and its final state is returned beside the
 * result; backward runs the children's backwards in reverse. Parameters, gradients and state dicts use
 * PyTorch's dotted names (`rnn.weight_ih_l0`), so a PyTorch module with attributes emb, rnn and head and a
 * `new Sequential({ emb, rnn, head })` have the same state dict.
 */
import { formatNames, RnnError } from '../errors.js';
import { RNNBase } from '../rnn/base.js';
import { Tensor } from '../tensor.js';
import type { Param } from '../train/optim.js';
import { Embedding, type EmbeddingIds } from './embedding.js';
import { Linear } from './linear.js';
import type { LoadResult, StateDict } from './module.js';

/** What a Sequential holds: Embedding, Linear, a recurrent module, or another Sequential. */
export type SequentialChild = Embedding | Linear | RNNBase | Sequential;

/**
 * The final states of the recurrent children, by child name (dotted inside a nested Sequential): [h_n] for an RNN
 * or GRU, [h_n, c_n] for an LSTM. Passed back to `forward`, they are the children's initial states.
 */
export type SequentialState = Record<string, Tensor[]>;

/** Gradients of the recurrent children's final (in backward: initial) states, by child name; null for zeros. */
export type SequentialStateGradients = Record<string, (Tensor | null)[]>;

export interface SequentialForwardOptions {
  /** Record what `backward()` needs, in every child. Default false. */
  requiresGrad?: boolean;
  /** Valid steps of each sequence, for the recurrent children (see `ForwardOptions.lengths`). */
  lengths?: ArrayLike<number> | Tensor;
}

export interface SequentialGradients {
  /** The gradient of the input; null when the first child is an Embedding (ids have none) or inputGrad is false. */
  input: Tensor | null;
  /** The gradients of the initial states given to forward, by child name (null where a state was not given). */
  states: SequentialStateGradients;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]+$/;

/**
 * Modules run one after another, `torch.nn.Sequential` with named children (an array names them '0', '1', ...).
 * A recurrent child takes the sequence and its own initial state from `states[name]` (zeros if absent), passes
 * its output on, and its final state is returned in the state record. Shapes are the children's: e.g. ids
 * (L, N) -> Embedding (L, N, E) -> LSTM (L, N, H) -> Linear (L, N, V).
 *
 * @example
 * const model = new Sequential({ emb: new Embedding({ numEmbeddings: 65, embeddingDim: 32 }),
 *   rnn: new LSTM({ inputSize: 32, hiddenSize: 128, numLayers: 2 }),
 *   head: new Linear({ inFeatures: 128, outFeatures: 65 }) });
 * model.loadStateDict(readPtStateDict(bytes));         // PyTorch's emb.weight, rnn.weight_ih_l0, head.bias...
 * const [logits, state] = model.forward(ids, null, { requiresGrad: true }); // state.rnn = [hN, cN]
 * model.backward(dLogits);                             // every child's grad(), e.g. model.grad('rnn.weight_hh_l0')
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 */
export class Sequential {
  private readonly entries: readonly (readonly [string, SequentialChild])[];

  constructor(children: Readonly<Record<string, SequentialChild>> | readonly SequentialChild[]) {
    if (typeof children !== 'object' || children === null) {
      throw new RnnError('invalid_argument', 'Sequential takes its children as { name: module } or [module, ...]', {
        got: children === null ? 'null' : typeof children,
      });
    }
    const entries = Array.isArray(children)
      ? children.map((c, i) => [String(i), c] as const)
      : Object.entries(children as Record<string, SequentialChild>);
    if (entries.length === 0) {
      throw new RnnError('invalid_argument', 'Sequential needs at least one child', { expected: '>= 1', got: 0 });
    }
    const seen = new Set<object>();
    for (const [name, child] of entries) {
      if (!NAME.test(name)) {
        throw new RnnError(
          'invalid_argument',
          `module name can't contain ".", got: ${name}; a child's name must be an identifier or an index`,
          { got: name },
        );
      }
      if (
        !(
          child instanceof Embedding ||
          child instanceof Linear ||
          child instanceof RNNBase ||
          child instanceof Sequential
        )
      ) {
        throw new RnnError(
          'invalid_argument',
          `Sequential child '${name}' must be an Embedding, Linear, RNN, LSTM, GRU or Sequential, got ${describe(child)}`,
          { got: describe(child) },
        );
      }
      if (seen.has(child)) {
        throw new RnnError('invalid_argument', `Sequential child '${name}' is already a child under another name`, {
          got: name,
        });
      }
      seen.add(child);
    }
    this.entries = entries;
  }

  /** The children by name, in order. */
  get children(): ReadonlyMap<string, SequentialChild> {
    return new Map(this.entries);
  }

  /** One child by name, like `model.rnn` in PyTorch. */
  child(name: string): SequentialChild {
    const found = this.entries.find(([n]) => n === name);
    if (!found) {
      throw new RnnError('invalid_argument', `'Sequential' object has no attribute '${name}'`, {
        expected: this.entries.map(([n]) => n),
        got: name,
      });
    }
    return found[1];
  }

  /** True in training mode (every child's mode, set together by `train()` and `eval()`). */
  get training(): boolean {
    return this.entries.every(([, c]) => c.training);
  }

  /** Sets every child's mode, like `module.train(mode)`. */
  train(mode = true): this {
    for (const [, c] of this.entries) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Runs the children in order: `[output, states]`, with each recurrent child's final state in `states` under its
   * name. The first child takes `input` (ids for an Embedding, else a Tensor); `states[name]` gives a recurrent
   * child its initial state ([h0] or [h0, c0]; zeros when absent).
   */
  forward(
    input: Tensor | EmbeddingIds,
    states?: SequentialState | null,
    options: SequentialForwardOptions = {},
  ): [Tensor, SequentialState] {
    const finals: SequentialState = {};
    let x: Tensor | EmbeddingIds = input;
    for (const [name, child] of this.entries) {
      if (child instanceof Embedding) {
        x = child.forward(x as EmbeddingIds, { requiresGrad: options.requiresGrad === true });
        continue;
      }
      const t = this.tensorInput(name, x);
      if (child instanceof Linear) x = child.forward(t, { requiresGrad: options.requiresGrad === true });
      else if (child instanceof Sequential) {
        const inner = prefixed(states ?? {}, `${name}.`);
        const [y, s] = child.forward(t, inner, options);
        for (const [k, v] of Object.entries(s)) finals[`${name}.${k}`] = v;
        x = y;
      } else {
        const [y, s] = child.forwardStates(t, states?.[name] ?? null, {
          ...(options.requiresGrad === undefined ? {} : { requiresGrad: options.requiresGrad }),
          ...(options.lengths === undefined ? {} : { lengths: options.lengths }),
        });
        finals[name] = s;
        x = y;
      }
    }
    return [x as Tensor, finals];
  }

  /**
   * Backpropagation through every child, last to first, for the last forward recorded with
   * `{ requiresGrad: true }`: the gradient of sum(output * gradOutput) + sum over the final states of
   * (state * its gradient from `gradStates`). ADDS every parameter's gradient into `grad(name)` (see
   * `zeroGrad`); returns the input's gradient and those of the initial states given to forward.
   */
  backward(
    gradOutput: Tensor | null,
    gradStates?: SequentialStateGradients | null,
    options: { inputGrad?: boolean } = {},
  ): SequentialGradients {
    const stateGrads: SequentialStateGradients = {};
    let g: Tensor | null = gradOutput;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const [name, child] = this.entries[i] as readonly [string, SequentialChild];
      const inputGrad = i > 0 || options.inputGrad !== false;
      if (child instanceof Embedding) {
        if (g === null) throw new RnnError('invalid_argument', `Sequential.backward: no gradient reaches '${name}'`);
        child.backward(g);
        g = null;
      } else if (child instanceof Linear) {
        if (g === null) throw new RnnError('invalid_argument', `Sequential.backward: no gradient reaches '${name}'`);
        g = child.backward(g);
      } else if (child instanceof Sequential) {
        const r = child.backward(g, prefixed(gradStates ?? {}, `${name}.`), { inputGrad });
        for (const [k, v] of Object.entries(r.states)) stateGrads[`${name}.${k}`] = v;
        g = r.input;
      } else {
        const r = child.backwardStates(g, gradStates?.[name] ?? [], { inputGrad });
        stateGrads[name] = r.states;
        g = r.input;
      }
    }
    return { input: g, states: stateGrads };
  }

  /** `[dotted name, tensor]` for every parameter, like `named_parameters()`; the tensors are live. */
  namedParameters(): [string, Tensor][] {
    return this.entries.flatMap(([name, c]) =>
      c.namedParameters().map(([k, t]): [string, Tensor] => [`${name}.${k}`, t]),
    );
  }

  /**
   * Every parameter with its live gradient, in `namedParameters()` order: what `new Adam(...)` and `new SGD(...)`
   * take, like `model.parameters()` in PyTorch (and the parameter indices of an optimizer's state dict).
   */
  parameters(): Param[] {
    return this.entries.flatMap(([, c]) =>
      c instanceof Sequential ? c.parameters() : c.namedParameters().map(([k, value]) => ({ value, grad: c.grad(k) })),
    );
  }

  /** One parameter by its dotted name, e.g. `model.parameter('rnn.weight_hh_l0')`. */
  parameter(name: string): Tensor {
    const [child, rest] = this.resolve(name);
    return child.parameter(rest);
  }

  /** The gradient of one parameter by its dotted name (see `Module.grad`). */
  grad(name: string): Tensor {
    const [child, rest] = this.resolve(name);
    return child.grad(rest);
  }

  /** `[dotted name, gradient]` for every parameter. */
  namedGrads(): [string, Tensor][] {
    return this.entries.flatMap(([name, c]) => c.namedGrads().map(([k, t]): [string, Tensor] => [`${name}.${k}`, t]));
  }

  /** Sets every child's gradients to zero. */
  zeroGrad(): void {
    for (const [, c] of this.entries) c.zeroGrad();
  }

  /** Total number of scalar parameters. */
  get parameterCount(): number {
    return this.entries.reduce((n, [, c]) => n + c.parameterCount, 0);
  }

  /** Every parameter by dotted name, copied: what PyTorch's `state_dict()` holds for the same module. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [name, c] of this.entries) {
      for (const [k, t] of Object.entries(c.stateDict())) sd[`${name}.${k}`] = t;
    }
    return sd;
  }

  /**
   * Loads a state dict by dotted names, as PyTorch's `load_state_dict`: with `strict` (default) missing and
   * unexpected keys are errors, and every problem (size mismatches too) is reported at once, by full name.
   */
  loadStateDict(sd: StateDict, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const own = new Map(this.namedParameters());
    const missingKeys = [...own.keys()].filter((k) => !entries.some(([n]) => n === k));
    const unexpectedKeys = entries.map(([k]) => k).filter((k) => !own.has(k));
    const errors: string[] = [];
    if (strict && missingKeys.length > 0) {
      errors.push(`Missing key(s) in state_dict: ${formatNames(missingKeys, { max: 20, quote: '"' })}. `);
    }
    if (strict && unexpectedKeys.length > 0) {
      errors.push(`Unexpected key(s) in state_dict: ${formatNames(unexpectedKeys, { max: 20, quote: '"' })}. `);
    }
    const given = new Map(entries);
    for (const [name, p] of own) {
      const src = given.get(name);
      if (src === undefined) continue;
      if (src.shape.length !== p.shape.length || src.shape.some((s, i) => s !== p.shape[i])) {
        errors.push(
          `size mismatch for ${name}: copying a param with shape torch.Size([${src.shape.join(', ')}]) from checkpoint, the shape in current model is torch.Size([${p.shape.join(', ')}]).`,
        );
      }
    }
    if (errors.length > 0) {
      throw new RnnError('state_dict', `Error(s) in loading state_dict for Sequential:\n\t${errors.join('\n\t')}`, {
        data: { missingKeys: strict ? missingKeys : [], unexpectedKeys: strict ? unexpectedKeys : [] },
      });
    }
    for (const [name, c] of this.entries) {
      const sub: Record<string, Tensor> = {};
      for (const [k, t] of entries) {
        if (k.startsWith(`${name}.`))
          Object.defineProperty(sub, k.slice(name.length + 1), { value: t, enumerable: true });
      }
      c.loadStateDict(sub, { strict: false });
    }
    return { missingKeys, unexpectedKeys };
  }

  /** PyTorch's repr: `Sequential(\n  (emb): Embedding(65, 32)\n  (rnn): LSTM(32, 128)\n  ...)`. */
  toString(): string {
    const lines = this.entries.map(([name, c]) => `  (${name}): ${reprChild(c).replace(/\n/g, '\n  ')}`);
    return `Sequential(\n${lines.join('\n')}\n)`;
  }

  private resolve(name: string): [Exclude<SequentialChild, Sequential> | Sequential, string] {
    const dot = name.indexOf('.');
    const child = this.child(dot < 0 ? name : name.slice(0, dot));
    if (dot < 0) {
      throw new RnnError('invalid_argument', `'${name}' is a child, not a parameter; name one as '${name}.weight'`, {
        got: name,
      });
    }
    return [child, name.slice(dot + 1)];
  }

  private tensorInput(name: string, x: Tensor | EmbeddingIds): Tensor {
    if (x instanceof Tensor) return x;
    throw new RnnError(
      'invalid_argument',
      `Sequential child '${name}' takes a float Tensor, got ${describe(x)}; ids go to an Embedding as the first child`,
      { got: describe(x) },
    );
  }
}

function reprChild(c: SequentialChild): string {
  if (c instanceof Embedding) return `Embedding(${c.numEmbeddings}, ${c.embeddingDim})`;
  if (c instanceof Linear)
    return `Linear(in_features=${c.inFeatures}, out_features=${c.outFeatures}, bias=${c.bias ? 'True' : 'False'})`;
  return c.toString();
}

/** The entries of `record` under `prefix`, with the prefix removed. */
function prefixed<T>(record: Record<string, T>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(record)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
