// moe.cu — the device steps of the MoE layer; version 1: simple and correct, fp32 CUDA-core
// math. Contract: MoeKernel in module moe (org.offload4j.moe); the Java side of each launch is
// org.offload4j.cuda.moe.MoeLaunch. The permutation (Routing) is host code in the op module: the
// kernels receive its arrays (offsets, copy → token, token·slot → copy) as int32 device buffers.
//
//   nvcc -c -arch=sm_90a -Xptxas -v moe.cu        (no spills, no local memory: see report)
//
// ================================== the layer, as these kernels run it =========================
//   o4j_moe_router_logits     logits [T, E] fp32 = x [T, d_model] bf16 · Wr [d_model, E]
//   o4j_moe_router_topk       per token: softmax, top-k (ties → lower expert), weights
//                             → expertIds [T·k] int32, weights [T·k] fp32  (copied back to Java,
//                               which builds the Routing: offsets, copy maps)
//   o4j_moe_grouped_gemm_bf16 / _w4a16
//                             out[p] = in[in_row(p)] · M[e(p)]   per tile of ≤ 16 rows of one expert
//                             (in_row = copy → token fuses the gather of x into the first GEMM)
//   o4j_moe_swiglu            a = silu(h[:, :d_ff]) ⊙ h[:, d_ff:]
//   o4j_moe_combine           out[t] = Σ_j w[t·k + j] · y[copy_of[t·k + j]]   slot order j = 0..k−1
//
//   forward: grouped_gemm(W1, in = x, in_row = copy→token) → h fp32 → swiglu → a fp32
//            → grouped_gemm(W2) → y fp32 → combine → out (bf16 or fp32)
//
// Activations ("act" below) are bf16 or fp32 independently per tensor (an int flag per tensor,
// 1 = bf16, 0 = fp32), row-major with a row stride in elements (_ld). Every output element is
// rounded once (bf16: nearest even, as core's Bf16); sums are fp32 in a fixed order.
//
// ================================== grouped GEMM partitioning ==================================
//   permuted rows p (sorted by expert)       tile list (expert, row0), built on the host
//   ┌──────────┐ offsets[0]                  from Routing.offsets (moe_build_tiles / MoeLaunch):
//   │ expert 0 │  rows 0..20    ─► tiles (0,0) (0,16)          ≤ 16 rows each, one expert each
//   ├──────────┤ offsets[1]
//   │ expert 2 │  rows 21..23   ─► tile  (2,21)                (expert 1 has no rows: no tile,
//   └──────────┘ offsets[3]                                      its weights are never read)
//   grid = (num_tiles, ceil(N / 128)); block = 128 threads, thread t ↔ output column
//   n = 128·blockIdx.y + t, with 16 fp32 accumulators (one per row of the tile).
//   Per K chunk of 32: the tile's A rows are staged in a_sh [16][32] fp32 (all threads), then
//   each thread streams its column of the expert's weights (coalesced across the warp: bf16
//   rows are contiguous along n; int4 words [K/8, N] too) and does 16 FMAs per weight.
//   Weights are read once per tile: a (row tile × 128 columns) block of W never goes to shared
//   memory because only this block uses it.
//
// Index grammar: <operand>_<space>_<what>: _gl global, _sh shared, _ld row stride in elements,
// p permuted row (copy), t token, e expert, n output column, kk reduction index, g group size.
//
// ================================== rejected alternatives ======================================
// * Tensor-core tiles (mma.sync bf16 / wgmma): next version; this one is the oracle for it.
// * One launch per expert (E launches, host loop): E up to 65536, most with few rows; the tile
//   list covers all experts in one launch and skips empty ones for free.
// * Finding a block's expert by a binary search over offsets in the kernel: the same result for
//   a host loop of E steps once per routing; the explicit list is easier to test.
// * A separate gather kernel for x → xp: the in_row map in the GEMM reads x rows directly.
// * A fused route kernel (GEMM + softmax + top-k): E up to 65536 logits per token do not fit
//   shared memory; two kernels with fp32 logits in between are simple and exact enough.
#include <stdint.h>
#include "moe_numerics.cuh"

namespace {

constexpr int MOE_GEMM_THREADS = 128;   // = columns per block
constexpr int MOE_GEMM_BM = 16;         // rows per tile
constexpr int MOE_GEMM_BK = 32;         // reduction chunk (a multiple of 8: whole int4 words)
constexpr int MOE_ROUTER_THREADS = 128; // = experts per block
constexpr int MOE_ROUTER_TOKENS = 8;    // tokens per block
constexpr int MOE_ROUTER_CHUNK = 128;   // d_model chunk staged in shared memory
constexpr int MOE_TOPK_WARPS = 4;       // tokens per block (a warp per token)
constexpr int MOE_ELEM_THREADS = 256;   // swiglu and combine

__device__ __forceinline__ float moe_load_act(const void* base, int is_bf16, long long idx) {
    return is_bf16 ? moe_bf16_to_float(static_cast<const uint16_t*>(base)[idx])
                   : static_cast<const float*>(base)[idx];
}

__device__ __forceinline__ void moe_store_act(void* base, int is_bf16, long long idx, float v) {
    if (is_bf16) {
        static_cast<uint16_t*>(base)[idx] = moe_float_to_bf16_rn(v);
    } else {
        static_cast<float*>(base)[idx] = v;
    }
}

// bf16 expert weights: W [E·K, N] rows, row (e·K + kk) at w + (e·K + kk)·w_ld.
struct MoeBf16Weights {
    const uint16_t* w;
    long long w_ld;
    int k;

    // acc[r] += Σ_{kk < chunk} a_sh[r][kk] · W[e][k0 + kk][n]
    __device__ __forceinline__ void chunk(int e, int k0, int chunk, int n, const float (*a_sh)[MOE_GEMM_BK],
                                          float* acc) const {
        const uint16_t* w_gl = w + ((long long) e * k + k0) * w_ld + n;
#pragma unroll 8
        for (int kk = 0; kk < chunk; kk++) {
            const float wv = moe_bf16_to_float(w_gl[kk * w_ld]);
#pragma unroll
            for (int r = 0; r < MOE_GEMM_BM; r++) acc[r] = fmaf(a_sh[r][kk], wv, acc[r]);
        }
    }
};

// int4 expert weights, contiguous per expert (the launcher concatenates the E QuantizedWeights):
//   qweight uint32 [E][K/8][N], qzeros uint32 [E][K/g][N/8] or NULL (symmetric: zero 8),
//   scales [E][K/g][N] of scale_type (0 fp32, 1 bf16, 2 fp16).
struct MoeInt4Weights {
    const uint32_t* qweight;
    const uint32_t* qzeros;
    const void* scales;
    int scale_type;
    int group;
    int k;
    int n_total;

    __device__ __forceinline__ float scale(long long idx) const {
        if (scale_type == 0) return static_cast<const float*>(scales)[idx];
        const uint16_t s = static_cast<const uint16_t*>(scales)[idx];
        return scale_type == 1 ? moe_bf16_to_float(s) : moe_fp16_to_float(s);
    }

    __device__ __forceinline__ void chunk(int e, int k0, int chunk, int n, const float (*a_sh)[MOE_GEMM_BK],
                                          float* acc) const {
        const int groups = k / group;   // int division: a 64-bit one is a call with a stack frame
        const uint32_t* q_gl = qweight + ((long long) e * (k / 8) + k0 / 8) * n_total + n;
        // chunk is a multiple of 8 (K is), and g a multiple of 8: a word's 8 rows share a group.
#pragma unroll 2  // full unroll and unroll 1 both made ptxas spill 4-8 bytes (sm_90a / sm_80); 2 does not
        for (int wi = 0; wi < MOE_GEMM_BK / 8; wi++) {
            if (8 * wi < chunk) {
                const uint32_t word = q_gl[(long long) wi * n_total];
                const int gi = (k0 + 8 * wi) / group;
                const float s = scale(((long long) e * groups + gi) * n_total + n);
                const uint32_t z = qzeros == nullptr ? 8u
                        : moe_int4_nibble(qzeros[((long long) e * groups + gi) * (n_total / 8) + n / 8], n & 7);
#pragma unroll
                for (int x = 0; x < 8; x++) {
                    const float wv = moe_dequant(moe_int4_nibble(word, x), z, s);
#pragma unroll
                    for (int r = 0; r < MOE_GEMM_BM; r++) acc[r] = fmaf(a_sh[r][8 * wi + x], wv, acc[r]);
                }
            }
        }
    }
};

template <class Weights>
__device__ __forceinline__ void moe_grouped_gemm(
        const void* __restrict__ in, int in_bf16, long long in_ld, const int* __restrict__ in_rows,
        const Weights& wts, int k, int n_total,
        const int* __restrict__ offsets, const int* __restrict__ tiles,
        void* __restrict__ out, int out_bf16, long long out_ld) {
    __shared__ float a_sh[MOE_GEMM_BM][MOE_GEMM_BK];
    const int e = tiles[2 * blockIdx.x];
    const int row0 = tiles[2 * blockIdx.x + 1];
    const int rows = min(MOE_GEMM_BM, offsets[e + 1] - row0);
    const int n = blockIdx.y * MOE_GEMM_THREADS + threadIdx.x;
    float acc[MOE_GEMM_BM];
#pragma unroll
    for (int r = 0; r < MOE_GEMM_BM; r++) acc[r] = 0.0f;

    for (int k0 = 0; k0 < k; k0 += MOE_GEMM_BK) {
        const int chunk = min(MOE_GEMM_BK, k - k0);
        __syncthreads();  // previous chunk's a_sh reads done
        // stage_a: rows past the tile and columns past K are 0
        for (int idx = threadIdx.x; idx < MOE_GEMM_BM * MOE_GEMM_BK; idx += MOE_GEMM_THREADS) {
            const int r = idx / MOE_GEMM_BK;
            const int kk = idx % MOE_GEMM_BK;
            float a = 0.0f;
            if (r < rows && kk < chunk) {
                const int p = row0 + r;
                const long long src_row = in_rows != nullptr ? in_rows[p] : p;
                a = moe_load_act(in, in_bf16, src_row * in_ld + k0 + kk);
            }
            a_sh[r][kk] = a;
        }
        __syncthreads();
        if (n < n_total) wts.chunk(e, k0, chunk, n, a_sh, acc);
    }
    if (n < n_total) {
#pragma unroll
        for (int r = 0; r < MOE_GEMM_BM; r++) {
            if (r < rows) moe_store_act(out, out_bf16, (long long) (row0 + r) * out_ld + n, acc[r]);
        }
    }
}

__device__ __forceinline__ unsigned long long moe_warp_max_u64(unsigned long long x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const unsigned long long y = __shfl_xor_sync(0xFFFFFFFFu, x, o);
        x = y > x ? y : x;
    }
    return x;
}

}  // namespace

// ================================== o4j_moe_router_logits ======================================
// logits[t, e] = Σ_i x[t, i] · Wr[i, e], fp32, i ascending (one fma chain per output).
//   const uint16_t* x        bf16 [T, d_model], row t at x + t·x_ld
//   long long       x_ld     elements between x rows (≥ d_model)
//   const void*     wr       [d_model, E] bf16 or fp32, row i at wr + i·wr_ld
//   int             wr_bf16  1: wr is bf16, 0: fp32
//   long long       wr_ld    elements between wr rows (≥ E)
//   float*          logits   fp32 [T, E], contiguous (row t at logits + t·E)
//   int             tokens   T ≥ 1
//   int             d_model  ≥ 1
//   int             experts  E ≥ 1
// grid (ceil(E/128) · ceil(T/8), 1, 1) flat: block x → expert tile x % ceil(E/128), token tile
// x / ceil(E/128); block (128, 1, 1): thread ↔ expert, 8 tokens each; dynamic smem 0
// (static: x chunk 8 × 128 fp32 = 4 KB).
extern "C" __global__ void __launch_bounds__(MOE_ROUTER_THREADS) o4j_moe_router_logits(const uint16_t* __restrict__ x, long long x_ld,
                      const void* __restrict__ wr, int wr_bf16, long long wr_ld,
                      float* __restrict__ logits, int tokens, int d_model, int experts) {
    __shared__ float x_sh[MOE_ROUTER_TOKENS][MOE_ROUTER_CHUNK];
    const int e_tiles = (experts + MOE_ROUTER_THREADS - 1) / MOE_ROUTER_THREADS;
    const int e = (blockIdx.x % e_tiles) * MOE_ROUTER_THREADS + threadIdx.x;
    const int t0 = (blockIdx.x / e_tiles) * MOE_ROUTER_TOKENS;
    const int t_rows = min(MOE_ROUTER_TOKENS, tokens - t0);
    float acc[MOE_ROUTER_TOKENS];
#pragma unroll
    for (int r = 0; r < MOE_ROUTER_TOKENS; r++) acc[r] = 0.0f;
    for (int i0 = 0; i0 < d_model; i0 += MOE_ROUTER_CHUNK) {
        const int chunk = min(MOE_ROUTER_CHUNK, d_model - i0);
        __syncthreads();
        for (int idx = threadIdx.x; idx < MOE_ROUTER_TOKENS * MOE_ROUTER_CHUNK; idx += MOE_ROUTER_THREADS) {
            const int r = idx / MOE_ROUTER_CHUNK;
            const int c = idx % MOE_ROUTER_CHUNK;
            x_sh[r][c] = (r < t_rows && c < chunk) ? moe_bf16_to_float(x[(long long) (t0 + r) * x_ld + i0 + c]) : 0.0f;
        }
        __syncthreads();
        if (e < experts) {
            for (int c = 0; c < chunk; c++) {
                const float w = moe_load_act(wr, wr_bf16, (long long) (i0 + c) * wr_ld + e);
#pragma unroll
                for (int r = 0; r < MOE_ROUTER_TOKENS; r++) acc[r] = fmaf(x_sh[r][c], w, acc[r]);
            }
        }
    }
    if (e < experts) {
#pragma unroll
        for (int r = 0; r < MOE_ROUTER_TOKENS; r++) {
            if (r < t_rows) logits[(long long) (t0 + r) * experts + e] = acc[r];
        }
    }
}

// ================================== o4j_moe_router_topk ========================================
// Per token t (a warp): mx = max_e logits (fmaxf skips NaN), sum = Σ_e term(l_e) (lane-strided
// partial sums, then a butterfly), the k largest logits in descending order with ties to the lower
// expert (moe_topk_key), weight_j = term(l_j) / sum, divided by Σ_j weight_j when renormalize;
// term = moe_softmax_term: expf(l − mx), with ±∞ maxima and NaN logits handled there.
//   const float* logits       fp32 [T, E] contiguous (o4j_moe_router_logits' output)
//   int          tokens       T ≥ 1
//   int          experts      E ≥ 1
//   int          k            1 ≤ k ≤ min(8, E)
//   int          renormalize  0 or 1
//   int*         expert_ids   int32 [T·k], token-major: expert_ids[t·k + j]
//   float*       weights      fp32 [T·k], token-major
// grid (ceil(T/4), 1, 1), block (128, 1, 1): warp w ↔ token 4·blockIdx.x + w; dynamic smem 0.
extern "C" __global__ void __launch_bounds__(MOE_TOPK_WARPS * 32) o4j_moe_router_topk(const float* __restrict__ logits, int tokens, int experts, int k, int renormalize,
                    int* __restrict__ expert_ids, float* __restrict__ weights) {
    const int lane = threadIdx.x & 31;
    const int t = blockIdx.x * MOE_TOPK_WARPS + (threadIdx.x >> 5);
    if (t >= tokens) return;  // whole warps only: the shuffles below stay full-warp
    const float* row = logits + (long long) t * experts;
    float mx = -INFINITY;
    for (int e = lane; e < experts; e += 32) mx = fmaxf(mx, row[e]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, o));
    float sum = 0.0f;
    for (int e = lane; e < experts; e += 32) sum += moe_softmax_term(row[e], mx);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);

    // top-k: pick j = the largest key below pick j−1's key.
    unsigned long long prev = ~0ull;
    float chosen_sum = 0.0f;
    float p_lane = 0.0f;        // lane j < k keeps choice j's probability
    int id_lane = 0;
    for (int j = 0; j < k; j++) {
        unsigned long long best = 0;
        for (int e = lane; e < experts; e += 32) {
            const unsigned long long key = moe_topk_key(row[e], e);
            if (key < prev && key > best) best = key;
        }
        best = moe_warp_max_u64(best);
        const int id = moe_topk_key_expert(best);
        const float p = moe_softmax_term(row[id], mx) / sum;
        chosen_sum += p;
        if (lane == j) { p_lane = p; id_lane = id; }
        prev = best;
    }
    if (lane < k) {
        expert_ids[(long long) t * k + lane] = id_lane;
        weights[(long long) t * k + lane] = renormalize ? p_lane / chosen_sum : p_lane;
    }
}

// ================================== o4j_moe_grouped_gemm_bf16 ==================================
// out[p, n] = Σ_kk in[in_row(p), kk] · W[e(p)][kk, n] for the rows of each tile.
//   const void* in        act [*, K]: row in_row(p) at in + in_row(p)·in_ld
//   int         in_bf16   1 bf16, 0 fp32
//   long long   in_ld     elements between in rows (≥ K)
//   const int*  in_rows   int32 [P]: in_row(p) (copy → token for the fused gather), or NULL: p
//   const uint16_t* w     bf16 [E·K, N]: W1 [E, d_model, 2·d_ff] (K = d_model, N = 2·d_ff) or
//                         W2 [E, d_ff, d_model] (K = d_ff, N = d_model); row e·K + kk at w + (e·K + kk)·w_ld
//   long long   w_ld      elements between weight rows (≥ N)
//   int         k         K ≥ 1
//   int         n         N ≥ 1
//   const int*  offsets   int32 [E + 1], Routing.offsets()
//   const int*  tiles     int32 [num_tiles][2] = (expert, row0), moe_build_tiles / MoeLaunch.tiles
//   void*       out       act [P, N], row p at out + p·out_ld
//   int         out_bf16  1 bf16, 0 fp32
//   long long   out_ld    elements between out rows (≥ N)
// grid (num_tiles, ceil(N/128), 1) — num_tiles ≥ 1 (skip the launch when P = 0); block (128, 1, 1);
// dynamic smem 0 (static a_sh 16 × 32 fp32 = 2 KB).
extern "C" __global__ void __launch_bounds__(MOE_GEMM_THREADS) o4j_moe_grouped_gemm_bf16(const void* __restrict__ in, int in_bf16, long long in_ld, const int* __restrict__ in_rows,
                          const uint16_t* __restrict__ w, long long w_ld, int k, int n,
                          const int* __restrict__ offsets, const int* __restrict__ tiles,
                          void* __restrict__ out, int out_bf16, long long out_ld) {
    const MoeBf16Weights wts{w, w_ld, k};
    moe_grouped_gemm(in, in_bf16, in_ld, in_rows, wts, k, n, offsets, tiles, out, out_bf16, out_ld);
}

// ================================== o4j_moe_grouped_gemm_w4a16 =================================
// As o4j_moe_grouped_gemm_bf16 with W[e][kk, j] = (q[kk, j] − z[kk/g, j]) · s[kk/g, j] (splitk's
// QuantizedWeight, GPTQ layout) rounded once to fp32, the experts' tensors concatenated:
//   const void* in, int in_bf16, long long in_ld, const int* in_rows    as above
//   const uint32_t* qweight  int32 [E, K/8, N] contiguous: word (e, r, j) = column j, rows 8r..8r+7
//   const uint32_t* qzeros   int32 [E, K/g, N/8] contiguous, or NULL (symmetric: z = 8)
//   const void*     scales   [E, K/g, N] contiguous, dtype scale_type
//   int             scale_type  0 fp32, 1 bf16, 2 fp16
//   int             group    g: 32, 64, 128 or K; divides K; multiple of 8
//   int             k        K, a positive multiple of 8
//   int             n        N, a positive multiple of 8
//   const int* offsets, const int* tiles, void* out, int out_bf16, long long out_ld   as above
// grid (num_tiles, ceil(N/128), 1), block (128, 1, 1), dynamic smem 0 (static 2 KB).
extern "C" __global__ void __launch_bounds__(MOE_GEMM_THREADS) o4j_moe_grouped_gemm_w4a16(const void* __restrict__ in, int in_bf16, long long in_ld, const int* __restrict__ in_rows,
                           const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                           const void* __restrict__ scales, int scale_type, int group, int k, int n,
                           const int* __restrict__ offsets, const int* __restrict__ tiles,
                           void* __restrict__ out, int out_bf16, long long out_ld) {
    const MoeInt4Weights wts{qweight, qzeros, scales, scale_type, group, k, n};
    moe_grouped_gemm(in, in_bf16, in_ld, in_rows, wts, k, n, offsets, tiles, out, out_bf16, out_ld);
}

// ================================== o4j_moe_swiglu =============================================
// a[r, c] = silu(h[r, c]) · h[r, d_ff + c]   (moe_silu_mul)
//   const void* h       act [rows, 2·d_ff], row r at h + r·h_ld
//   int         h_bf16
//   long long   h_ld    (≥ 2·d_ff)
//   void*       a       act [rows, d_ff], row r at a + r·a_ld
//   int         a_bf16
//   long long   a_ld    (≥ d_ff)
//   int         rows    ≥ 1
//   int         d_ff    ≥ 1
// grid (rows, ceil(d_ff/256), 1) — rows in x (up to 2^31 − 1); block (256, 1, 1); smem 0.
extern "C" __global__ void __launch_bounds__(MOE_ELEM_THREADS) o4j_moe_swiglu(const void* __restrict__ h, int h_bf16, long long h_ld,
               void* __restrict__ a, int a_bf16, long long a_ld, int rows, int d_ff) {
    const long long r = blockIdx.x;
    const int c = blockIdx.y * MOE_ELEM_THREADS + threadIdx.x;
    if (r >= rows || c >= d_ff) return;
    const float g = moe_load_act(h, h_bf16, r * h_ld + c);
    const float u = moe_load_act(h, h_bf16, r * h_ld + d_ff + c);
    moe_store_act(a, a_bf16, r * a_ld + c, moe_silu_mul(g, u));
}

// ================================== o4j_moe_combine ============================================
// out[t, c] = Σ_{j = 0..k−1} weights[t·k + j] · y[copy_of[t·k + j], c], fp32 fma chain in slot order.
//   const void*  y         act [P, d_model], row p at y + p·y_ld
//   int          y_bf16
//   long long    y_ld      (≥ d_model)
//   const int*   copy_of   int32 [T·k], Routing.tokenSlotToCopy()
//   const float* weights   fp32 [T·k], Routing.weights()
//   int          k         1..8
//   void*        out       act [T, d_model], row t at out + t·out_ld
//   int          out_bf16
//   long long    out_ld    (≥ d_model)
//   int          tokens    T ≥ 1
//   int          d_model   ≥ 1
// grid (T, ceil(d_model/256), 1); block (256, 1, 1); smem 0.
extern "C" __global__ void __launch_bounds__(MOE_ELEM_THREADS) o4j_moe_combine(const void* __restrict__ y, int y_bf16, long long y_ld,
                const int* __restrict__ copy_of, const float* __restrict__ weights, int k,
                void* __restrict__ out, int out_bf16, long long out_ld, int tokens, int d_model) {
    const long long t = blockIdx.x;
    const int c = blockIdx.y * MOE_ELEM_THREADS + threadIdx.x;
    if (t >= tokens || c >= d_model) return;
    float acc = 0.0f;
    for (int j = 0; j < k; j++) {
        const long long p = copy_of[t * k + j];
        acc = fmaf(weights[t * k + j], moe_load_act(y, y_bf16, p * y_ld + c), acc);
    }
    moe_store_act(out, out_bf16, t * out_ld + c, acc);
}
