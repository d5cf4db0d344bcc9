/**
 * PyTorch's parameter layout for nn.RNN, nn.LSTM and nn.GRU (RNNBase): names, shapes and registration order.
 *
 * For layer k and direction d (suffix `_reverse` for d = 1), in this order, with G the cell's gate count (1, 4, 3)
 * and P = proj_size when an LSTM has one, else H:
 *   weight_ih_l{k}  (G*H, I) for k = 0, (G*H, D*P) above: layer k > 0 reads the D*P features of layer k-1's output
 *   weight_hh_l{k}  (G*H, P)
 *   bias_ih_l{k}    (G*H)    only with bias
 *   bias_hh_l{k}    (G*H)    only with bias
 *   weight_hr_l{k}  (P, H)   only with proj_size (LSTM)
 */
import { checkArgument, formatNames, isObject, RnnError } from '../errors.js';
import { type CellKind, gateCount } from './cell.js';

/** The names RNNBase gives its parameters: weight_ih_l0, bias_hh_l2_reverse, weight_hr_l1, ... */
export const PARAMETER_NAME = /^(weight_(ih|hh|hr)|bias_(ih|hh))_l\d+(_reverse)?$/;

export interface RnnArchitecture {
  /** Which module: nn.RNN, nn.LSTM or nn.GRU. */
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  bias: boolean;
  /** P: the LSTM's projection size; 0 for none (and always 0 for RNN and GRU). */
  projSize: number;
}

export type ParameterKind = 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh' | 'weight_hr';

export interface ParameterSpec {
  name: string;
  shape: number[];
  layer: number;
  direction: number;
  kind: ParameterKind;
}

export function parameterName(kind: ParameterKind, layer: number, direction: number): string {
  return `${kind}_l${layer}${direction === 1 ? '_reverse' : ''}`;
}

/** The module's name as PyTorch spells it: `nn.LSTM`. */
export function moduleName(cell: CellKind): string {
  return `nn.${cell}`;
}

/** The parameters one (layer, direction) holds, without the suffix, in registration order. */
export function directionSpecs(a: RnnArchitecture, layer: number): { kind: ParameterKind; shape: number[] }[] {
  const D = a.bidirectional ? 2 : 1;
  const G = gateCount(a.cell);
  const H = a.hiddenSize;
  const P = a.projSize > 0 ? a.projSize : H;
  const inFeatures = layer === 0 ? a.inputSize : D * P;
  const specs: { kind: ParameterKind; shape: number[] }[] = [
    { kind: 'weight_ih', shape: [G * H, inFeatures] },
    { kind: 'weight_hh', shape: [G * H, P] },
  ];
  if (a.bias) specs.push({ kind: 'bias_ih', shape: [G * H] }, { kind: 'bias_hh', shape: [G * H] });
  if (a.projSize > 0) specs.push({ kind: 'weight_hr', shape: [P, H] });
  return specs;
}

/** The number of scalar parameters, computed without listing them (a size check before anything is built). */
export function parameterCount(a: RnnArchitecture): number {
  const D = a.bidirectional ? 2 : 1;
  const first = directionSpecs(a, 0).reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
  const above = a.numLayers > 1 ? directionSpecs(a, 1).reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0) : 0;
  return D * (first + (a.numLayers - 1) * above);
}

/** Every parameter of the architecture, in PyTorch's registration (and state-dict) order. */
export function parameterSpecs(a: RnnArchitecture): ParameterSpec[] {
  checkArgument(isObject(a), 'parameterSpecs: the architecture', 'an object such as architectureOf(sd) returns', a);
  const D = a.bidirectional ? 2 : 1;
  const specs: ParameterSpec[] = [];
  for (let layer = 0; layer < a.numLayers; layer++) {
    for (let direction = 0; direction < D; direction++) {
      for (const { kind, shape } of directionSpecs(a, layer)) {
        specs.push({ name: parameterName(kind, layer, direction), shape, layer, direction, kind });
      }
    }
  }
  return specs;
}

function notRecurrent(shapes: ReadonlyMap<string, readonly number[]>, what: string): RnnError {
  const keys = [...shapes.keys()];
  const some = keys.length ? ` (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})` : '';
  return new RnnError(
    'state_dict',
    `not an nn.RNN, nn.LSTM or nn.GRU state dict: no ${what} among ${keys.length} keys${some}`,
    {
      expected: what,
      got: keys,
      hint: 'if the module is a submodule of a bigger model, pass its prefix (e.g. --prefix rnn.)',
    },
  );
}

function matrix(
  shapes: ReadonlyMap<string, readonly number[]>,
  name: string,
  rows: string,
  cols: string,
): [number, number] {
  const s = shapes.get(name);
  if (!s) throw notRecurrent(shapes, name);
  if (s.length !== 2 || !s.every((v) => v > 0)) {
    throw new RnnError('state_dict', `${name} must be 2-D (${rows}, ${cols}), got shape [${s.join(', ')}]`, {
      got: s,
    });
  }
  return s as [number, number];
}

/**
 * The cell a state dict's layer 0 describes: with `weight_hr_l0` (P, H), an LSTM with proj_size P; otherwise
 * weight_hh_l0 (G*H, H) is square per gate, and G = 1, 4, 3 say RNN, LSTM, GRU.
 */
function cellOf(shapes: ReadonlyMap<string, readonly number[]>): { cell: CellKind; H: number; P: number } {
  const [rows] = matrix(shapes, 'weight_hh_l0', 'gates * hidden_size', 'hidden_size');
  const hh = shapes.get('weight_hh_l0') as readonly number[];
  if (shapes.has('weight_hr_l0')) {
    const [P, H] = matrix(shapes, 'weight_hr_l0', 'proj_size', 'hidden_size');
    if (rows !== 4 * H || hh[1] !== P) {
      throw new RnnError(
        'state_dict',
        `weight_hr_l0 (${P}, ${H}) is an nn.LSTM projection, but weight_hh_l0 is [${hh.join(', ')}], not [${4 * H}, ${P}] (4 * hidden_size, proj_size)`,
        { expected: [4 * H, P], got: [...hh] },
      );
    }
    if (P >= H) {
      // nn.LSTM's own check: such a state dict would be described here and then refused by any module built
      throw new RnnError(
        'state_dict',
        `weight_hr_l0 is [${P}, ${H}]: proj_size ${P} must be smaller than hidden_size ${H} (proj_size has to be smaller than hidden_size)`,
        { expected: `proj_size < ${H}`, got: P },
      );
    }
    return { cell: 'LSTM', H, P };
  }
  const H = hh[1] as number;
  const G = rows / H;
  const cell = G === 1 ? 'RNN' : G === 4 ? 'LSTM' : G === 3 ? 'GRU' : null;
  if (cell === null) {
    throw new RnnError(
      'state_dict',
      `weight_hh_l0 is [${hh.join(', ')}]: its rows are not 1, 3 or 4 times its columns (hidden_size), as nn.RNN, nn.GRU and nn.LSTM have`,
      { expected: [H, 3 * H, 4 * H], got: rows },
    );
  }
  return { cell, H, P: H };
}

/**
 * Reads the architecture off a state dict's names and shapes: the cell from weight_hh_l0's rows per column (and
 * weight_hr_l0), layers from the `_l{k}` suffixes, directions from `_reverse`, sizes from layer 0, bias from the
 * presence of bias_* keys. With `cell`, the state dict must be that module's. A name RNNBase never gives
 * (`__proto__`, `head.weight`) is refused in load_state_dict's words; missing, extra and misshapen parameters are
 * named, a few at a time (a hostile file may name thousands).
 */
export function inferArchitecture(shapes: ReadonlyMap<string, readonly number[]>, cell?: CellKind): RnnArchitecture {
  if (!(shapes instanceof Map)) {
    throw new RnnError(
      'invalid_argument',
      `inferArchitecture takes a Map of parameter names to shapes, got ${shapes === null ? 'null' : typeof shapes}`,
      { hint: 'for a state dict of Tensors, use architectureOf(sd)' },
    );
  }
  for (const [k, v] of shapes) {
    if (!Array.isArray(v) || !v.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RnnError(
        'invalid_argument',
        `inferArchitecture: the shape of '${k}' must be an array of sizes, got ${v === null ? 'null' : typeof v}`,
      );
    }
  }
  const [, inputSize] = matrix(shapes, 'weight_ih_l0', 'gates * hidden_size', 'input_size');
  const found = cellOf(shapes);
  if (cell !== undefined && cell !== found.cell) {
    throw new RnnError(
      'state_dict',
      `this state dict holds an ${moduleName(found.cell)} (weight_hh_l0 is [${(shapes.get('weight_hh_l0') as number[]).join(', ')}]${found.P !== found.H ? ' and weight_hr_l0 projects it' : ''}), not an ${moduleName(cell)}`,
      { expected: cell, got: found.cell },
    );
  }
  const stray = [...shapes.keys()].filter((k) => !PARAMETER_NAME.test(k));
  if (stray.length > 0) {
    throw new RnnError(
      'state_dict',
      `Error(s) in loading state_dict for ${found.cell}: Unexpected key(s) in state_dict: ${formatNames(stray, { quote: '"' })}.`,
      { got: stray.slice(0, 8), data: { missingKeys: [], unexpectedKeys: stray } },
    );
  }
  let numLayers = 0;
  while (shapes.has(`weight_ih_l${numLayers}`)) numLayers++;
  const arch: RnnArchitecture = {
    cell: found.cell,
    inputSize,
    hiddenSize: found.H,
    numLayers,
    bidirectional: shapes.has('weight_ih_l0_reverse'),
    bias: shapes.has('bias_ih_l0'),
    projSize: found.P === found.H ? 0 : found.P,
  };
  const specs = parameterSpecs(arch);
  const expected = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !shapes.has(s.name)).map((s) => s.name);
  const unexpected = [...shapes.keys()].filter((k) => !expected.has(k));
  const mismatched = specs
    .filter((s) => shapes.has(s.name))
    .filter((s) => {
      const got = shapes.get(s.name) as readonly number[];
      return got.length !== s.shape.length || got.some((v, i) => v !== s.shape[i]);
    })
    .map((s) => `${s.name}: expected [${s.shape.join(', ')}], got [${(shapes.get(s.name) as number[]).join(', ')}]`);
  if (missing.length || unexpected.length || mismatched.length) {
    const list = (names: string[]) => formatNames(names, { max: 4, quote: '' });
    const parts = [
      missing.length ? `missing ${list(missing)}` : '',
      unexpected.length ? `unexpected ${list(unexpected)}` : '',
      mismatched.length ? `shape mismatch for ${list(mismatched)}` : '',
    ].filter(Boolean);
    throw new RnnError(
      'state_dict',
      `inconsistent ${arch.cell} state dict (${numLayers} layer(s), input ${inputSize}, hidden ${arch.hiddenSize}${arch.projSize ? `, proj ${arch.projSize}` : ''}${arch.bidirectional ? ', bidirectional' : ''}): ${parts.join('; ')}`,
      { data: { missing, unexpected, mismatched } },
    );
  }
  return arch;
}
