#!/usr/bin/env python3
"""Writes the .npy and safetensors fixtures of org.offload4j.core.io's tests.

Run from anywhere:  python3 core/src/test/python/make_io_fixtures.py
Needs numpy (written with numpy 2.x). The output goes to core/src/test/resources/io/ and is
committed; the tests recompute the same values from the formulas below, so a change here must
be matched in NpyFixturesTest / SafeTensorsFixturesTest.

The .npy files are written by NumPy itself (np.save and np.lib.format.write_array), the
reference implementation of that format. The python `safetensors` package is not available
where these were made, so the safetensors files are written by `write_safetensors` below, which
follows the format specification (https://github.com/huggingface/safetensors, "Format") the way
the reference writer does: 8-byte little-endian header length N, then N bytes of compact UTF-8
JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}} padded with
spaces to a multiple of 8, then the tensors back to back, ordered as the reference writer orders
them: by its Dtype enum, highest first, then by name.
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "io")

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I32": 4, "I8": 1, "U8": 1, "I64": 8}
# The reference implementation's Dtype enum ("increasing alignment order"); its writer sorts by it, highest first.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> (dtype name, shape tuple, numpy array whose bytes are the data)."""
    order = sorted(tensors, key=lambda n: (-DTYPE_ORDER.index(tensors[n][0]), n.encode("utf-8")))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in order:
        dtype, shape, arr = tensors[name]
        data = np.ascontiguousarray(arr).tobytes()
        assert len(data) == int(np.prod(shape, dtype=np.int64)) * SIZES[dtype], name
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def f32_values():
    return ((np.arange(12, dtype=np.float32) - 5.5) / 4).reshape(3, 4)


def bf16_bits(a):
    """float32 -> bf16 bits, round to nearest even (the values used here are finite)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    f32 = f32_values()
    arrays = {
        "f32": f32,
        "f16": f32.astype(np.float16),
        "bf16": bf16_bits(f32),                                  # <u2: the bf16-in-npy convention
        "i32": (np.arange(-6, 6, dtype=np.int32) * 1000003).reshape(2, 3, 2),
        "i64": np.arange(5, dtype=np.int64) * (1 << 40) - 3,
        "f64": f32.astype(np.float64),                           # NumPy's default float type
        "i8": np.arange(-128, 128, 17, dtype=np.int8),
        "u8": np.arange(0, 256, 15, dtype=np.uint8).reshape(2, 9),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "long_shape": np.array([1.5, -2.0], dtype=np.float32).reshape((1,) * 20 + (2,)),  # header past 128 bytes
    }
    for name, a in arrays.items():
        np.save(os.path.join(OUT, name + ".npy"), a)
    for version in ((2, 0), (3, 0)):
        with open(os.path.join(OUT, "f32_v%d.npy" % version[0]), "wb") as f:
            np.lib.format.write_array(f, f32, version=version)
    # Files the reader must reject, each for one reason.
    np.save(os.path.join(OUT, "reject_fortran.npy"), np.asfortranarray(f32))
    np.save(os.path.join(OUT, "reject_big_endian.npy"), f32.astype(">f4"))
    np.save(os.path.join(OUT, "reject_c64.npy"), f32.astype(np.complex64))

    fp8 = (np.arange(12, dtype=np.uint8) * 7 + 1).reshape(3, 4)   # raw FP8 codes: NumPy has no FP8
    st = {
        "f32": ("F32", (3, 4), f32),
        "f16": ("F16", (3, 4), f32.astype(np.float16)),
        "bf16": ("BF16", (3, 4), bf16_bits(f32)),
        "f8_e4m3": ("F8_E4M3", (3, 4), fp8),
        "f8_e5m2": ("F8_E5M2", (3, 4), fp8[::-1]),
        "i32": ("I32", (2, 3, 2), arrays["i32"]),
        "i8": ("I8", (16,), arrays["i8"]),
        "u8": ("U8", (2, 9), arrays["u8"]),
        "i64": ("I64", (5,), arrays["i64"]),
        "scalar": ("F32", (), arrays["scalar"]),
        "empty": ("F32", (0, 3), arrays["empty"]),
    }
    write_safetensors(os.path.join(OUT, "all_dtypes.safetensors"), st,
                      {"format": "pt", "source": "make_io_fixtures.py"})

    shard1 = {"a.weight": st["f32"], "a.bias": ("F32", (4,), f32[0])}
    shard2 = {"b.weight": st["bf16"]}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    write_safetensors(os.path.join(OUT, "sharded", names[0]), shard1, {"format": "pt"})
    write_safetensors(os.path.join(OUT, "sharded", names[1]), shard2, {"format": "pt"})
    weight_map = {n: names[0] for n in shard1}
    weight_map.update({n: names[1] for n in shard2})
    total = sum(int(np.prod(s, dtype=np.int64)) * SIZES[d] for d, s, _ in list(shard1.values()) + list(shard2.values()))
    with open(os.path.join(OUT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)


if __name__ == "__main__":
    main()
