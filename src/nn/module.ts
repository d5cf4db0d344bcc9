/**
 * What nn.RNN and nn.RNNCell share: named parameters in PyTorch's order, their uniform initialisation,
 * train/eval mode, state dicts with PyTorch's load_state_dict semantics and messages, and the parameters'
 * gradients (`grad`, `zeroGrad`, `namedGrads`) that backward passes accumulate into.
 */
import { checkInteger, formatNames, formatSizeList, RnnError } from '../errors.js';
import { Generator } from '../random.js';
import { allocate, checkAttached, type DType, formatBytes, MAX_TENSOR_BYTES, Tensor } from '../tensor.js';

export type StateDict = Record<string, Tensor> | Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Throws unless `sd` is a state dict: a Map or plain object whose values are Tensors (an array, null or a Tensor is
 * not). `what` names the argument in the message, e.g. 'loadStateDict: sd'.
 */
export function checkStateDictArg(sd: unknown, what: string): asserts sd is StateDict {
  const kind = (v: unknown) =>
    v === null ? 'null' : Array.isArray(v) ? 'an array' : v instanceof Tensor ? 'a Tensor' : typeof v;
  if (typeof sd !== 'object' || sd === null || Array.isArray(sd) || sd instanceof Tensor) {
    throw new RnnError(
      'invalid_argument',
      `${what} must be a state dict (an object or Map of Tensors), got ${kind(sd)}`,
      {
        expected: 'a state dict',
        got: kind(sd),
      },
    );
  }
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  for (const [k, t] of entries) {
    if (!(t instanceof Tensor)) {
      throw new RnnError('invalid_argument', `${what}: the entry '${String(k)}' must be a Tensor, got ${kind(t)}`, {
        expected: 'Tensor',
        got: kind(t),
      });
    }
  }
}

export function toGenerator(seed: number | Generator | undefined): Generator {
  if (seed instanceof Generator) return seed;
  if (seed === undefined) return new Generator(Math.floor(Math.random() * 2 ** 32));
  checkInteger(seed, 'seed', 0);
  return new Generator(seed);
}

export function checkDtype(dtype: unknown): DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new RnnError(
      'invalid_argument',
      `Unknown dtype ${JSON.stringify(dtype)}. Select from 'float32' or 'float64'.`,
      {
        expected: ['float32', 'float64'],
        got: dtype,
      },
    );
  }
  return dtype;
}

/**
 * Checks a gradient handed to `backward` against the tensor it is the gradient of: a Tensor of the same dtype
 * and shape. `what` names it in the message ("gradOutput"), `of` names the tensor ("the output").
 */
export function checkGradient(
  value: unknown,
  what: string,
  of: string,
  shape: readonly number[],
  dtype: DType,
): Tensor {
  if (!(value instanceof Tensor)) {
    throw new RnnError('invalid_argument', `${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`, {
      expected: 'Tensor',
      got: value === null ? null : typeof value,
    });
  }
  checkAttached(value, what);
  if (value.shape.length !== shape.length || value.shape.some((s, i) => s !== shape[i])) {
    throw new RnnError(
      'shape_mismatch',
      `Mismatch in shape: ${what} must have the shape of ${of}: expected ${formatSizeList(shape)}, got ${formatSizeList(value.shape)}`,
      { expected: [...shape], got: [...value.shape] },
    );
  }
  if (value.dtype !== dtype) {
    throw new RnnError(
      'invalid_argument',
      `Mismatch in dtype: ${what} must have the dtype of ${of}: expected ${dtype}, got ${value.dtype}`,
      { expected: dtype, got: value.dtype },
    );
  }
  return value;
}

export abstract class Module {
  /** Parameters by PyTorch name, in registration order. */
  protected readonly params = new Map<string, Tensor>();

  /** Throws when a parameter's ArrayBuffer was transferred away (detached): a kernel would read nothing from it. */
  protected checkAttachedParameters(): void {
    for (const [name, p] of this.params) checkAttached(p, `the parameter '${name}'`);
  }
  /** Gradients by parameter name, made (as zeros) on first use; each stays the same Tensor for the module's life. */
  private readonly grads = new Map<string, Tensor>();
  /** Like PyTorch, a module starts in training mode (dropout active); call `eval()` for inference. */
  training = true;
  readonly dtype: DType;
  protected readonly generator: Generator;

  protected constructor(dtype: DType, generator: Generator) {
    this.dtype = dtype;
    this.generator = generator;
  }

  /** Registers parameters and fills each with U(-1/sqrt(H), 1/sqrt(H)) in order, as reset_parameters does. */
  protected initParameters(specs: readonly { name: string; shape: readonly number[] }[], hiddenSize: number): void {
    // Checked before anything is allocated: a size typo (hidden_size 1e6) must fail in one line, not exhaust memory.
    const numel = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    const bytes = numel * (this.dtype === 'float64' ? 8 : 4);
    if (bytes > MAX_TENSOR_BYTES) {
      throw new RnnError(
        'invalid_argument',
        `${this.constructor.name} would have ${numel} parameters (${formatBytes(bytes)}); the limit is 4 GiB`,
        {
          expected: `<= ${formatBytes(MAX_TENSOR_BYTES)}`,
          got: formatBytes(bytes),
        },
      );
    }
    const bound = 1 / Math.sqrt(hiddenSize);
    for (const { name, shape } of specs) {
      const t = new Tensor(
        allocate(
          this.dtype,
          shape.reduce((a, b) => a * b, 1),
        ),
        shape,
      );
      this.generator.uniform(t.data, -bound, bound);
      this.params.set(name, t);
    }
  }

  /**
   * `[name, tensor]` for every parameter, like `named_parameters()`. The tensors are live: editing edits the model.
   * After writing a parameter's `data` yourself, call `parametersChanged()` (or the tensor's `bumpVersion()`), so
   * that weights the module keeps prepared for its kernel are prepared again (`loadStateDict` and the optimizers
   * say so themselves).
   */
  namedParameters(): [string, Tensor][] {
    return [...this.params.entries()];
  }

  /** Says that parameters were written in place outside the library: moves every parameter's `version` on. */
  parametersChanged(): void {
    for (const p of this.params.values()) p.bumpVersion();
  }

  /** The sum of the parameters' versions: it moves whenever any parameter is written through the library. */
  protected parametersVersion(): number {
    let v = 0;
    for (const p of this.params.values()) v += p.version;
    return v;
  }

  /** One parameter by its PyTorch name, e.g. `rnn.parameter('weight_ih_l1')`. */
  parameter(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) {
      throw new RnnError('invalid_argument', `'${this.constructor.name}' object has no parameter '${name}'`, {
        expected: [...this.params.keys()],
        got: name,
      });
    }
    return p;
  }

  /**
   * The gradient of one parameter, like PyTorch's `param.grad`: the sum over every backward pass since the last
   * `zeroGrad()` (zeros before the first). The Tensor is live and always the same object, so an optimizer can keep
   * it; backward passes add into it.
   */
  grad(name: string): Tensor {
    let g = this.grads.get(name);
    if (!g) {
      const p = this.parameter(name);
      g = new Tensor(allocate(this.dtype, p.numel), p.shape);
      this.grads.set(name, g);
    }
    return g;
  }

  /** `[name, gradient]` for every parameter, in parameter order (see `grad`). */
  namedGrads(): [string, Tensor][] {
    return [...this.params.keys()].map((name) => [name, this.grad(name)]);
  }

  /** Sets every gradient to zero in place, like `optimizer.zero_grad(set_to_none=False)`. */
  zeroGrad(): void {
    for (const g of this.grads.values()) g.data.fill(0);
  }

  /** The error of a backward pass with no recorded forward to differentiate. */
  protected noRecordedForward(): RnnError {
    const name = this.constructor.name;
    return new RnnError(
      'invalid_argument',
      `${name}.backward() needs a forward pass recorded with { requiresGrad: true }, and there is none: a forward ` +
        'without requiresGrad records nothing, and each backward consumes the forward it differentiates',
      { hint: `call forward(..., { requiresGrad: true }) before each backward()` },
    );
  }

  /** Total number of scalar parameters. */
  get parameterCount(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.numel;
    return n;
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** A copy of every parameter by name, in PyTorch's order (what `state_dict()` holds for this module). */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [name, p] of this.params) sd[name] = p.clone();
    return sd;
  }

  /**
   * Copies parameters from `sd`, converting to this module's dtype. Size mismatches are always errors; with
   * `strict` (the default) missing and unexpected keys are too, all reported at once as PyTorch does.
   */
  loadStateDict(sd: StateDict, options: { strict?: boolean } = {}): LoadResult {
    if (typeof sd !== 'object' || sd === null || Array.isArray(sd))
      checkStateDictArg(sd, 'loadStateDict: the state dict');
    if (typeof options !== 'object' || options === null) {
      throw new RnnError(
        'invalid_argument',
        `loadStateDict: options must be an object, got ${options === null ? 'null' : typeof options}`,
      );
    }
    const strict = options.strict ?? true;
    const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const given = new Map(entries);
    const missingKeys = [...this.params.keys()].filter((k) => !given.has(k));
    const unexpectedKeys = entries.map(([k]) => k).filter((k) => !this.params.has(k));
    const errors: string[] = [];
    if (strict && missingKeys.length > 0) {
      errors.push(`Missing key(s) in state_dict: ${formatNames(missingKeys, { max: 20, quote: '"' })}. `);
    }
    if (strict && unexpectedKeys.length > 0) {
      errors.push(`Unexpected key(s) in state_dict: ${formatNames(unexpectedKeys, { max: 20, quote: '"' })}. `);
    }
    const mismatched: {
      name: string;
      expected: readonly number[];
      got: readonly number[];
    }[] = [];
    for (const [name, p] of this.params) {
      const src = given.get(name);
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) {
        errors.push(`While copying the parameter named "${name}", expected a Tensor, got ${typeof src}.`);
        continue;
      }
      checkAttached(src, `the state dict's '${name}'`); // a detached tensor would copy nothing, silently
      if (src.shape.length !== p.shape.length || src.shape.some((s, i) => s !== p.shape[i])) {
        mismatched.push({ name, expected: p.shape, got: src.shape });
        errors.push(
          `size mismatch for ${name}: copying a param with shape torch.Size([${src.shape.join(', ')}]) from checkpoint, the shape in current model is torch.Size([${p.shape.join(', ')}]).`,
        );
      }
    }
    if (errors.length > 0) {
      throw new RnnError(
        'state_dict',
        `Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`,
        {
          data: {
            missingKeys: strict ? missingKeys : [],
            unexpectedKeys: strict ? unexpectedKeys : [],
            mismatched,
          },
        },
      );
    }
    for (const [name, p] of this.params) {
      const src = given.get(name);
      if (src) {
        p.data.set(src.data);
        p.bumpVersion();
      }
    }
    return { missingKeys, unexpectedKeys };
  }
}
