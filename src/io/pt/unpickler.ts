/**
 * A restricted unpickler: Python's pickle opcodes for plain data (protocols 0 to 4), with every way of naming
 * or calling code handed to `PickleHooks`, which allow a short list of torch globals and refuse the rest.
 *
 * It never runs anything: GLOBAL only asks the hooks for a stand-in object (and the hooks throw for a global
 * not on their list, before any REDUCE), and REDUCE/BUILD/persistent ids are answered by the hooks with plain
 * data. INST, OBJ, NEWOBJ, NEWOBJ_EX, the extension registry and out-of-band buffers are refused outright.
 * The machine is a loop over the input with no recursion; the stack, mark stack and memo are bounded by
 * `maxItems`, and every read is checked against the end of the input.
 */
import { RnnError } from '../../errors.js';

/** A Python tuple (lists are plain arrays). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A Python dict or collections.OrderedDict; insertion order is kept either way. */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
}

/** A Python set or frozenset. */
export class PySet {
  readonly items: PyValue[] = [];
}

/** Objects that only the hooks create and understand (torch globals, storages, tensors). */
export abstract class PyObject {
  /** Makes the class nominal: a plain object literal is not a PyObject. */
  protected readonly pyObject = true;

  /** What the object is, in a user's words, for messages (e.g. 'tensor'). */
  abstract get kind(): string;
}

export type PyKey = null | boolean | number | bigint | string | PyTuple;
export type PyValue = PyKey | Uint8Array | PyValue[] | PyDict | PySet | PyObject;

export interface PickleHooks {
  /** GLOBAL, STACK_GLOBAL and INST: a stand-in for an allowed global; throws for any other. */
  global(module: string, name: string, opcode: string): PyValue;
  /** REDUCE: `fn(*args)` where fn came from `global`. */
  reduce(fn: PyValue, args: PyTuple): PyValue;
  /** BUILD: `inst.__setstate__(state)`; returns the (possibly new) instance. */
  build(inst: PyValue, state: PyValue): PyValue;
  /** PERSID and BINPERSID: the object an out-of-band id names. */
  persistentLoad(pid: PyValue): PyValue;
}

export function pickleError(message: string, details: { expected?: unknown; got?: unknown } = {}): RnnError {
  return new RnnError('corrupt_file', `corrupt pickle in .pt file: ${message}`, details);
}

const MAX_LINE = 4096;
/** Python ints beyond this many bytes are not state-dict data; refusing them keeps BigInt work bounded. */
const MAX_LONG_BYTES = 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

const REFUSED: Record<number, string> = {
  111: 'OBJ',
  129: 'NEWOBJ',
  146: 'NEWOBJ_EX',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};

/** Runs the pickle in `bytes` to its STOP and returns the result. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks, maxItems: number): PyValue {
  return new Machine(bytes, hooks, maxItems).run();
}

function isHashable(v: PyValue): v is PyKey {
  return v === null || typeof v !== 'object' || v instanceof PyTuple;
}

function intValue(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

class Machine {
  private pos = 0;
  private stack: PyValue[] = [];
  private readonly marks: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly hooks: PickleHooks,
    private readonly maxItems: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PyValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e) return this.pop(); // STOP
      this.step(op, at);
    }
  }

  // ---- reading the input ----

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw pickleError(`the pickle ends inside an opcode (needs ${n} bytes at ${this.pos}, has ${this.bytes.length})`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1)]!;
  }

  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }

  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }

  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    const v = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(v)) throw pickleError('a 64-bit length is too large');
    return v;
  }

  private take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_LINE)
      throw pickleError(`no end of line within ${MAX_LINE} bytes at ${this.pos}`);
    const text = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  private text(n: number): string {
    try {
      return utf8.decode(this.take(n));
    } catch (err) {
      if (err instanceof RnnError) throw err;
      throw pickleError(`invalid UTF-8 in a string at ${this.pos - n}`);
    }
  }

  // ---- the stacks ----

  private push(v: PyValue): void {
    if (this.stack.length >= this.maxItems) throw this.tooMany('stack');
    this.stack.push(v);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) throw pickleError(`stack underflow at byte ${this.pos - 1}`);
    return this.stack.pop()!;
  }

  private top(): PyValue {
    if (this.stack.length === 0) throw pickleError(`stack underflow at byte ${this.pos - 1}`);
    return this.stack[this.stack.length - 1]!;
  }

  private mark(): void {
    if (this.marks.length >= this.maxItems) throw this.tooMany('mark stack');
    this.marks.push(this.stack);
    this.stack = [];
  }

  private popMark(): PyValue[] {
    const items = this.stack;
    const outer = this.marks.pop();
    if (outer === undefined) throw pickleError(`no MARK before the opcode at byte ${this.pos - 1}`);
    this.stack = outer;
    return items;
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= this.maxItems) throw this.tooMany('memo');
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    if (!this.memo.has(index)) throw pickleError(`memo value not found at index ${index}`);
    this.push(this.memo.get(index)!);
  }

  private tooMany(what: string): RnnError {
    return new RnnError('corrupt_file', `pickle ${what} exceeds ${this.maxItems} entries`, {
      expected: `<= ${this.maxItems}`,
      hint: 'raise options.limits.maxItems if the file is trusted',
    });
  }

  // ---- containers ----

  private setItems(target: PyValue, items: readonly PyValue[]): void {
    if (!(target instanceof PyDict)) throw pickleError(`SETITEM(S) on a ${kindOf(target)}, not a dict`);
    if (items.length % 2 !== 0) throw pickleError('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]!;
      if (!isHashable(key)) throw pickleError(`unhashable dict key: ${kindOf(key)}`);
      target.map.set(key, items[i + 1]!);
    }
  }

  private append(target: PyValue, items: readonly PyValue[]): void {
    if (!Array.isArray(target)) throw pickleError(`APPEND(S) on a ${kindOf(target)}, not a list`);
    for (const item of items) target.push(item);
  }

  private addItems(target: PyValue, items: readonly PyValue[]): void {
    if (!(target instanceof PySet)) throw pickleError(`ADDITEMS on a ${kindOf(target)}, not a set`);
    for (const item of items) target.items.push(item);
  }

  // ---- one opcode ----

  private step(op: number, at: number): void {
    switch (op) {
      case 0x80: {
        const version = this.u8(); // PROTO
        if (version > 5) throw new RnnError('unsupported', `pickle protocol ${version} is not supported`);
        return;
      }
      case 0x95: // FRAME: a length prefix for buffering; the data follows inline.
        this.u64();
        return;
      case 0x28: // MARK
        this.mark();
        return;
      case 0x30: // POP
        this.pop();
        return;
      case 0x31: // POP_MARK
        this.popMark();
        return;
      case 0x32: // DUP
        this.push(this.top());
        return;
      case 0x4e: // NONE
        this.push(null);
        return;
      case 0x88: // NEWTRUE
        this.push(true);
        return;
      case 0x89: // NEWFALSE
        this.push(false);
        return;
      case 0x4b: // BININT1
        this.push(this.u8());
        return;
      case 0x4d: // BININT2
        this.push(this.u16());
        return;
      case 0x4a: // BININT
        this.push(this.i32());
        return;
      case 0x8a: // LONG1
        this.push(this.long(this.u8()));
        return;
      case 0x8b: // LONG4
        this.push(this.long(this.i32()));
        return;
      case 0x49: // INT (text); I01 / I00 are protocol 0's True / False
        this.push(this.textInt(this.line(), false));
        return;
      case 0x4c: // LONG (text)
        this.push(this.textInt(this.line(), true));
        return;
      case 0x47: // BINFLOAT (big-endian double)
        this.push(this.view.getFloat64(this.need(8), false));
        return;
      case 0x46: // FLOAT (text)
        this.push(textFloat(this.line()));
        return;
      case 0x58: // BINUNICODE
        this.push(this.text(this.u32()));
        return;
      case 0x8c: // SHORT_BINUNICODE
        this.push(this.text(this.u8()));
        return;
      case 0x8d: // BINUNICODE8
        this.push(this.text(this.u64()));
        return;
      case 0x56: // UNICODE (raw-unicode-escape text)
        this.push(rawUnicodeEscape(this.line()));
        return;
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        this.push(latin1.decode(this.take(this.u8())));
        return;
      case 0x54: {
        const n = this.i32(); // BINSTRING
        if (n < 0) throw pickleError(`BINSTRING with negative length ${n}`);
        this.push(latin1.decode(this.take(n)));
        return;
      }
      case 0x53: // STRING (a quoted repr)
        this.push(quotedString(this.line()));
        return;
      case 0x43: // SHORT_BINBYTES
        this.push(this.take(this.u8()).slice());
        return;
      case 0x42: // BINBYTES
        this.push(this.take(this.u32()).slice());
        return;
      case 0x8e: // BINBYTES8
        this.push(this.take(this.u64()).slice());
        return;
      case 0x29: // EMPTY_TUPLE
        this.push(new PyTuple([]));
        return;
      case 0x85: // TUPLE1
        this.push(new PyTuple([this.pop()]));
        return;
      case 0x86: {
        const b = this.pop(); // TUPLE2
        this.push(new PyTuple([this.pop(), b]));
        return;
      }
      case 0x87: {
        const c = this.pop(); // TUPLE3
        const b = this.pop();
        this.push(new PyTuple([this.pop(), b, c]));
        return;
      }
      case 0x74: // TUPLE
        this.push(new PyTuple(this.popMark()));
        return;
      case 0x5d: // EMPTY_LIST
        this.push([]);
        return;
      case 0x6c: // LIST
        this.push(this.popMark());
        return;
      case 0x61: {
        const item = this.pop(); // APPEND
        this.append(this.top(), [item]);
        return;
      }
      case 0x65: {
        const items = this.popMark(); // APPENDS
        this.append(this.top(), items);
        return;
      }
      case 0x7d: // EMPTY_DICT
        this.push(new PyDict());
        return;
      case 0x64: {
        const d = new PyDict(); // DICT
        this.setItems(d, this.popMark());
        this.push(d);
        return;
      }
      case 0x73: {
        const value = this.pop(); // SETITEM
        const key = this.pop();
        this.setItems(this.top(), [key, value]);
        return;
      }
      case 0x75: {
        const items = this.popMark(); // SETITEMS
        this.setItems(this.top(), items);
        return;
      }
      case 0x8f: // EMPTY_SET
        this.push(new PySet());
        return;
      case 0x90: {
        const items = this.popMark(); // ADDITEMS
        this.addItems(this.top(), items);
        return;
      }
      case 0x91: {
        const s = new PySet(); // FROZENSET
        this.addItems(s, this.popMark());
        this.push(s);
        return;
      }
      case 0x71: // BINPUT
        this.put(this.u8());
        return;
      case 0x72: // LONG_BINPUT
        this.put(this.u32());
        return;
      case 0x70: // PUT (text)
        this.put(this.textIndex(this.line()));
        return;
      case 0x94: // MEMOIZE
        this.put(this.memo.size);
        return;
      case 0x68: // BINGET
        this.get(this.u8());
        return;
      case 0x6a: // LONG_BINGET
        this.get(this.u32());
        return;
      case 0x67: // GET (text)
        this.get(this.textIndex(this.line()));
        return;
      case 0x63: {
        const module = this.line(); // GLOBAL
        this.push(this.hooks.global(module, this.line(), 'GLOBAL'));
        return;
      }
      case 0x93: {
        const name = this.pop(); // STACK_GLOBAL
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw pickleError('STACK_GLOBAL needs two strings');
        this.push(this.hooks.global(module, name, 'STACK_GLOBAL'));
        return;
      }
      case 0x69: {
        const module = this.line(); // INST: names a class and calls it at once; refused via the hooks.
        this.hooks.global(module, this.line(), 'INST');
        throw new RnnError('unsupported', 'the INST opcode is not supported');
      }
      case 0x52: {
        const args = this.pop(); // REDUCE
        const fn = this.pop();
        if (!(args instanceof PyTuple)) throw pickleError(`REDUCE arguments are a ${kindOf(args)}, not a tuple`);
        this.push(this.hooks.reduce(fn, args));
        return;
      }
      case 0x62: {
        const state = this.pop(); // BUILD
        const inst = this.pop();
        this.push(this.hooks.build(inst, state));
        return;
      }
      case 0x51: // BINPERSID
        this.push(this.hooks.persistentLoad(this.pop()));
        return;
      case 0x50: // PERSID (text id)
        this.push(this.hooks.persistentLoad(this.line()));
        return;
      default: {
        const name = REFUSED[op];
        if (name !== undefined)
          throw new RnnError('unsupported', `pickle opcode ${name} is not supported (at byte ${at})`);
        throw pickleError(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
      }
    }
  }

  private long(n: number): number | bigint {
    if (n < 0) throw pickleError(`LONG with negative length ${n}`);
    if (n > MAX_LONG_BYTES) throw new RnnError('unsupported', `a ${n}-byte pickled integer is too large`);
    const b = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n); // two's complement
    return intValue(v);
  }

  private textInt(line: string, long: boolean): number | bigint | boolean {
    if (!long && line === '01') return true;
    if (!long && line === '00') return false;
    const digits = long && line.endsWith('L') ? line.slice(0, -1) : line;
    if (!/^[+-]?\d{1,400}$/.test(digits)) throw pickleError(`bad integer literal '${line.slice(0, 40)}'`);
    return intValue(BigInt(digits));
  }

  private textIndex(line: string): number {
    if (!/^\d{1,15}$/.test(line)) throw pickleError(`bad memo index '${line.slice(0, 40)}'`);
    return Number(line);
  }
}

function textFloat(line: string): number {
  const t = line.trim().toLowerCase();
  if (t === 'nan') return Number.NaN;
  if (t === 'inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw pickleError(`bad float literal '${line.slice(0, 40)}'`);
  return Number(t);
}

/** Python's raw-unicode-escape: bytes are latin-1 except \uXXXX and \UXXXXXXXX. */
function rawUnicodeEscape(line: string): string {
  return line.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_m, u: string | undefined, U: string | undefined) => {
      const cp = Number.parseInt(u ?? U ?? '', 16);
      if (cp > 0x10ffff) throw pickleError(`bad code point \\U${U ?? ''}`);
      return String.fromCodePoint(cp);
    },
  );
}

const ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t', '0': '\0' };

/** Protocol 0's STRING: a Python 2 repr in single or double quotes, with simple backslash escapes. */
function quotedString(line: string): string {
  const q = line[0];
  if (line.length < 2 || (q !== "'" && q !== '"') || line[line.length - 1] !== q) {
    throw pickleError('STRING is not a quoted literal');
  }
  return line.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
    if (e.length === 3) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    const c = ESCAPES[e];
    if (c === undefined) throw pickleError(`unknown escape \\${e} in STRING`);
    return c;
  });
}

export function kindOf(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return v.kind;
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'boolean') return 'bool';
  return 'str';
}
