/**
 * Turns a `TensorRef` (a strided view of a storage) plus the storage's raw bytes into a dense row-major tensor.
 *
 * float32, float16 and bfloat16 become float32 (half and bfloat16 convert exactly); float64 stays float64;
 * int64 and int32 become an `IntTensor`. Non-contiguous views (transposes, slices, expands) are gathered
 * through their strides, so the result never aliases the file or another tensor.
 */
import { RnnError } from '../../errors.js';
import { IntTensor } from '../../int-tensor.js';
import { formatBytes, Tensor } from '../../tensor.js';
import type { Budget } from './limits.js';
import { ITEM_SIZE, type StorageDType, type TensorRef } from './torch-pickle.js';

/** IEEE half precision bits to a number (exact in float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

const scratch = new Uint32Array(1);
const scratchFloat = new Float32Array(scratch.buffer);

/** bfloat16 bits are the top half of a float32's. */
export function bfloat16ToFloat(b: number): number {
  scratch[0] = b << 16;
  return scratchFloat[0]!;
}

/** Checks the entry holds exactly the bytes the persistent id promised. */
export function checkStorageBytes(ref: TensorRef, bytes: Uint8Array): void {
  const s = ref.storage;
  const want = s.numel * ITEM_SIZE[s.dtype];
  if (bytes.length !== want) {
    throw new RnnError(
      'corrupt_file',
      `storage '${s.key}' should hold ${s.numel} ${s.dtype} elements (${want} bytes) but its archive entry has ${bytes.length} bytes`,
      { expected: want, got: bytes.length },
    );
  }
}

type Element = (view: DataView, index: number, littleEndian: boolean) => number;
const FLOAT_READERS: Record<Exclude<StorageDType, 'int64' | 'int32'>, Element> = {
  float32: (v, i, le) => v.getFloat32(i * 4, le),
  float64: (v, i, le) => v.getFloat64(i * 8, le),
  float16: (v, i, le) => halfToFloat(v.getUint16(i * 2, le)),
  bfloat16: (v, i, le) => bfloat16ToFloat(v.getUint16(i * 2, le)),
};

/** Typed arrays use the host's byte order; where that is little-endian, contiguous data can be copied whole. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function isContiguous(ref: TensorRef): boolean {
  const { shape, stride } = ref;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d]! !== 1 && stride[d]! !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

/**
 * Calls `visit(k, i)` for each element in row-major order, k counting 0.. and i its index in the storage.
 * Contiguous views take one straight run; others step an odometer over the dims.
 */
function forEachIndex(ref: TensorRef, numel: number, visit: (k: number, i: number) => void): void {
  const { shape, stride, offset } = ref;
  if (isContiguous(ref)) {
    for (let k = 0; k < numel; k++) visit(k, offset + k);
    return;
  }
  const counter = new Array<number>(shape.length).fill(0);
  let i = offset;
  for (let k = 0; k < numel; k++) {
    visit(k, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      i += stride[d]!;
      if (++counter[d]! < shape[d]!) break;
      i -= stride[d]! * shape[d]!;
      counter[d] = 0;
    }
  }
}

/** Whether the view repeats storage elements: a stride of 0 over a dimension of more than one element. */
function isExpanded(ref: TensorRef): boolean {
  return ref.shape.some((s, d) => s > 1 && ref.stride[d] === 0);
}

/**
 * A dense copy of the view `ref` of `bytes`, charged to `budget`. A view that repeats its storage's elements
 * (torch.expand) is refused over `maxExpandedBytes` (from its shape, before anything is allocated).
 */
export function materialize(
  ref: TensorRef,
  bytes: Uint8Array,
  littleEndian: boolean,
  budget: Budget,
  maxExpandedBytes = Number.POSITIVE_INFINITY,
): Tensor | IntTensor {
  checkStorageBytes(ref, bytes);
  const dtype = ref.storage.dtype;
  let numel = 1;
  for (const s of ref.shape) numel *= s;
  const outSize = dtype === 'float64' || dtype === 'int64' ? 8 : 4;
  budget.take(numel * outSize, `a tensor of size [${ref.shape.join(', ')}]`);
  // within the budget, a view that repeats its storage is bounded again, far lower: a legitimate file has none
  if (numel * outSize > maxExpandedBytes && isExpanded(ref)) {
    const size = `[${ref.shape.join(', ')}]`;
    throw new RnnError(
      'unsupported',
      `a tensor of size ${size} repeats the ${ref.storage.numel} element(s) of its storage (a stride-0 view, as torch.expand makes) into ${formatBytes(numel * outSize)}; the limit for such views is ${formatBytes(maxExpandedBytes)}`,
      {
        expected: `<= ${maxExpandedBytes} bytes`,
        got: numel * outSize,
        hint: 'if the file is trusted, raise options.limits.maxExpandedBytes, or save the tensor after .contiguous() in PyTorch',
      },
    );
  }
  if (littleEndian && HOST_LITTLE_ENDIAN && dtype !== 'float16' && dtype !== 'bfloat16' && isContiguous(ref)) {
    // The common case: one copy of the bytes (which also aligns them), viewed as the right typed array.
    const size = ITEM_SIZE[dtype];
    // Uint8Array's slice copies even when `bytes` is a Node Buffer, whose own slice is a view.
    const buffer = Uint8Array.prototype.slice.call(bytes, ref.offset * size, (ref.offset + numel) * size).buffer;
    if (dtype === 'int64') return new IntTensor(new BigInt64Array(buffer), ref.shape);
    if (dtype === 'int32') return new IntTensor(new Int32Array(buffer), ref.shape);
    return new Tensor(dtype === 'float64' ? new Float64Array(buffer) : new Float32Array(buffer), ref.shape);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'int64') {
    const out = new BigInt64Array(numel);
    forEachIndex(ref, numel, (k, i) => {
      out[k] = view.getBigInt64(i * 8, littleEndian);
    });
    return new IntTensor(out, ref.shape);
  }
  if (dtype === 'int32') {
    const out = new Int32Array(numel);
    forEachIndex(ref, numel, (k, i) => {
      out[k] = view.getInt32(i * 4, littleEndian);
    });
    return new IntTensor(out, ref.shape);
  }
  const out = dtype === 'float64' ? new Float64Array(numel) : new Float32Array(numel);
  const read = FLOAT_READERS[dtype];
  forEachIndex(ref, numel, (k, i) => {
    out[k] = read(view, i, littleEndian);
  });
  return new Tensor(out, ref.shape);
}
