// attention_numerics.cuh — index math and numerics of the FP8 attention kernel (attention.cu)
// that are easy to get wrong, as __host__ __device__ inline functions, so that the host test
// (src/test/cuda/attention_host_test.cu) checks the very code the kernel runs.
//
// Everything here is private to attention.cu (names start with attn_); the other kernels of the
// module keep their own copies of shared helpers (bf16 rounding), so no two .cu files of the one
// fatbin define or include a common header that could drift or collide.
//
// Contents
//   attn_e4m3_to_float      exact E4M3FN decode, bit-identical to org.offload4j.core.numerics.Fp8
//   attn_float_to_bf16_rn   round to nearest even, bit-identical to org.offload4j.core.numerics.Bf16
//   attn_last_visible_key   the causal bound, bottom-right aligned
//   attn_kv_end             how many keys a tile of query rows must visit
//   attn_scale_index        where a per-tensor / per-(batch, head) scale lives
//   attn_kv_row0            the K/V row of a head's first key in a KV cache of kv_cap keys per head
//   attn_online_step        one online-softmax update of (m, l, alpha, p) in log2 units
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define ATTN_HD __host__ __device__ __forceinline__
#else
#define ATTN_HD inline
#endif

// ---------------------------------------------------------------------------------------------
// E4M3FN (OCP FP8): 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinity, S.1111.111 = NaN.
//
//   exp field e > 0 : (-1)^s · 2^(e−7) · (1 + m/8)    → float bits s | (e + 120) << 23 | m << 20
//   exp field e = 0 : (-1)^s · m · 2^−9               → (float) m · 2^−9, exact (m < 8)
//   0x7F, 0xFF      : NaN                            → 0x7FC00000, the positive canonical NaN
//
// The float result is exact for every code; NaN is the positive canonical NaN for both NaN
// codes, as Fp8.e4m3ToFloat (and CUDA's __nv_cvt_fp8_to_halfraw, which returns 0x7FFF) do.
// Rejected: a 256-entry table in shared memory (one LDS per element, but a 1 KB fill per block
// and bank conflicts on random codes), and the shift trick (bits << 20 then · 2^120), which
// runs through float subnormals and is wrong under -ftz=true.
ATTN_HD float attn_e4m3_to_float(uint32_t code) {
    uint32_t b = code & 0xFFu;
    uint32_t sign = (b & 0x80u) << 24;
    uint32_t e = (b >> 3) & 0xFu;
    uint32_t m = b & 0x7u;
    float mag;
    if (e != 0) {
        uint32_t bits = ((e + 120u) << 23) | (m << 20);
#if defined(__CUDA_ARCH__)
        mag = __uint_as_float(bits);
#else
        union { uint32_t u; float f; } cv; cv.u = bits; mag = cv.f;
#endif
    } else {
        mag = (float) m * 0.001953125f;  // m · 2^-9
    }
    uint32_t out;
#if defined(__CUDA_ARCH__)
    out = __float_as_uint(mag) | sign;
#else
    { union { uint32_t u; float f; } cv; cv.f = mag; out = cv.u | sign; }
#endif
    if ((b & 0x7Fu) == 0x7Fu) {
        out = 0x7FC00000u;
    }
#if defined(__CUDA_ARCH__)
    return __uint_as_float(out);
#else
    union { uint32_t u; float f; } cv; cv.u = out; return cv.f;
#endif
}

// ---------------------------------------------------------------------------------------------
// float → bf16, round to nearest, ties to even; NaN stays a quiet NaN with its sign and top
// payload (bits >> 16 | 0x40). Identical to Bf16.fromFloat (and to __float2bfloat16_rn on
// finite values and infinities).
ATTN_HD uint16_t attn_float_to_bf16_rn(float x) {
    uint32_t bits;
#if defined(__CUDA_ARCH__)
    bits = __float_as_uint(x);
#else
    { union { uint32_t u; float f; } cv; cv.f = x; bits = cv.u; }
#endif
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        return (uint16_t) ((bits >> 16) | 0x0040u);
    }
    uint32_t rounding_bias = 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t) ((bits + rounding_bias) >> 16);
}

// ---------------------------------------------------------------------------------------------
// The last key query row i may see, or −1 when it sees none.
//
//   not causal : Skv − 1                              (−1 when Skv = 0)
//   causal     : min(Skv − 1, i + (Skv − Sq))         bottom-right alignment: the last query row
//                                                     (i = Sq − 1) sees every key
//
//   Sq = 3, Skv = 5 (offset +2)   Sq = 5, Skv = 3 (offset −2)
//   i=0  x x x . .  last 2         i=0,1  . . .  last −2, −1 → −1: no visible key
//   i=1  x x x x .  last 3         i=2    x . .  last 0
//   i=2  x x x x x  last 4         i=4    x x x  last 2
//
// 64-bit arithmetic: i + Skv − Sq cannot overflow for int sizes.
ATTN_HD int attn_last_visible_key(int i, int sq, int skv, bool causal) {
    long long last = (long long) skv - 1;
    if (causal) {
        long long diag = (long long) i + (long long) skv - (long long) sq;
        if (diag < last) last = diag;
    }
    return last < 0 ? -1 : (int) last;
}

// How many keys (a prefix 0 .. kv_end − 1) the query rows i0 .. i0 + rows − 1 (rows ≥ 1, clipped
// to Sq by the caller) visit: the last visible key of the tile's last row, plus one; 0 when no
// row of the tile sees a key. The kernel loops over key tiles j0 < kv_end only.
ATTN_HD int attn_kv_end(int i0, int rows, int sq, int skv, bool causal) {
    return attn_last_visible_key(i0 + rows - 1, sq, skv, causal) + 1;
}

// Index of the scale of (b, h) in a scales array: per tensor (stride_b = stride_h = 0, one
// float) or per (batch, head) (stride_b = H, stride_h = 1, [B, H] row-major).
ATTN_HD long long attn_scale_index(int b, int h, long long stride_b, long long stride_h) {
    return (long long) b * stride_b + (long long) h * stride_h;
}

// Row of key 0 of KV head g in batch b: K and V are [B, Hkv, kv_cap, D] (a KV cache filled to
// Skv ≤ kv_cap keys per head; kv_cap = Skv for compact K and V), so key j is this row + j. In
// 64 bits: B·Hkv·kv_cap rows can pass 2^31.
ATTN_HD long long attn_kv_row0(int b, int g, int hkv, int kv_cap) {
    return ((long long) b * hkv + g) * kv_cap;
}

// ---------------------------------------------------------------------------------------------
// One online-softmax step for one query row, in log2 units (t = logit · log2 e).
//
//   m_new = max(m, t_max)                 t_max the maximum of the tile's visible logits
//   base  = m_new, or 0 when m_new = −∞   (a row with nothing visible yet: no −∞ − −∞ = NaN)
//   alpha = 2^(m − base)                  factor on the old l and accumulators (0 when m = −∞)
//   p_j   = 2^(t_j − base)                per key; masked keys have t_j = −∞ → p_j = 0
//
// NaN logits (an FP8 NaN code in Q or K) are ignored by the max (fmaxf returns the other
// operand) but reach p_j = NaN, hence l and the row's outputs: NaN propagates, never silently
// turns into a finite value, as Attention's contract asks. The base is kept rather than p
// forced to zero so that an all-NaN row still produces NaN.
struct AttnOnline {
    float m_new;  // the new running maximum (−∞ while nothing was visible)
    float base;   // the exponent base used for this tile
    float alpha;  // rescale factor of the previous l and accumulators
};

ATTN_HD float attn_exp2(float x) {
#if defined(__CUDA_ARCH__)
    return exp2f(x);
#else
    return __builtin_exp2f(x);
#endif
}

ATTN_HD AttnOnline attn_online_step(float m_old, float tile_max) {
    AttnOnline s;
    s.m_new = fmaxf(m_old, tile_max);
    s.base = (s.m_new == -INFINITY) ? 0.0f : s.m_new;
    s.alpha = attn_exp2(m_old - s.base);
    return s;
}
