"""Writes the safetensors fixtures in test/fixtures/safetensors/ with real PyTorch.

Run with /usr/bin/python3 (it has torch 1.13). There is no `safetensors` package here, so the format is written
by hand from its spec: u64 little-endian header length, UTF-8 JSON header padded with spaces to a multiple of 8,
then the tensors' bytes, little-endian, C order. F16 and BF16 tensors come from torch's own .half() and
.bfloat16(), and their expected float32 values from torch's .float(), so the TypeScript conversions are checked
against PyTorch, not against themselves.

Files:
  mixed.safetensors      every supported dtype, a 0-d and an empty tensor, a non-ASCII name, one metadata key;
                         laid out like the reference writer (descending dtype alignment, then name), so the
                         TypeScript writer must reproduce it byte for byte.
  half_sweep.safetensors F16 and BF16 bit patterns (all zeros, subnormals, infinities, NaNs, and a stride
                         through the rest) next to torch's float32 conversions of them.
  unaligned.safetensors  header not padded and its keys not in data order, so the data section and the F64
                         tensor in it start at odd addresses.
  expected.json          for each file and tensor: dtype, shape, and the element bit patterns as hex strings
                         (float32 bits for F16/BF16 after torch's .float()), integers as decimal strings.
"""

import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'safetensors')

DTYPE = {
    torch.float32: 'F32',
    torch.float64: 'F64',
    torch.float16: 'F16',
    torch.bfloat16: 'BF16',
    torch.int64: 'I64',
    torch.int32: 'I32',
}
# Order of the reference implementation's Dtype enum (it grows with alignment); its writer sorts by this,
# descending, then by name.
RANK = {'F16': 0, 'BF16': 1, 'I32': 2, 'F32': 3, 'F64': 4, 'I64': 5}


def raw_bytes(t):
    """Little-endian element bytes, C order, through an integer view so no value is touched."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype('<i2').tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()


def write(path, tensors, metadata=None, order=None, header_order=None, pad=True):
    """tensors: list of (name, tensor). order: data order (default: the reference writer's)."""
    if order is None:
        order = sorted(tensors, key=lambda nt: (-RANK[DTYPE[nt[1].dtype]], nt[0].encode('utf-8')))
    infos = {}
    chunks = []
    offset = 0
    for name, t in order:
        b = raw_bytes(t)
        infos[name] = {'dtype': DTYPE[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    header = {}
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, _ in header_order or order:
        header[name] = infos[name]
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    if pad:
        text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    return len(text)


def expected_of(t):
    """What reading the tensor must give: shape and exact element bits (float32 for F16/BF16, as torch converts)."""
    dt = DTYPE[t.dtype]
    flat = t.contiguous().reshape(-1)
    if dt in ('F16', 'BF16', 'F32'):
        f = flat.float()
        values = ['%08x' % (v & 0xFFFFFFFF) for v in f.view(torch.int32).tolist()]
    elif dt == 'F64':
        values = ['%016x' % (v & 0xFFFFFFFFFFFFFFFF) for v in flat.view(torch.int64).tolist()]
    else:
        values = [str(v) for v in flat.tolist()]
    out = {'dtype': dt, 'shape': list(t.shape), 'values': values}
    if dt in ('F16', 'BF16'):
        out['raw'] = ['%04x' % (v & 0xFFFF) for v in flat.view(torch.int16).tolist()]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    expected = {}

    specials = [0.0, -0.0, 1.0, -2.5, 1 / 3, 0.1, 3.14159, float('inf'), float('-inf'), float('nan')]
    half_values = specials + [65504.0, 70000.0, 1e-5, -3e-7, 6e-8, 2e-8, 6.1e-5]
    bf16_values = specials + [3.0e38, 3.4e38, 1e-39, -1e-41, 1e-45, -7.5e-3, 1.17549435e-38]
    mixed = [
        ('weight_ih_l0', torch.randn(3, 2)),
        ('bias_f64', torch.randn(4, dtype=torch.float64)),
        ('half', torch.tensor(half_values, dtype=torch.float32).half()),
        ('bfloat', torch.tensor(bf16_values, dtype=torch.float32).bfloat16()),
        ('lengths', torch.tensor([0, 1, -1, 42, 2**53 - 1, -(2**53 - 1)], dtype=torch.int64)),
        ('steps', torch.tensor([[-(2**31), 2**31 - 1], [0, 7]], dtype=torch.int32)),
        ('scalar', torch.tensor(2.5)),
        ('empty', torch.zeros(0, 3)),
        ('\u00b5.weight', torch.randn(2, 2, 2)),
    ]
    write(os.path.join(OUT, 'mixed.safetensors'), mixed, metadata={'format': 'pt'})
    expected['mixed.safetensors'] = {name: expected_of(t) for name, t in mixed}

    def half_patterns(exp_mask, exp_all):
        # Every pattern whose exponent is all zeros or all ones, plus a stride through the rest.
        picked = [b for b in range(65536) if (b & exp_mask) in (0, exp_all)]
        picked += [b for b in range(0, 65536, 29) if (b & exp_mask) not in (0, exp_all)]
        return torch.tensor([b - 65536 if b >= 32768 else b for b in sorted(picked)], dtype=torch.int16)

    f16 = half_patterns(0x7C00, 0x7C00).view(torch.float16)
    bf16 = half_patterns(0x7F80, 0x7F80).view(torch.bfloat16)
    sweep = [('f16', f16), ('f16_as_f32', f16.float()), ('bf16', bf16), ('bf16_as_f32', bf16.float())]
    write(os.path.join(OUT, 'half_sweep.safetensors'), sweep)
    expected['half_sweep.safetensors'] = {
        'f16': {'count': f16.numel()},
        'bf16': {'count': bf16.numel()},
    }

    odd = [
        ('a_f32', torch.randn(3)),
        ('b_f64', torch.randn(2, 2, dtype=torch.float64)),
        ('c_i64', torch.tensor([7, -8], dtype=torch.int64)),
    ]
    # Data order a, b, c puts b_f64 at data offset 12 (not a multiple of 8); the header lists c, a, b and is
    # not padded, and a metadata note of the right length makes the data section start at an odd address.
    path = os.path.join(OUT, 'unaligned.safetensors')
    for k in range(8):
        n = write(path, odd, metadata={'note': 'x' * k}, order=odd, header_order=[odd[2], odd[0], odd[1]], pad=False)
        if n % 8 == 3:
            break
    assert (8 + n) % 8 == 3, 'the data section should start at an odd address'
    expected['unaligned.safetensors'] = {name: expected_of(t) for name, t in odd}

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write('\n')
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == '__main__':
    main()
