// attention.cu — FP8 (E4M3FN) attention forward, flash-style online softmax; version 1: simple
// and correct, fp32 CUDA-core math (no tensor cores yet). Contract: AttentionKernel.forward in
// module attention (org.offload4j.attention); the Java side of the launch is
// org.offload4j.cuda.attention.AttentionLaunch, which computes everything below for a problem.
//
//   nvcc -c -arch=sm_90a -Xptxas -v attention.cu        (no spills, no local memory: see report)
//
// ================================== what it computes ===========================================
// For every batch b, query head h, query row i, with g = h / (Hq / Hkv) (GQA; Hkv = 1 is MQA):
//
//   t_j   = softmax_scale · qs(b,h) · ks(b,g) · Σ_d e4m3(q[b,h,i,d]) · e4m3(k[b,g,j,d])   visible j
//   out   = vs(b,g) · Σ_j softmax(t)_j · e4m3(v[b,g,j,:])     rounded once to bf16 (nearest even)
//   lse   = ln Σ_j exp(t_j)                                   fp32
//
// Key j is visible to query i iff !causal or j ≤ i + (Skv − Sq) (bottom-right aligned; see
// attn_last_visible_key). A row with no visible key (causal with Sq > Skv, or Skv = 0) gets
// out = +0.0 everywhere and lse = −∞. Every out element of rows 0..Sq−1 (and lse element) is
// written. The scales are folded into one fp32 factor on the raw e4m3 dot product:
//   t_j · log2 e = dot_j · (softmax_scale · qs · ks · log2 e)     (exp2 instead of exp)
// and vs is applied once at the end with 1/l.
//
// ================================== data layout ================================================
//   q    uint8 e4m3  rows r = (b·Hq + h)·Sq + i,  row r at q + r·q_ld bytes, D bytes used
//   k    uint8 e4m3  rows r = (b·Hkv + g)·kv_cap + j (j < Skv ≤ kv_cap), row r at k + r·k_ld bytes
//   v    uint8 e4m3  as k (its own v_ld)
//   out  bf16        rows r = (b·Hq + h)·Sq + i,  row r at out + r·out_ld elements
//   lse  fp32        [B·Hq, Sq]: element (b·Hq + h, i) at lse + (b·Hq + h)·lse_ld + i; may be NULL
//   scales fp32      scale of (b, h) at scales[b·stride_b + h·stride_h]:
//                    per tensor stride_b = stride_h = 0; per (batch, head) [B, H]: stride_b = H, 1
// Alignment (the launcher guarantees it; a device buffer from cuMemAlloc is 256-aligned):
//   q, k, v base and q_ld, k_ld, v_ld multiples of 4 bytes (32-bit loads of 4 codes);
//   out base 4-byte aligned and out_ld even (bf16 pairs stored as 32-bit words).
//
// ================================== partitioning ===============================================
//   grid  = (ceil(Sq / 16) · B · Hq, 1, 1), flat: block x → q tile = x % qTiles, bh = x / qTiles
//           (flat because B·Hq and Sq may each exceed gridDim.y's 65535)
//   block = (128, 1, 1): 4 warps; warp w owns the 4 query rows 4w .. 4w+3 of the 16-row tile
//   dynamic shared memory = 0; static shared memory per D (see the ptxas report):
//           q_sh  16 × D fp32              the tile's Q rows, decoded (unscaled)
//           k_sh  32 × (D/4 + 1) uint32    one key tile as raw codes; +1 word per row so that
//                                          lane j reading word w of key j hits bank (j + w) % 32
//           v_sh  32 × D/4 uint32          the key tile's V rows as raw codes
//           p_sh  16 × 32 fp32             the probabilities of the current key tile
//           D = 64: 10368 B   D = 128: 18560 B   D = 256: 34944 B   (< 48 KB: no opt-in needed)
//
//   block (q tile, b, h):                   key tiles of 32, only j0 < kv_end (causal skip)
//            ┌──────── K/V tile 0 ─┬─ tile 1 ─┬─ ... ─┐
//   warp 0   │ rows 0..3           │           │       │   per tile and row:
//   warp 1   │ rows 4..7           │           │       │     scores: lane j ↔ key j0 + j
//   warp 2   │ rows 8..11          │           │       │     max/sum: warp shuffles
//   warp 3   │ rows 12..15         │           │       │     PV: lane ↔ output columns
//            └─────────────────────┴───────────┴───────┘         lane·D/32 .. +D/32−1
//
// Pipeline per key tile (named as in the code):
//   load_kv_tile       all 128 threads copy 32 K rows and 32 V rows (32-bit words) to shared
//   score_tile         lane j: s[r] = Σ_d q_sh[row r][d] · e4m3(k_sh[j][d]), 4 rows per warp
//   online_softmax     per row: mask (j > last → −∞), warp max, attn_online_step, p, warp sum,
//                      rescale the row's accumulators by alpha, p to p_sh
//   accumulate_pv      for each key jj of the tile: decode V row jj at the lane's columns once,
//                      acc[r][c] += p_sh[r][jj] · v for the rows that see key jj (masked keys are
//                      skipped, not multiplied by 0, so a NaN code in a masked V row cannot leak)
// then write_output: out = bf16(acc · vs / l), lse = (m + log2 l) · ln 2.
//
// Index grammar: <operand>_<space>_<what>; _sh shared memory, _gl global, _ld leading dimension
// (row stride), i query row, j key, r row within the warp (0..3), c column within the lane's
// slice, kw word index along D (4 codes per word), kv_end the number of keys the tile visits.
//
// ================================== rejected alternatives ======================================
// * Tensor cores (mma.sync e4m3 on sm_89+, wgmma QGMMA on sm_90a): the next version; this one is
//   the reference point for them and runs on every target of the fatbin (sm_80 has no fp8 mma).
// * Decoding K/V to fp32 in shared memory: 4× the shared memory (D = 256 would need the 48 KB
//   opt-in) for a decode that costs a few integer ops per use here.
// * One thread per query row (no shuffles): D = 256 needs 256 fp32 accumulators per thread,
//   which spill; a lane slice of D/32 columns keeps 4·D/32 ≤ 32 accumulators in registers.
// * Zeroing p for rows with nothing visible (instead of the exp2 base 0): turns an all-NaN row
//   into a finite 0, against the NaN-propagation rule of the contract.
// * 64 keys per tile: D = 256 would then need > 48 KB of static shared memory.
#include <stdint.h>
#include "attention_numerics.cuh"

namespace {

constexpr int ATTN_THREADS = 128;         // 4 warps
constexpr int ATTN_BLOCK_M = 16;          // query rows per block
constexpr int ATTN_BLOCK_N = 32;          // keys per shared-memory tile
constexpr int ATTN_ROWS_PER_WARP = 4;     // ATTN_BLOCK_M / (ATTN_THREADS / 32)
constexpr float ATTN_LOG2E = 1.4426950408889634f;
constexpr float ATTN_LN2 = 0.6931471805599453f;

__device__ __forceinline__ float attn_warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, o));
    return x;
}

__device__ __forceinline__ float attn_warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xFFFFFFFFu, x, o);
    return x;
}

template <int D>
__device__ __forceinline__ void attn_fp8_fwd(
        const uint8_t* __restrict__ q, long long q_ld,
        const uint8_t* __restrict__ k, long long k_ld,
        const uint8_t* __restrict__ v, long long v_ld,
        const float* __restrict__ q_scales, long long q_scale_sb, long long q_scale_sh,
        const float* __restrict__ k_scales, long long k_scale_sb, long long k_scale_sh,
        const float* __restrict__ v_scales, long long v_scale_sb, long long v_scale_sh,
        uint16_t* __restrict__ out, long long out_ld,
        float* __restrict__ lse, long long lse_ld,
        int batch, int hq, int hkv, int sq, int skv, int kv_cap, int causal, float softmax_scale) {
    constexpr int KW = D / 4;                 // 32-bit words per row (4 codes each)
    constexpr int KW_PAD = KW + 1;            // k_sh row pitch in words (bank-conflict pad)
    constexpr int CPL = D / 32;               // output columns per lane
    __shared__ __align__(16) float q_sh[ATTN_BLOCK_M][D];        // read as float4
    __shared__ uint32_t k_sh[ATTN_BLOCK_N][KW_PAD];
    __shared__ __align__(16) uint32_t v_sh[ATTN_BLOCK_N][KW];    // read as uint2
    __shared__ float p_sh[ATTN_BLOCK_M][ATTN_BLOCK_N];

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int q_tiles = (sq + ATTN_BLOCK_M - 1) / ATTN_BLOCK_M;
    const int q_tile = blockIdx.x % q_tiles;
    const int bh = blockIdx.x / q_tiles;      // b·Hq + h
    const int b = bh / hq;
    const int h = bh % hq;
    const int g = h / (hq / hkv);
    const int i0 = q_tile * ATTN_BLOCK_M;
    const int tile_rows = min(ATTN_BLOCK_M, sq - i0);

    const float qs = q_scales[attn_scale_index(b, h, q_scale_sb, q_scale_sh)];
    const float ks = k_scales[attn_scale_index(b, g, k_scale_sb, k_scale_sh)];
    const float vs = v_scales[attn_scale_index(b, g, v_scale_sb, v_scale_sh)];
    const float logit_scale2 = softmax_scale * qs * ks * ATTN_LOG2E;

    const uint8_t* q_gl = q + ((long long) bh * sq + i0) * q_ld;
    const long long kv_row0 = attn_kv_row0(b, g, hkv, kv_cap);  // a KV cache's head holds kv_cap ≥ skv keys
    const uint8_t* k_gl = k + kv_row0 * k_ld;
    const uint8_t* v_gl = v + kv_row0 * v_ld;

    // load_q_tile: rows past Sq are zero (their results are never stored).
    for (int idx = tid; idx < ATTN_BLOCK_M * KW; idx += ATTN_THREADS) {
        const int r = idx / KW;
        const int kw = idx % KW;
        uint32_t word = 0;
        if (r < tile_rows) word = *reinterpret_cast<const uint32_t*>(q_gl + r * q_ld + 4 * kw);
#pragma unroll
        for (int x = 0; x < 4; x++) q_sh[r][4 * kw + x] = attn_e4m3_to_float(word >> (8 * x));
    }

    // Per row of this warp: last visible key (−1: none, also for rows past Sq), running state.
    int last[ATTN_ROWS_PER_WARP];
    float m[ATTN_ROWS_PER_WARP];
    float l[ATTN_ROWS_PER_WARP];
    float acc[ATTN_ROWS_PER_WARP][CPL];
#pragma unroll
    for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
        const int row = warp * ATTN_ROWS_PER_WARP + r;
        last[r] = row < tile_rows ? attn_last_visible_key(i0 + row, sq, skv, causal != 0) : -1;
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < CPL; c++) acc[r][c] = 0.0f;
    }

    const int kv_end = attn_kv_end(i0, tile_rows, sq, skv, causal != 0);
    for (int j0 = 0; j0 < kv_end; j0 += ATTN_BLOCK_N) {
        const int tile_keys = min(ATTN_BLOCK_N, kv_end - j0);
        __syncthreads();  // the previous tile's k_sh / v_sh / p_sh reads are done (and q_sh written)

        // load_kv_tile: keys past kv_end are zero codes (masked below, skipped in PV).
        for (int idx = tid; idx < ATTN_BLOCK_N * KW; idx += ATTN_THREADS) {
            const int jj = idx / KW;
            const int kw = idx % KW;
            uint32_t kword = 0, vword = 0;
            if (jj < tile_keys) {
                kword = *reinterpret_cast<const uint32_t*>(k_gl + (long long) (j0 + jj) * k_ld + 4 * kw);
                vword = *reinterpret_cast<const uint32_t*>(v_gl + (long long) (j0 + jj) * v_ld + 4 * kw);
            }
            k_sh[jj][kw] = kword;
            v_sh[jj][kw] = vword;
        }
        __syncthreads();

        // score_tile: lane ↔ key j0 + lane, 4 rows at once (Q reads are warp-wide broadcasts).
        float s[ATTN_ROWS_PER_WARP];
#pragma unroll
        for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) s[r] = 0.0f;
#pragma unroll 8  // 4 spilled 8 bytes on sm_80 at D = 128 (ptxas heuristics); 2 and 8 do not
        for (int kw = 0; kw < KW; kw++) {
            const uint32_t word = k_sh[lane][kw];
            const float k0 = attn_e4m3_to_float(word);
            const float k1 = attn_e4m3_to_float(word >> 8);
            const float k2 = attn_e4m3_to_float(word >> 16);
            const float k3 = attn_e4m3_to_float(word >> 24);
#pragma unroll
            for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
                const float4 qv = *reinterpret_cast<const float4*>(&q_sh[warp * ATTN_ROWS_PER_WARP + r][4 * kw]);
                s[r] = fmaf(qv.x, k0, s[r]);
                s[r] = fmaf(qv.y, k1, s[r]);
                s[r] = fmaf(qv.z, k2, s[r]);
                s[r] = fmaf(qv.w, k3, s[r]);
            }
        }

        // online_softmax
        const int j = j0 + lane;
#pragma unroll
        for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
            const float t = j <= last[r] ? s[r] * logit_scale2 : -INFINITY;
            const AttnOnline st = attn_online_step(m[r], attn_warp_max(t));
            const float p = attn_exp2(t - st.base);
            l[r] = l[r] * st.alpha + attn_warp_sum(p);
            m[r] = st.m_new;
#pragma unroll
            for (int c = 0; c < CPL; c++) acc[r][c] *= st.alpha;
            p_sh[warp * ATTN_ROWS_PER_WARP + r][lane] = p;
        }
        __syncwarp();

        // accumulate_pv: lane's columns c0 .. c0 + CPL − 1, c0 = lane·CPL.
        for (int jj = 0; jj < tile_keys; jj++) {
            float vf[CPL];
            const uint8_t* v_row = reinterpret_cast<const uint8_t*>(&v_sh[jj][0]) + lane * CPL;
            if constexpr (CPL == 2) {
                const uint32_t w = *reinterpret_cast<const uint16_t*>(v_row);
                vf[0] = attn_e4m3_to_float(w);
                vf[1] = attn_e4m3_to_float(w >> 8);
            } else if constexpr (CPL == 4) {
                const uint32_t w = *reinterpret_cast<const uint32_t*>(v_row);
#pragma unroll
                for (int x = 0; x < 4; x++) vf[x] = attn_e4m3_to_float(w >> (8 * x));
            } else {
                const uint2 w = *reinterpret_cast<const uint2*>(v_row);
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    vf[x] = attn_e4m3_to_float(w.x >> (8 * x));
                    vf[4 + x] = attn_e4m3_to_float(w.y >> (8 * x));
                }
            }
#pragma unroll
            for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
                if (j0 + jj <= last[r]) {   // uniform across the warp
                    const float p = p_sh[warp * ATTN_ROWS_PER_WARP + r][jj];
#pragma unroll
                    for (int c = 0; c < CPL; c++) acc[r][c] = fmaf(p, vf[c], acc[r][c]);
                }
            }
        }
    }

    // write_output
#pragma unroll
    for (int r = 0; r < ATTN_ROWS_PER_WARP; r++) {
        const int row = warp * ATTN_ROWS_PER_WARP + r;
        if (row >= tile_rows) continue;
        const int i = i0 + row;
        const bool none = last[r] < 0;
        const float inv = none ? 0.0f : vs / l[r];
        uint32_t packed[CPL / 2];
#pragma unroll
        for (int c = 0; c < CPL; c += 2) {
            const uint32_t lo = attn_float_to_bf16_rn(none ? 0.0f : acc[r][c] * inv);
            const uint32_t hi = attn_float_to_bf16_rn(none ? 0.0f : acc[r][c + 1] * inv);
            packed[c / 2] = lo | (hi << 16);
        }
        uint16_t* out_gl = out + ((long long) bh * sq + i) * out_ld + lane * CPL;
#pragma unroll
        for (int x = 0; x < CPL / 2; x++) reinterpret_cast<uint32_t*>(out_gl)[x] = packed[x];
        if (lse != nullptr && lane == 0) {
            lse[(long long) bh * lse_ld + i] = none ? -INFINITY : (m[r] + log2f(l[r])) * ATTN_LN2;
        }
    }
}

}  // namespace

// ================================== kernels ====================================================
// One kernel per head dimension; identical argument lists (in this order):
//   const uint8_t* q           Q codes, rows (b·Hq + h)·Sq + i
//   long long      q_ld        bytes between Q rows (≥ D, multiple of 4)
//   const uint8_t* k           K codes, rows (b·Hkv + g)·kv_cap + j
//   long long      k_ld        bytes between K rows (≥ D, multiple of 4)
//   const uint8_t* v           V codes, as K
//   long long      v_ld        bytes between V rows (≥ D, multiple of 4)
//   const float*   q_scales    Q scales: [1] or [B, Hq]
//   long long      q_scale_sb  0 (per tensor) or Hq (per batch·head)
//   long long      q_scale_sh  0 (per tensor) or 1
//   const float*   k_scales    K scales: [1] or [B, Hkv]
//   long long      k_scale_sb  0 or Hkv
//   long long      k_scale_sh  0 or 1
//   const float*   v_scales    V scales: [1] or [B, Hkv]
//   long long      v_scale_sb  0 or Hkv
//   long long      v_scale_sh  0 or 1
//   uint16_t*      out         bf16 output, rows (b·Hq + h)·Sq + i
//   long long      out_ld      elements between out rows (≥ D, even)
//   float*         lse         fp32 [B·Hq, Sq] or NULL (not written)
//   long long      lse_ld      elements between lse rows (≥ Sq); ignored when lse is NULL
//   int            batch       B ≥ 1
//   int            hq          Hq ≥ 1
//   int            hkv         Hkv ≥ 1, divides Hq
//   int            sq          Sq ≥ 1 (the launcher skips Sq = 0)
//   int            skv         Skv ≥ 0: the keys per head that take part
//   int            kv_cap      keys per head in K's and V's memory, ≥ Skv: key j of (b, g) is row
//                              (b·Hkv + g)·kv_cap + j (a KV cache filled to Skv); rows Skv … kv_cap − 1
//                              are never read
//   int            causal      0 or 1
//   float          softmax_scale  finite
// grid (ceil(Sq/16)·B·Hq, 1, 1), block (128, 1, 1), dynamic shared memory 0.
// Written out three times (no macro) so that each `extern "C" __global__ ... o4j_*(` sits on one
// line, where the build's kernel-name scan (build-fatbin.sh) finds it.
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) o4j_attention_fp8_fwd_d64(
        const uint8_t* __restrict__ q, long long q_ld,
        const uint8_t* __restrict__ k, long long k_ld,
        const uint8_t* __restrict__ v, long long v_ld,
        const float* __restrict__ q_scales, long long q_scale_sb, long long q_scale_sh,
        const float* __restrict__ k_scales, long long k_scale_sb, long long k_scale_sh,
        const float* __restrict__ v_scales, long long v_scale_sb, long long v_scale_sh,
        uint16_t* __restrict__ out, long long out_ld,
        float* __restrict__ lse, long long lse_ld,
        int batch, int hq, int hkv, int sq, int skv, int kv_cap, int causal, float softmax_scale) {
    attn_fp8_fwd<64>(q, q_ld, k, k_ld, v, v_ld, q_scales, q_scale_sb, q_scale_sh, k_scales, k_scale_sb, k_scale_sh,
                      v_scales, v_scale_sb, v_scale_sh, out, out_ld, lse, lse_ld, batch, hq, hkv, sq, skv, kv_cap, causal,
                      softmax_scale);
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS) o4j_attention_fp8_fwd_d128(
        const uint8_t* __restrict__ q, long long q_ld,
        const uint8_t* __restrict__ k, long long k_ld,
        const uint8_t* __restrict__ v, long long v_ld,
        const float* __restrict__ q_scales, long long q_scale_sb, long long q_scale_sh,
        const float* __restrict__ k_scales, long long k_scale_sb, long long k_scale_sh,
        const float* __restrict__ v_scales, long long v_scale_sb, long long v_scale_sh,
        uint16_t* __restrict__ out, long long out_ld,
        float* __restrict__ lse, long long lse_ld,
        int batch, int hq, int hkv, int sq, int skv, int kv_cap, int causal, float softmax_scale) {
    attn_fp8_fwd<128>(q, q_ld, k, k_ld, v, v_ld, q_scales, q_scale_sb, q_scale_sh, k_scales, k_scale_sb, k_scale_sh,
                      v_scales, v_scale_sb, v_scale_sh, out, out_ld, lse, lse_ld, batch, hq, hkv, sq, skv, kv_cap, causal,
                      softmax_scale);
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS) o4j_attention_fp8_fwd_d256(
        const uint8_t* __restrict__ q, long long q_ld,
        const uint8_t* __restrict__ k, long long k_ld,
        const uint8_t* __restrict__ v, long long v_ld,
        const float* __restrict__ q_scales, long long q_scale_sb, long long q_scale_sh,
        const float* __restrict__ k_scales, long long k_scale_sb, long long k_scale_sh,
        const float* __restrict__ v_scales, long long v_scale_sb, long long v_scale_sh,
        uint16_t* __restrict__ out, long long out_ld,
        float* __restrict__ lse, long long lse_ld,
        int batch, int hq, int hkv, int sq, int skv, int kv_cap, int causal, float softmax_scale) {
    attn_fp8_fwd<256>(q, q_ld, k, k_ld, v, v_ld, q_scales, q_scale_sb, q_scale_sh, k_scales, k_scale_sb, k_scale_sh,
                      v_scales, v_scale_sb, v_scale_sh, out, out_ld, lse, lse_ld, batch, hq, hkv, sq, skv, kv_cap, causal,
                      softmax_scale);
}
