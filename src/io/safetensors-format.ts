/**
 * What the safetensors reader and writer share: the dtypes, the tensor types, item sizes, byte order, and how
 * values are described in error messages.
 */
import type { Tensor } from '../tensor.js';

export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32';

/** A tensor as stored: its dtype, shape and elements. F16 and BF16 elements are raw bit patterns. */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array;
}

/** Integer tensor to write from plain numbers (each must be an integer in the dtype's range). */
export interface IntegerTensorInput {
  dtype: 'I64' | 'I32';
  shape: readonly number[];
  data: ArrayLike<number>;
}

export type WritableTensor = Tensor | RawTensor | IntegerTensorInput;

export const ITEM_SIZE: Record<SafetensorsDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isSupported(dtype: string): dtype is SafetensorsDType {
  return Object.hasOwn(ITEM_SIZE, dtype);
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (typeof value === 'number') return String(value);
  return typeof value;
}

/** Reverses each `size`-byte element in place (big-endian hosts only; the format is little-endian). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}
