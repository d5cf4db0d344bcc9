/**
 * An integer tensor as read from a `.pt` file (int64 as BigInt64Array, int32 as Int32Array), row-major.
 *
 * The model itself computes only in floats; integer tensors appear in state dicts as bookkeeping (e.g.
 * BatchNorm's `num_batches_tracked`) and are kept exact rather than rounded into a float.
 */
import { checkArgument } from './errors.js';
import { checkShape } from './tensor.js';

export type IntDType = 'int64' | 'int32';
export type IntArray = BigInt64Array | Int32Array;

export class IntTensor {
  readonly data: IntArray;
  readonly shape: readonly number[];

  constructor(data: IntArray, shape: readonly number[]) {
    checkArgument(
      data instanceof Int32Array || data instanceof BigInt64Array,
      "an IntTensor's data",
      'an Int32Array or BigInt64Array',
      data,
    );
    checkShape(shape, data.length);
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  get dtype(): IntDType {
    return this.data instanceof BigInt64Array ? 'int64' : 'int32';
  }

  get numel(): number {
    return this.data.length;
  }
}
