/** The two floating-point storage types and their flat arrays; imported by every layer, importing nothing. */
export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** Whether every array given is float32 (a null, an absent optional array, counts as any). */
export function allFloat32(...arrays: (FloatArray | null)[]): boolean {
  return arrays.every((a) => a === null || a instanceof Float32Array);
}

/** Whether every array given is float64 (a null counts as any). */
export function allFloat64(...arrays: (FloatArray | null)[]): boolean {
  return arrays.every((a) => a === null || a instanceof Float64Array);
}

/** `n` zeros of the same precision as `like`. */
export function zerosLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}
