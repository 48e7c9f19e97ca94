// moe_numerics.cuh — numerics and index math of the MoE kernels (moe.cu) that are easy to get
// wrong, as __host__ __device__ inline functions, checked on the CPU by
// src/test/cuda/moe_host_test.cu. Names start with moe_; private copies (the attention kernels
// have their own bf16 rounding), so that no header is shared between .cu files of the fatbin.
//
// Contents
//   moe_bf16_to_float / moe_float_to_bf16_rn / moe_fp16_to_float    exact widening, RNE narrowing
//   moe_topk_key            the total order of the router's top-k (value desc, ties → lower index)
//   moe_count_tiles / moe_tile_at                                   the grouped-GEMM tile list
//   moe_int4_nibble / moe_dequant                                   the GPTQ int4 layout
//   moe_silu_mul            silu(g) · u
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define MOE_HD __host__ __device__ __forceinline__
#else
#define MOE_HD inline
#endif

MOE_HD uint32_t moe_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    union { uint32_t u; float f; } cv; cv.f = f; return cv.u;
#endif
}

MOE_HD float moe_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    union { uint32_t u; float f; } cv; cv.u = u; return cv.f;
#endif
}

// bf16 → fp32: exact (a shift).
MOE_HD float moe_bf16_to_float(uint16_t b) { return moe_float((uint32_t) b << 16); }

// fp32 → bf16, nearest even; NaN → quiet NaN keeping sign and top payload (as core's Bf16).
MOE_HD uint16_t moe_float_to_bf16_rn(float x) {
    uint32_t bits = moe_bits(x);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t) ((bits >> 16) | 0x0040u);
    return (uint16_t) ((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// IEEE fp16 → fp32, exact for every pattern (subnormals, infinities, NaN payloads shifted).
// Rejected: __half2float (device-only in older headers; this one also runs in the host test).
MOE_HD float moe_fp16_to_float(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu;
    uint32_t m = h & 0x3FFu;
    if (e == 0x1Fu) return moe_float(sign | 0x7F800000u | (m << 13));      // inf / NaN
    if (e != 0) return moe_float(sign | ((e + 112u) << 23) | (m << 13));   // normal: bias 15 → 127
    float mag = (float) m * 5.9604644775390625e-8f;                         // m · 2^-24, exact
    return moe_float(moe_bits(mag) | sign);
}

// ---------------------------------------------------------------------------------------------
// The router's top-k order as one unsigned 64-bit key per (logit, expert): the larger key ranks
// first. High word: the logit mapped monotonically onto uint32 (−0 counted as +0, so equal
// logits tie as they do under ==; NaN → 0, below −∞, so a NaN logit is chosen only after every
// number). Low word: 0xFFFFFFFF − e, so among equal logits the lower expert index ranks first.
// Keys are distinct (the expert index is in them), hence
//   choice 0 = the largest key; choice j + 1 = the largest key strictly below choice j's
// with no "taken" list: MoeReference's strict-'>' scan over the untaken experts gives the same
// sequence for every non-NaN input (checked in moe_host_test.cu).
MOE_HD unsigned long long moe_topk_key(float logit, int expert) {
    float v = logit + 0.0f;               // −0 → +0
    uint32_t u = moe_bits(v);
    uint32_t ord;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
        ord = 0;                          // NaN: last
    } else {
        ord = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return ((unsigned long long) ord << 32) | (unsigned long long) (0xFFFFFFFFu - (uint32_t) expert);
}

// The router's softmax numerator of logit v, given mx = the largest non-NaN logit (−∞ if none):
// exp(v − mx) for a finite mx, NaN → 0. When fp32 logits overflow, mx = +∞ and exp(∞ − ∞) would
// be NaN: the +∞ logits share the weight (the limit of the softmax), the rest get 0. With no
// logit above −∞ (all −∞ or NaN, as a NaN x row gives) every expert weighs 1: uniform weights,
// and the token's output is NaN through its x. The same rule as VectorMoeKernel and MoeReference.
MOE_HD float moe_softmax_term(float v, float mx) {
    if (mx == INFINITY) return v == INFINITY ? 1.0f : 0.0f;
    if (mx == -INFINITY) return 1.0f;
    return v != v ? 0.0f : expf(v - mx);
}

MOE_HD int moe_topk_key_expert(unsigned long long key) {
    return (int) (0xFFFFFFFFu - (uint32_t) (key & 0xFFFFFFFFull));
}

// ---------------------------------------------------------------------------------------------
// The grouped-GEMM tile list. offsets [E + 1] are Routing.offsets(): expert e owns permuted
// rows offsets[e] .. offsets[e+1]−1. Each expert's rows are cut into tiles of bm rows; a tile
// never spans two experts, so one block reads one expert's weights.
//
//   E = 4, bm = 16, offsets = {0, 0, 5, 5, 38}
//     expert 0: no rows        → no tile
//     expert 1: rows 0 .. 4    → tile (1, 0)            5 rows
//     expert 2: no rows        → no tile
//     expert 3: rows 5 .. 37   → tiles (3, 5) (3, 21) (3, 37)    16 + 16 + 1 rows
//   a tile's rows: row0 .. min(row0 + bm, offsets[e + 1]) − 1
//
// The list is int32 [num_tiles][2] = (expert, row0), built on the host (Java: MoeLaunch.tiles)
// in expert order.
MOE_HD int moe_count_tiles(const int* offsets, int experts, int bm) {
    int n = 0;
    for (int e = 0; e < experts; e++) n += (offsets[e + 1] - offsets[e] + bm - 1) / bm;
    return n;
}

// Writes the tile list; returns the number of tiles written.
MOE_HD int moe_build_tiles(const int* offsets, int experts, int bm, int* tiles) {
    int n = 0;
    for (int e = 0; e < experts; e++)
        for (int r = offsets[e]; r < offsets[e + 1]; r += bm) {
            tiles[2 * n] = e;
            tiles[2 * n + 1] = r;
            n++;
        }
    return n;
}

// ---------------------------------------------------------------------------------------------
// GPTQ int4 (splitk's QuantizedWeight): qweight word (r, j) holds column j, rows 8r .. 8r+7,
// row 8r + i in bits 4i .. 4i+3; qzeros word (gi, c) holds group gi, columns 8c .. 8c+7 likewise.
MOE_HD uint32_t moe_int4_nibble(uint32_t word, int i) { return (word >> (4 * i)) & 0xFu; }

// (q − z) · s with q − z an exact small integer: one rounding, as W4A16ExpertWeights.decode.
MOE_HD float moe_dequant(uint32_t q, uint32_t z, float s) { return (float) ((int) q - (int) z) * s; }

// silu(g) · u = g · sigmoid(g) · u, written g / (1 + e^−g) · u as MoeReference.swiglu; expf is the
// accurate one (≤ 2 ulp), not __expf. g → −∞: e^−g = inf → g / inf = −0; g → +∞: g · u.
MOE_HD float moe_silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }
