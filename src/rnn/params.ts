/**
 * PyTorch's parameter layout for nn.RNN: names, shapes and registration order.
 *
 * For layer k and direction d (suffix `_reverse` for d = 1), in this order:
 *   weight_ih_l{k}  (H, I) for k = 0, (H, D*H) above: layer k > 0 reads the D*H features of layer k-1's output
 *   weight_hh_l{k}  (H, H)
 *   bias_ih_l{k}    (H)      only with bias
 *   bias_hh_l{k}    (H)      only with bias
 */
import { RnnError } from '../errors.js';

export interface RnnArchitecture {
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  bias: boolean;
}

export type ParameterKind = 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh';

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

/** Every parameter of the architecture, in PyTorch's registration (and state-dict) order. */
export function parameterSpecs(a: RnnArchitecture): ParameterSpec[] {
  const D = a.bidirectional ? 2 : 1;
  const H = a.hiddenSize;
  const specs: ParameterSpec[] = [];
  for (let layer = 0; layer < a.numLayers; layer++) {
    const inFeatures = layer === 0 ? a.inputSize : D * H;
    for (let direction = 0; direction < D; direction++) {
      const kinds: [ParameterKind, number[]][] = [
        ['weight_ih', [H, inFeatures]],
        ['weight_hh', [H, H]],
      ];
      if (a.bias) kinds.push(['bias_ih', [H]], ['bias_hh', [H]]);
      for (const [kind, shape] of kinds) {
        specs.push({
          name: parameterName(kind, layer, direction),
          shape,
          layer,
          direction,
          kind,
        });
      }
    }
  }
  return specs;
}

/**
 * Reads the architecture off a state dict's names and shapes: layers from the `_l{k}` suffixes, directions from
 * `_reverse`, sizes from weight_ih_l0 (H, I), bias from the presence of bias_* keys. Inconsistent shapes are
 * reported by name.
 */
export function inferArchitecture(shapes: ReadonlyMap<string, readonly number[]>): RnnArchitecture {
  const first = shapes.get('weight_ih_l0');
  if (!first) {
    const keys = [...shapes.keys()];
    throw new RnnError(
      'state_dict',
      `not a torch.nn.RNN state dict: no weight_ih_l0 among ${keys.length} keys${keys.length ? ` (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})` : ''}`,
      {
        expected: 'weight_ih_l0',
        got: keys,
        hint: 'if the RNN is a submodule of a bigger model, pass its prefix (e.g. --prefix rnn.)',
      },
    );
  }
  if (first.length !== 2 || !first.every((s) => s > 0)) {
    throw new RnnError(
      'state_dict',
      `weight_ih_l0 must be 2-D (hidden_size, input_size), got shape [${first.join(', ')}]`,
      {
        got: first,
      },
    );
  }
  const [hiddenSize, inputSize] = first as [number, number];
  let numLayers = 0;
  while (shapes.has(`weight_ih_l${numLayers}`)) numLayers++;
  const arch: RnnArchitecture = {
    inputSize,
    hiddenSize,
    numLayers,
    bidirectional: shapes.has('weight_ih_l0_reverse'),
    bias: shapes.has('bias_ih_l0'),
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
    const parts = [
      missing.length ? `missing ${missing.join(', ')}` : '',
      unexpected.length ? `unexpected ${unexpected.join(', ')}` : '',
      mismatched.length ? `shape mismatch for ${mismatched.join('; ')}` : '',
    ].filter(Boolean);
    throw new RnnError(
      'state_dict',
      `inconsistent RNN state dict (${numLayers} layer(s), input ${inputSize}, hidden ${hiddenSize}${arch.bidirectional ? ', bidirectional' : ''}): ${parts.join('; ')}`,
      {
        data: { missing, unexpected, mismatched },
      },
    );
  }
  return arch;
}
