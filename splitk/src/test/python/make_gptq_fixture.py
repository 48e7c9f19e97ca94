#!/usr/bin/env python3
"""Writes the GPTQ checkpoint fixtures of org.offload4j.w4a16's tests.

Run from anywhere:  python3 splitk/src/test/python/make_gptq_fixture.py   (numpy 2.x)
Output, committed: splitk/src/test/resources/gptq/{plain,actorder}/
  model.safetensors    one layer "layer" (k = 128, n = 32, group size 32) packed as AutoGPTQ packs it:
                       layer.qweight I32 [k/8, n], layer.qzeros I32 [k/g, n/8] (v1: z - 1 per nibble),
                       layer.scales F16 [k/g, n], layer.g_idx I32 [k], layer.bias F16 [n]
  quantize_config.json (plain) or config.json with "quantization_config" (actorder)
  dequantized.npy      float32 [k, n]: W[kk, j] = (q[kk, j] - z[g_idx[kk], j]) * s[g_idx[kk], j],
                       computed in float64 from the same integers and fp16 scales, then stored as
                       float32, which holds it exactly (an fp16 scale times an integer |q - z| <= 15)

The python `safetensors` package is not available where these were made; the file is written by
`write_safetensors` below, which follows the format specification (8-byte little-endian header
length, compact UTF-8 JSON header padded with spaces to a multiple of 8, tensors back to back),
as core/src/test/python/make_io_fixtures.py does.

act-order: GPTQ with desc_act quantizes the rows of W in a permuted order `perm` (by decreasing
Hessian diagonal) and assigns group i // g to the i-th row it processes: g_idx[perm[i]] = i // g.
Here `perm` is a seeded random permutation, which is all the file format can tell apart.
"""
import json
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "gptq")
K, N, G = 128, 32, 32


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, arr = tensors[name]
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def pack_rows(q):
    """[k, n] nibbles -> [k/8, n] words, row 8r+i in bits 4i..4i+3 (AutoGPTQ's qweight)."""
    q = q.astype(np.uint32)
    out = np.zeros((q.shape[0] // 8, q.shape[1]), dtype=np.uint32)
    for i in range(8):
        out |= q[i::8, :] << np.uint32(4 * i)
    return out.view(np.int32)


def pack_cols(z):
    """[groups, n] nibbles -> [groups, n/8] words, column 8c+i in bits 4i..4i+3 (AutoGPTQ's qzeros)."""
    z = z.astype(np.uint32) & np.uint32(0xF)
    out = np.zeros((z.shape[0], z.shape[1] // 8), dtype=np.uint32)
    for i in range(8):
        out |= z[:, i::8] << np.uint32(4 * i)
    return out.view(np.int32)


def make(name, act_order, seed):
    rng = np.random.default_rng(seed)
    groups = K // G
    q = rng.integers(0, 16, size=(K, N))
    z = rng.integers(0, 16, size=(groups, N))           # z = 0 exercises the v1 wrap (stored as 0xF)
    scales = (rng.random((groups, N)) * 0.02 + 0.001).astype(np.float16)
    if act_order:
        perm = rng.permutation(K)
        g_idx = np.empty(K, dtype=np.int32)
        g_idx[perm] = np.arange(K) // G
    else:
        g_idx = (np.arange(K) // G).astype(np.int32)
    bias = (rng.standard_normal(N) * 0.1).astype(np.float16)
    tensors = {
        "layer.qweight": ("I32", pack_rows(q)),
        "layer.qzeros": ("I32", pack_cols(z - 1)),     # AutoGPTQ (v1) stores z - 1
        "layer.scales": ("F16", scales),
        "layer.g_idx": ("I32", g_idx),
        "layer.bias": ("F16", bias),
    }
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    quant = {"bits": 4, "group_size": G, "desc_act": act_order, "sym": False, "true_sequential": True,
             "model_file_base_name": "model", "quant_method": "gptq"}
    if act_order:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"architectures": ["FixtureForCausalLM"], "quantization_config": quant}, f, indent=2)
    else:
        with open(os.path.join(d, "quantize_config.json"), "w") as f:
            json.dump(quant, f, indent=2)
    w = (q.astype(np.float64) - z[g_idx, :]) * scales.astype(np.float64)[g_idx, :]
    assert np.array_equal(w.astype(np.float32).astype(np.float64), w), "float32 must hold the reference exactly"
    np.save(os.path.join(d, "dequantized.npy"), w.astype(np.float32))


if __name__ == "__main__":
    make("plain", act_order=False, seed=1)
    make("actorder", act_order=True, seed=2)
