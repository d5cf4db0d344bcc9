/**
 * Writing any object torch.save would write for a checkpoint - dicts, lists, tuples, numbers, strings, booleans,
 * None and tensors - as a `.pt` file that `torch.load(path)` reads (weights_only=True too when it holds no
 * float: torch 1.13's weights-only unpickler refuses floats, in its own optimizer state dicts as well): e.g.
 * `{ model: sd, optimizer: opt.stateDict(), epoch: 3 }`. Same archive layout as `writePtStateDict`.
 */
import { checkArgument, isObject, RnnError } from '../../errors.js';
import { IntTensor } from '../../int-tensor.js';
import { Tensor } from '../../tensor.js';
import { archiveFolder, OP, Pickler, type PtWriteOptions, pickleTensor } from './write.js';
import { writeStoredZip, type ZipMember } from './zip-write.js';

/** A Python tuple (a JS array is written as a list). */
export class PtTuple {
  constructor(readonly items: readonly PtWritable[]) {}
}

/** A Python float whatever its value (a JS number that is an integer is otherwise written as an int). */
export class PtFloat {
  constructor(readonly value: number) {}
}

/** What `writePtObject` writes: a plain object or a Map is a dict (keys str or int), an array a list. */
export type PtWritable =
  | null
  | boolean
  | number
  | string
  | Tensor
  | IntTensor
  | PtTuple
  | PtFloat
  | readonly PtWritable[]
  | ReadonlyMap<string | number, PtWritable>
  | { readonly [key: string]: PtWritable };

const EXTRA = {
  NONE: 0x4e,
  NEWTRUE: 0x88,
  BINFLOAT: 0x47,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  APPENDS: 0x65,
} as const;

/**
 * The bytes of a `.pt` file holding `value`, for `torch.load`. Integers are written as Python ints and other
 * numbers as floats (wrap a number in `PtFloat` to force a float), arrays as lists, `PtTuple` as a tuple, plain
 * objects and Maps as dicts in their order.
 *
 * @example
 * writeFileSync('ckpt.pt', writePtObject({ model: model.stateDict(), optimizer: opt.stateDict(), epoch: 3 }));
 * // Python: ckpt = torch.load('ckpt.pt'); model.load_state_dict(ckpt['model']); opt.load_state_dict(ckpt['optimizer'])
 */
export function writePtObject(value: PtWritable, options: PtWriteOptions = {}): Uint8Array {
  checkArgument(isObject(options), 'writePtObject options', "an object such as { archiveName: 'archive' }", options);
  const folder = archiveFolder(options);
  const p = new Pickler();
  const members: ZipMember[] = [];
  p.op(OP.PROTO);
  p.op(2);
  const seen = new Set<object>();
  const write = (v: PtWritable, path: string): void => {
    if (v === null) p.op(EXTRA.NONE);
    else if (typeof v === 'boolean') p.op(v ? EXTRA.NEWTRUE : OP.NEWFALSE);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v >= -(2 ** 31)) p.int(v);
      else writeFloat(p, v);
    } else if (typeof v === 'string') p.string(v);
    else if (v instanceof PtFloat) writeFloat(p, v.value);
    else if (v instanceof Tensor || v instanceof IntTensor) pickleTensor(p, v, String(members.length), folder, members);
    else if (typeof v !== 'object') {
      throw new RnnError('invalid_argument', `writePtObject: ${path} is ${typeof v}, which a .pt file cannot hold`, {
        got: typeof v,
      });
    } else {
      if (seen.has(v)) throw new RnnError('invalid_argument', `writePtObject: ${path} refers back to itself`);
      seen.add(v);
      if (v instanceof PtTuple) {
        p.op(OP.MARK);
        v.items.forEach((x, i) => write(x, `${path}[${i}]`));
        p.op(OP.TUPLE);
      } else if (Array.isArray(v)) {
        p.op(EXTRA.EMPTY_LIST);
        if (v.length > 0) {
          p.op(OP.MARK);
          (v as readonly PtWritable[]).forEach((x, i) => write(x, `${path}[${i}]`));
          p.op(EXTRA.APPENDS);
        }
      } else {
        const entries: [string | number, PtWritable][] =
          v instanceof Map ? [...v.entries()] : Object.entries(v as Record<string, PtWritable>);
        p.op(EXTRA.EMPTY_DICT);
        if (entries.length > 0) {
          p.op(OP.MARK);
          for (const [k, x] of entries) {
            if (typeof k === 'number') p.int(k);
            else if (typeof k === 'string') p.string(k);
            else throw new RnnError('invalid_argument', `writePtObject: ${path} has a key that is not a str or int`);
            write(x, `${path}[${JSON.stringify(k)}]`);
          }
          p.op(OP.SETITEMS);
        }
      }
      seen.delete(v);
    }
  };
  write(value, 'value');
  p.op(OP.STOP);
  return writeStoredZip([
    { name: `${folder}/data.pkl`, data: p.bytes() },
    ...members,
    { name: `${folder}/version`, data: new TextEncoder().encode('3\n') },
  ]);
}

/** BINFLOAT: the double, big-endian. */
function writeFloat(p: Pickler, x: number): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, false);
  p.op(EXTRA.BINFLOAT);
  for (const byte of b) p.op(byte);
}
