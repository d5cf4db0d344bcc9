/** Option parsers shared by the commands: each turns a string into a checked value or throws RnnError. */
import { InvalidArgumentError } from 'commander';
import { CELL_KINDS, type CellKind, type Nonlinearity } from '../rnn/cell.js';
import type { DType } from '../tensor.js';

export function parseInteger(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer, got '${value}'.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be in ${min}..${max}, got ${n}.`);
    return n;
  };
}

export function parseNonlinearity(value: string): Nonlinearity {
  if (value !== 'tanh' && value !== 'relu') {
    throw new InvalidArgumentError(`Unknown nonlinearity '${value}'. Select from 'tanh' or 'relu'.`);
  }
  return value;
}

export function parseDtype(value: string): DType {
  if (value !== 'float32' && value !== 'float64') {
    throw new InvalidArgumentError(`Unknown dtype '${value}'. Select from 'float32' or 'float64'.`);
  }
  return value;
}

/** `--cell rnn|lstm|gru` (any case): which module a command builds or expects. */
export function parseCell(value: string): CellKind {
  const cell = value.toUpperCase() as CellKind;
  if (!CELL_KINDS.includes(cell)) {
    throw new InvalidArgumentError(`Unknown cell '${value}'. Select from 'rnn', 'lstm' or 'gru'.`);
  }
  return cell;
}
