/** The two floating-point storage types and their flat arrays; imported by every layer, importing nothing. */
export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}
