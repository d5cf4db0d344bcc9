/**
 * 16-bit floats (IEEE half and bfloat16) widened to float32, bit for bit.
 *
 * Both conversions are exact: every half and every bfloat16 value is a float32 value. They work on the bit
 * patterns (a Uint32Array view of the output) rather than on JavaScript numbers, so NaN payloads and signs
 * come out as in PyTorch's `.float()`; a JS number NaN would be canonicalised on the way through.
 */

/**
 * Float32 bit pattern of one IEEE 754 half (binary16) bit pattern.
 *
 * Half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Float32: 1, 8 (bias 127), 23.
 */
export function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) {
    if (mant === 0) return (sign | 0x7f800000) >>> 0; // +-inf
    // NaN: payload kept, and the quiet bit set, as PyTorch's conversion does (it goes through a float
    // multiply, which quiets a signalling NaN): half 0x7c01 becomes 0x7fc02000, not 0x7f802000.
    return (sign | 0x7fc00000 | (mant << 13)) >>> 0;
  }
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal half: mant * 2^-24. Every one is a normal float32, so shift the mantissa up until its
  // leading one reaches the implicit bit (bit 10), lowering the exponent once per shift.
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** Half bit patterns to float32 values. */
export function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const view = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) view[i] = halfBitsToFloatBits(bits[i] as number);
  return out;
}

/** Bfloat16 bit patterns to float32 values: bfloat16 is the top half of a float32, so this is a shift. */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const view = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) view[i] = ((bits[i] as number) << 16) >>> 0;
  return out;
}
