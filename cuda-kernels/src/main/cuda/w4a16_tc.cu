// offload4j — W4A16 GEMM on tensor cores with SplitK, for decode-sized batches (tracker issue 7).
//
//   Y[m, n] = X[m, k] · W[k, n] (+ bias[n]),   W[kk, j] = (q[kk, j] − z[kk/g, j]) · s[kk/g, j]
//
// X and Y fp16 or bf16, q and z 4-bit, s fp16/bf16/fp32 (as the QuantizedWeight stores them),
// g ∈ {32, 64, 128, k}. For m ≤ 64 the product is bound by reading W: 0.5 byte per weight plus
// the scales and zeros. Everything below serves one goal: stream the packed weight exactly once,
// 16 bytes per thread, coalesced, several stages ahead, and spend as few instructions per weight
// as possible turning nibbles into tensor-core operands.
//
// nvcc (check, as the build does per arch):
//   nvcc -std=c++17 -O3 -cubin -gencode arch=compute_80,code=sm_80 -Xptxas -v w4a16_tc.cu
//   nvcc -std=c++17 -O3 -cubin -gencode arch=compute_90a,code=sm_90a -Xptxas -v w4a16_tc.cu
// Host-side index helpers and bit tricks: w4a16_tc.cuh (also run on the CPU by
// src/test/cuda/w4a16_tc_host_test.cu). Java prepack: org.offload4j.cuda.w4a16.TcPackedLayout;
// planner: org.offload4j.cuda.w4a16.TcSplitKPlanner.
//
// ================================================================================================
// 1. Packed layout (prepack, once per weight; TcPackedLayout builds it from the GPTQ tensors)
// ================================================================================================
// kPad = k rounded up to 128, slabs = ceil(n / 64), kTiles = kPad / 16, G = k / g.
//
//   qw      uint4 [E][slabs][kTiles][32]      one 16-byte vector per (slab, k16 step, lane)
//   scales  s16|f32 [E][G][slabs][8][8]       [group][slab][g = col % 8][s = (col % 64) / 8]
//   zeros   uint32 [E][G][slabs][8]           word g, nibble s: z of column 64 slab + 8 s + g
//
// A warp tile is 16 k-rows x 64 columns (one slab). Lane L (g = L >> 2, t = L & 3) holds, for
// the eight n8 sub-tiles s = 0..7 (columns 8s..8s+7), the B fragment of mma.m16n8k16 — column
// 8s + g, rows 2t, 2t+1 (b_reg0) and 2t+8, 2t+9 (b_reg1):
//
//   uint4 of lane L   = word0      word1      word2      word3
//                       s=0 | s=1  s=2 | s=3  s=4 | s=5  s=6 | s=7
//
//   word w (sub-tiles 2w and 2w+1), nibbles from bit 0 upwards:
//
//   bit 31   28 27   24 23   20 19   16 15   12 11    8 7     4 3     0
//      +-------+-------+-------+-------+-------+-------+-------+-------+
//      |s+1 r9 |s+1 r1 | s r9  | s r1  |s+1 r8 |s+1 r0 | s r8  | s r0  |   s = 2w
//      +-------+-------+-------+-------+-------+-------+-------+-------+
//      r0 = row 2t, r1 = 2t+1, r8 = 2t+8, r9 = 2t+9 of the k16 step; column 8 s + g
//
// so (word >> 4p) & 0x000F000F, p = 0..3, has the two values of one .f16x2 B register in its low
// and high halves: p = 0 → b_reg0 of s, p = 1 → b_reg1 of s, p = 2/3 → b_reg0/1 of s+1. Index
// math: tc_pack_lane/word/nibble and tc_unpack_row/col in w4a16_tc.cuh.
//
// Padding: rows k..kPad-1 and columns n..64·slabs-1 hold q = 0; padded columns have scale 0 and
// zero 0. Rows past k take the last group's scale (tc_group_of clamps) and meet activations that
// the loader zero-fills, so they add exactly 0; padded columns are never stored.
//
// ================================================================================================
// 2. Thread block, tiles and the pipeline
// ================================================================================================
// 256 threads = 8 warps, arranged NW_N (along n) x NW_K = 8 / NW_N (along k):
//
//   config  NW_N  tile n  tile k   warp w = wk·NW_N + wn takes slab nb·NW_N + wn and k16 step wk
//   _n64      1     64     128     of every stage
//   _n128     2    128      64
//   _n256     4    256      32
//
// A stage is always 8 warp tiles = 4096 bytes of packed weight, plus 16·M_TILES rows of X
// (tile k columns), the scales and zeros of the groups the stage touches. Per stage and thread:
//
//   fetch_to_shared  one 16-byte cp.async.cg of the thread's OWN weight vector (L2 evict-first:
//                    W is read once), the X rows (rows ≥ m and columns ≥ k zero-filled by
//                    cp.async's src-size 0), the scale/zero vectors.
//   wait_for_stage   cp.async.wait_group STAGES-2, then one __syncthreads (X and scales are shared
//                    by the warps; the same barrier protects the slot being refilled).
//   fetch_to_regs    ld.shared.v4 of its weight vector (the bytes it copied itself: conflict-free),
//                    ldmatrix.x4 per m-tile for A (row pitch tile_k + 8 halves: conflict-free).
//   dequant          per register pair: SHF + LOP3 (0xEA: (w & 0x000F000F) | magic) → (magic+q),
//                    HSUB2 (magic+z) → q − z exactly, HMUL2 s → w (one rounding to fp16/bf16).
//                    magic = 1024.0 (fp16, 0x6400) or 128.0 (bf16, 0x4300): the nibble is the
//                    low mantissa bits, no I2F/F2F per element.
//   matmul           8 sub-tiles x M_TILES mma.sync.m16n8k16.row.col.f32.{f16,bf16} (fp32 acc).
//
// Issue budget: at H100's 3.35 TB/s an SM receives 14.5 B/cycle, so a 4 KiB stage may take 283
// cycles, about 140 issue slots per warp (4 schedulers, 8 warps). Dequant and mma of a k16 step
// alone take about 75 (M_TILES = 1). So fetch_to_shared does no index arithmetic beyond adding the
// stage's k: each thread's share of the copies (its X vectors, at most one scale and one zero
// vector) is computed once before the main loop (tc_*_copy_* in w4a16_tc.cuh), and the group of a
// row is a shift (g ∈ {32, 64, 128} whenever G > 1), not a division. In the sm_90a SASS that took
// the main loop of _bf16_m16_n128 from 1109 instructions (three copy loops with divisions by
// runtime values: I2F, MUFU.RCP, F2I, IMAD per division) to 254, and the registers from 126 to 109
// (docs/results/2026-12-06g-sass-sm90.md). Warps none of whose lanes copies a scale or zero vector
// branch around those copies (a warp-uniform test) rather than issue them predicated off: a stage
// without a group change issues about 125 per warp that copies only its weight, about 140 on average.
// A group change rebuilds the scale and zero registers: scales already in X's dtype are one PRMT
// each, zeros two LOP3 and one PRMT each (tc_zero_bits_of), about 50 instructions instead of 90.
// Left: two k16 steps per warp per stage would halve the per-stage part (barrier, copies, group
// check), but tile k 256 for _n64 needs k padded to 256, a change of the packed layout.
//
// STAGES = 4: 3 stages (12 KiB of weight per block) in flight; with 2 blocks per SM (M_TILES = 1)
// that is 24 KiB per SM, above bandwidth x latency per SM on H100 (3.35 TB/s x ~0.7 µs / 132).
//
// Scales: a warp keeps, per sub-tile, s (in X's dtype, both halves) and (magic + z) in registers,
// rebuilt from shared memory only when its k16 step enters a new group (uniform branch). A scale
// stored in X's dtype (fp16 with fp16 X, bf16 with bf16 X) goes into both halves with one PRMT;
// other scale dtypes go to X's dtype by one cvt per group and column.
//
// ================================================================================================
// 3. Reductions: in-block over k-warps, then SplitK across blocks
// ================================================================================================
// grid = (n tiles, splits, z) with z = problem · m_blocks_per_problem + m block; split p covers
// k rows [p·k_chunk, min((p+1)·k_chunk, kPad)) (k_chunk a multiple of tile k, and of g when
// G > 1: TcSplitKPlanner). Example n = 384, tile n 128, 3 splits, one m block:
//
//            n tile 0      n tile 1      n tile 2
//   k   ┌─────────────┬─────────────┬─────────────┐
//   0   │ (0,0)       │ (1,0)       │ (2,0)       │  split 0 ─┐ partials fp32 → workspace
//       ├─────────────┼─────────────┼─────────────┤           │ [z][split][16·M_TILES][nTiles·tile n]
//       │ (0,1)       │ (1,1)       │ (2,1)       │  split 1  │ then atomicAdd(counter[z][n tile]);
//       ├─────────────┼─────────────┼─────────────┤           │ the block that arrives LAST sums the
//   k   │ (0,2)       │ (1,2)       │ (2,2)       │  split 2 ─┘ partials in split order 0..S-1, adds
//       └─────────────┴─────────────┴─────────────┘             the bias, rounds once, writes Y and
//                                                               resets the counter to 0.
// In-block: each k-warp writes its accumulator fragments to a 32 KiB buffer (over the drained
// pipeline), then every thread sums NW_K values in wk order. Both sums run in a fixed order, so
// the result is bit-identical run to run whichever block arrives last: the kernel is
// deterministic, there is no separate deterministic mode. splits = 1 writes Y directly and needs
// no workspace. Counters must be zero before the first launch (cuMemsetD32 once); every launch
// leaves them zero again, so one workspace serves any number of launches on one stream (not two
// launches at once).
//
// ================================================================================================
// 4. Grouped launch (MoE experts)
// ================================================================================================
// problems = int[P][3] {expert, row_begin, row_end}: rows [row_begin, row_end) of X and Y use
// expert e's weight at qw + e·qw_expert_stride (scales, zeros, bias likewise). z = p ·
// m_blocks_per_problem + mb; an m block past a problem's rows returns at once (it never touches a
// counter, and neither does any other block of its z). problems = null is the dense case: one
// problem, expert 0, rows [0, m).
//
// ================================================================================================
// 5. Rejected alternatives
// ================================================================================================
// - Scale applied after the mma in fp32 (exact (q−z) in the mma, s·acc per group): needs a second
//   accumulator set per group, 2 x 32 x M_TILES registers; with M_TILES = 4 that spills. The
//   chosen rounding of (q−z)·s to X's dtype is one rounding per weight (≤ 2^-9 relative for bf16),
//   far inside the 5e-3 contract.
// - HFMA2 with a pre-multiplied −(magic+z)·s: one instruction fewer but (magic+z)·s is itself
//   rounded, so w loses precision for large magic (1024); sub-then-mul is exact up to one rounding.
// - Weights as the mma's A operand (m16 = n) with X as B (n8 = m): halves the wasted MMA rows for
//   m ≤ 8 but the MMA is nowhere near the bound at decode sizes; the issue asks A = activations.
// - Atomics (red.global.add.f32) for SplitK: no fix-up pass, but the order of the additions
//   varies run to run; the counter fix-up is deterministic and costs one extra read of the
//   partials (S·m·n·4 bytes, ≤ a few % of the weight bytes for the planner's S).
// - Loading weights straight to registers (ld.global.v4, no shared memory): equally coalesced,
//   but several stages in flight would cost 4 registers per stage per thread; cp.async keeps
//   them in shared memory for free.
// - TMA (cp.async.bulk.tensor) on sm_90: the packed stream is already one contiguous 512-byte run
//   per warp; plain cp.async keeps one code path for sm_80..sm_90. A candidate once a GPU run
//   shows the issue rate of cp.async limits.
//
// ================================================================================================
// 6. Kernels (extern "C", scalar and pointer arguments only)
// ================================================================================================
//   o4j_w4a16_tc_{f16|bf16}_m{16|32|64}_n{64|128|256}
//     dtype of X/Y; rows per block (M_TILES = 1, 2, 4); tile n (NW_N = 1, 2, 4).
//   block = 256 threads; dynamic shared memory = tc_smem_bytes(M_TILES, NW_N, 4) (raise the
//   function's max dynamic shared size when above 48 KiB); grid = (ceil(slabs / NW_N), splits, z).
//   Preconditions (checked by the Java side, not here): x 16-byte aligned, ldx a multiple of 8;
//   k a multiple of 8; k_chunk as above; workspace/counters sized by TcSplitKPlanner when
//   splits > 1.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "w4a16_tc.cuh"

namespace o4j_tc {

constexpr int STAGES = 4;

template <bool BF16> struct Act;
template <> struct Act<false> {
    using T = __half;
    using T2 = __half2;
    static __device__ __forceinline__ T from_float(float v) { return __float2half_rn(v); }
    static __device__ __forceinline__ float to_float(T v) { return __half2float(v); }
};
template <> struct Act<true> {
    using T = __nv_bfloat16;
    using T2 = __nv_bfloat162;
    static __device__ __forceinline__ T from_float(float v) { return __float2bfloat16_rn(v); }
    static __device__ __forceinline__ float to_float(T v) { return __bfloat162float(v); }
};

// (a & b) | c in one LOP3; nvcc does not always fuse the AND and the OR (Marlin's observation).
__device__ __forceinline__ uint32_t lop3_and_or(uint32_t a, uint32_t b, uint32_t c) {
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// 16-byte async copy to a shared-memory address (32-bit, .shared window); src_size 0 zero-fills the
// destination without reading memory. The kernel converts its shared base once (see fetch_to_shared).
__device__ __forceinline__ void cp_async16(uint32_t smem_addr, const void* gmem, bool pred) {
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem), "r"(n));
}
// The same with an L2 evict-first policy: the weight is streamed once, keep X and partials in L2.
__device__ __forceinline__ void cp_async16_stream(uint32_t smem_addr, const void* gmem, bool pred, uint64_t policy) {
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(smem_addr), "l"(gmem),
                 "r"(n), "l"(policy));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&a)[4], const void* smem) {
    uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(s));
}

template <bool BF16>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (BF16) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                     "{%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// w = ((magic + q) − (magic + z)) · s for the two values of one B register.
template <bool BF16> __device__ __forceinline__ uint32_t dequant2(uint32_t qbits, uint32_t zbits, uint32_t sbits) {
    using T2 = typename Act<BF16>::T2;
    T2 q = *reinterpret_cast<T2*>(&qbits);
    T2 z = *reinterpret_cast<T2*>(&zbits);
    T2 s = *reinterpret_cast<T2*>(&sbits);
    T2 w = __hmul2(__hsub2(q, z), s);
    return *reinterpret_cast<uint32_t*>(&w);
}

template <bool BF16> __device__ __forceinline__ uint32_t dup_bits(float v) {
    using A = Act<BF16>;
    typename A::T h = A::from_float(v);
    uint16_t b = *reinterpret_cast<uint16_t*>(&h);
    return (uint32_t)b | ((uint32_t)b << 16);
}

__device__ __forceinline__ float scale16_to_float(uint32_t bits16, int scale_kind) {
    return scale_kind == TC_SCALE_BF16 ? tc_bf16_bits_to_float((uint16_t)bits16)
                                       : __half2float(__ushort_as_half((unsigned short)bits16));
}

template <bool BF16, int M_TILES, int NW_N>
__device__ __forceinline__ void tc_body(
    const void* __restrict__ x,          // X [rows, k], X's dtype, row stride ldx elements
    const uint4* __restrict__ qw,        // packed weight [E][slabs][kTiles][32] (section 1)
    const void* __restrict__ scales,     // packed scales [E][G][slabs][64], scale_kind
    const uint32_t* __restrict__ zeros,  // packed zeros [E][G][slabs][8], or null: symmetric (z = 8)
    const void* __restrict__ bias,       // bias [E][n] in X's dtype or fp32 (bias_f32), or null
    void* __restrict__ y,                // Y [rows, n], X's dtype, row stride ldy elements
    float* __restrict__ workspace,       // [gridDim.z][splits][16 M_TILES][gridDim.x tile n] fp32, or null if splits == 1
    int* __restrict__ counters,          // [gridDim.z][gridDim.x] int, zero before first use; null if splits == 1
    const int* __restrict__ problems,    // [P][3] {expert, row_begin, row_end}, or null (dense)
    int m,                               // rows of X and Y (dense); unused when problems != null
    int n,                               // columns of W and Y
    int k,                               // rows of W = columns of X (multiple of 8)
    int group_size,                      // g: 32, 64, 128 or k
    int groups,                          // G = k / g
    int k_pad,                           // k rounded up to 128 (the packed k)
    int ldx,                             // row stride of X, elements, multiple of 8
    int ldy,                             // row stride of Y, elements
    int scale_kind,                      // TC_SCALE_F16 / _BF16 / _F32
    int bias_f32,                        // 1: bias is fp32, 0: X's dtype
    int splits,                          // = gridDim.y
    int k_chunk,                         // k rows per split (multiple of tile k; of g when G > 1)
    int m_blocks_per_problem,            // z = problem · this + m block
    long long qw_expert_stride,          // uint4 units between experts' packed weights
    long long scale_expert_stride,       // scale elements between experts
    long long zero_expert_stride,        // uint32 words between experts
    long long bias_expert_stride) {      // bias elements between experts
    using A = Act<BF16>;
    using T = typename A::T;
    constexpr int NW_K = TC_WARPS / NW_N;
    constexpr int TN = TC_WARP_N * NW_N;
    constexpr int TK = TC_K16 * NW_K;
    constexpr int MB = 16 * M_TILES;
    constexpr int A_PITCH = 2 * TK + 16;  // bytes; == tc_a_pitch_bytes(TK)
    constexpr int A_BYTES = MB * A_PITCH;
    constexpr int STAGE_BYTES = 4096 + A_BYTES + 1024 + 128;  // == tc_stage_bytes(M_TILES, NW_N)

    extern __shared__ uint4 smem_u4[];
    char* smem = reinterpret_cast<char*>(smem_u4);
    __shared__ int s_is_last;

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int wk = warp / NW_N;
    const int wn = warp % NW_N;
    const int nb = blockIdx.x;
    const int split = blockIdx.y;
    const int z = blockIdx.z;

    // ---- which rows and which expert -------------------------------------------------------
    int expert = 0, row_begin = 0, row_end = m;
    const int mb = z % m_blocks_per_problem;
    if (problems != nullptr) {
        const int p = z / m_blocks_per_problem;
        expert = problems[3 * p];
        row_begin = problems[3 * p + 1];
        row_end = problems[3 * p + 2];
    }
    const int row0 = row_begin + mb * MB;
    const int rows_here = min(MB, row_end - row0);
    if (rows_here <= 0) return;  // uniform for the whole z: no counter is touched

    const int slabs = (n + TC_WARP_N - 1) / TC_WARP_N;
    const int k_tiles16 = k_pad / TC_K16;
    const int my_slab = nb * NW_N + wn;
    const bool slab_ok = my_slab < slabs;
    const int esz = tc_scale_bytes(scale_kind);
    const int gps = tc_groups_per_stage(TK, group_size, groups);

    const uint4* qw_e = qw + expert * qw_expert_stride;
    const char* sc_e = reinterpret_cast<const char*>(scales) + expert * scale_expert_stride * esz;
    const uint32_t* zr_e = zeros != nullptr ? zeros + expert * zero_expert_stride : nullptr;
    const T* x_t = reinterpret_cast<const T*>(x);

    const int k_begin = split * k_chunk;
    const int k_end = min(k_begin + k_chunk, k_pad);
    const int ntiles = k_end > k_begin ? (k_end - k_begin) / TK : 0;

    uint64_t policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));

    // ---- this thread's copies, fixed for the launch (w4a16_tc.cuh: no division in the loop) ----
    const int gshift = groups > 1 ? tc_group_shift(group_size) : 0;
    // weight: its own vector of warp tile (my_slab, k16 step k0/16 + wk); a stage moves k by TK
    constexpr int W_STEP = tc_qw_copy_step(NW_N);  // uint4 per stage along k
    const uint4* w_src = qw_e + tc_qw_copy_base(slab_ok ? my_slab : 0, k_begin, wk, lane, k_tiles16);
    const int w_dst = (warp * 32 + lane) * 16;
    // activations: rows a_row + i · A_ROW_STEP (i < A_ITERS, rows < MB), column vector a_c8
    constexpr int A_VECS = MB * (TK / 8);
    constexpr int A_ITERS = (A_VECS + TC_THREADS - 1) / TC_THREADS;
    constexpr int A_ROW_STEP = tc_a_copy_row_step(TK);
    const int a_row = tc_a_copy_row(tid, TK);
    const int a_c8 = tc_a_copy_col8(tid, TK);
    const T* a_src = x_t + tc_x_copy_base(row0, tid, TK, k_begin, ldx);
    const long long a_src_step = tc_x_copy_row_step(TK, ldx);
    const int a_dst = 4096 + a_row * A_PITCH + 16 * a_c8;
    const int a_kcol = k_begin + 8 * a_c8;
    // scales and zeros: at most one vector each (gps groups from the stage's first group)
    const bool sc_copies = tid < tc_scale_copy_count(gps, NW_N, esz);
    const int sc_li = tc_scale_copy_group(tid, NW_N, esz);
    const int sc_wn = tc_scale_copy_slab(tid, NW_N, esz);
    const int sc_part = tc_scale_copy_part(tid, esz);
    const int sc_slab = nb * NW_N + sc_wn;
    const bool sc_ok = sc_slab < slabs;
    const char* sc_src = sc_e + tc_scale_index(0, sc_ok ? sc_slab : 0, 0, slabs) * esz + 16 * sc_part;
    const long long sc_group_bytes = tc_scale_group_bytes(slabs, esz);
    const int sc_dst = 4096 + A_BYTES + ((sc_li * NW_N + sc_wn) * 64) * esz + 16 * sc_part;
    const bool zr_copies = zr_e != nullptr && tid < tc_zero_copy_count(gps, NW_N);
    const int zr_li = tc_zero_copy_group(tid, NW_N);
    const int zr_wn = tc_zero_copy_slab(tid, NW_N);
    const int zr_part = tc_zero_copy_part(tid);
    const int zr_slab = nb * NW_N + zr_wn;
    const bool zr_ok = zr_slab < slabs;
    const uint32_t* zr_src = zr_copies ? zr_e + tc_zero_word_index(0, zr_ok ? zr_slab : 0, 0, slabs) + 4 * zr_part : nullptr;
    const long long zr_group_words = tc_zero_group_words(slabs);
    const int zr_dst = 4096 + A_BYTES + 1024 + ((zr_li * NW_N + zr_wn) * 8 + 4 * zr_part) * 4;
    // Whether any lane of this warp copies a scale or zero vector: the other warps branch around
    // that code (about 35 instructions a stage) instead of issuing it predicated off.
    const bool sz_warp = 32 * warp < max(tc_scale_copy_count(gps, NW_N, esz), zr_e != nullptr ? tc_zero_copy_count(gps, NW_N) : 0);

    // The shared base as a .shared-window address, converted once: converting inside every copy
    // cost about 10 instructions per stage (S2UR SR_CgaCtaId and its arithmetic).
    const uint32_t smem_s = (uint32_t)__cvta_generic_to_shared(smem);

    // ---- fetch_to_shared ---------------------------------------------------------------------
    auto fetch_to_shared = [&](int slot, int tile) {
        const uint32_t st = smem_s + slot * STAGE_BYTES;  // the slot's .shared address
        const int k0 = k_begin + tile * TK;
        cp_async16_stream(st + w_dst, w_src + (long long)tile * W_STEP, slab_ok, policy);
        const bool k_ok = a_kcol + tile * TK < k;  // zero-fill columns k..kPad-1
#pragma unroll
        for (int i = 0; i < A_ITERS; ++i) {
            const int r = a_row + i * A_ROW_STEP;
            if (A_VECS % TC_THREADS == 0 || r < MB) {
                const bool ok = k_ok && r < rows_here;
                cp_async16(st + a_dst + i * A_ROW_STEP * A_PITCH, ok ? a_src + i * a_src_step + tile * TK : x_t, ok);
            }
        }
        if (sz_warp) {  // warp-uniform: only the first one or two warps copy scales and zeros
            const int g_first = tc_group_of_shifted(k0, gshift, groups);
            if (sc_copies) {
                const int gi = min(g_first + sc_li, groups - 1);
                cp_async16(st + sc_dst, sc_src + gi * sc_group_bytes, sc_ok);
            }
            if (zr_copies) {
                const int gi = min(g_first + zr_li, groups - 1);
                cp_async16(st + zr_dst, zr_src + gi * zr_group_words, zr_ok);
            }
        }
    };

    float acc[M_TILES][8][4];
#pragma unroll
    for (int mt = 0; mt < M_TILES; ++mt)
#pragma unroll
        for (int s = 0; s < 8; ++s)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][s][i] = 0.f;

    uint32_t sc2[8], zr2[8];  // per sub-tile: s in both halves, (magic + z) in both halves
    int cur_group = -1;
    const uint32_t magic = tc_magic(BF16);

    // ---- prologue: STAGES-1 stages in flight ---------------------------------------------------
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < ntiles) fetch_to_shared(s, s);
        cp_async_commit();
    }

    // ---- main loop ---------------------------------------------------------------------------
    for (int it = 0; it < ntiles; ++it) {
        // wait_for_stage
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        {
            const int nxt = it + STAGES - 1;
            if (nxt < ntiles) fetch_to_shared(nxt % STAGES, nxt);
            cp_async_commit();
        }
        const int slot = it % STAGES;
        const char* st = smem + slot * STAGE_BYTES;
        const int k0 = k_begin + it * TK;
        const int kk = k0 + TC_K16 * wk;

        // new group: rebuild the scale / zero registers (uniform per warp)
        const int gi = tc_group_of_shifted(kk, gshift, groups);
        if (gi != cur_group) {
            cur_group = gi;
            const int li = gi - tc_group_of_shifted(k0, gshift, groups);
            const char* ss = st + 4096 + A_BYTES;
            const int gq = lane >> 2;
            const char* sp = ss + ((li * NW_N + wn) * 64 + gq * 8) * esz;
            if (scale_kind == (BF16 ? TC_SCALE_BF16 : TC_SCALE_F16)) {
                // scales already in X's dtype: each is one PRMT into both halves
                const uint4 v = *reinterpret_cast<const uint4*>(sp);
                const uint32_t w4[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int s = 0; s < 8; ++s) sc2[s] = tc_dup_half(w4[s >> 1], s & 1);
            } else {
                float f[8];
                if (scale_kind == TC_SCALE_F32) {
                    const float4 v0 = *reinterpret_cast<const float4*>(sp);
                    const float4 v1 = *reinterpret_cast<const float4*>(sp + 16);
                    f[0] = v0.x; f[1] = v0.y; f[2] = v0.z; f[3] = v0.w;
                    f[4] = v1.x; f[5] = v1.y; f[6] = v1.z; f[7] = v1.w;
                } else {
                    const uint4 v = *reinterpret_cast<const uint4*>(sp);
                    const uint32_t w4[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        f[2 * j] = scale16_to_float(w4[j] & 0xFFFFu, scale_kind);
                        f[2 * j + 1] = scale16_to_float(w4[j] >> 16, scale_kind);
                    }
                }
#pragma unroll
                for (int s = 0; s < 8; ++s) sc2[s] = dup_bits<BF16>(f[s]);
            }
            const uint32_t zw = zr_e != nullptr
                                    ? reinterpret_cast<const uint32_t*>(ss + 1024)[(li * NW_N + wn) * 8 + gq]
                                    : 0x88888888u;
            const uint32_t z_even = tc_zero_even_bytes(zw), z_odd = tc_zero_odd_bytes(zw);
#pragma unroll
            for (int s = 0; s < 8; ++s) zr2[s] = tc_zero_bits_of(z_even, z_odd, s, BF16);
        }

        // fetch_to_registers
        const uint4 bq = *reinterpret_cast<const uint4*>(st + (warp * 32 + lane) * 16);
        uint32_t a[M_TILES][4];
#pragma unroll
        for (int mt = 0; mt < M_TILES; ++mt) {
            const char* pa = st + 4096 + (mt * 16 + tc_ldsm_row(lane)) * A_PITCH + 2 * (TC_K16 * wk + tc_ldsm_col(lane));
            ldmatrix_x4(a[mt], pa);
        }
        // dequant + matmul
        const uint32_t words[4] = {bq.x, bq.y, bq.z, bq.w};
#pragma unroll
        for (int s = 0; s < 8; ++s) {
            const uint32_t wv = words[s >> 1];
            const int p0 = 2 * (s & 1);
            const uint32_t q0 = lop3_and_or(wv >> (4 * p0), 0x000F000Fu, magic);
            const uint32_t q1 = lop3_and_or(wv >> (4 * (p0 + 1)), 0x000F000Fu, magic);
            const uint32_t b0 = dequant2<BF16>(q0, zr2[s], sc2[s]);
            const uint32_t b1 = dequant2<BF16>(q1, zr2[s], sc2[s]);
#pragma unroll
            for (int mt = 0; mt < M_TILES; ++mt) mma16816<BF16>(acc[mt][s], a[mt], b0, b1);
        }
    }

    // ---- thread_block_reduce (over k-warps, fixed order) and write / global_reduce -----------
    cp_async_wait<0>();
    __syncthreads();
    float* red = reinterpret_cast<float*>(smem);  // [NW_K][16][TN]
    const int n_pad = gridDim.x * TN;
    const T* bias_t = reinterpret_cast<const T*>(bias);
    const float* bias_f = reinterpret_cast<const float*>(bias);
    T* y_t = reinterpret_cast<T*>(y);
    auto bias_at = [&](int col) -> float {
        if (bias == nullptr) return 0.f;
        const long long i = expert * bias_expert_stride + col;
        return bias_f32 ? bias_f[i] : A::to_float(bias_t[i]);
    };
    float* ws_block = splits > 1 ? workspace + ((long long)z * splits + split) * MB * n_pad : nullptr;

#pragma unroll
    for (int mt = 0; mt < M_TILES; ++mt) {
        if (mt * 16 < rows_here) {
            if (mt > 0) __syncthreads();
#pragma unroll
            for (int s = 0; s < 8; ++s)
#pragma unroll
                for (int i = 0; i < 4; ++i)
                    red[(wk * 16 + tc_c_row(lane, i)) * TN + wn * TC_WARP_N + 8 * s + tc_c_col(lane, i)] = acc[mt][s][i];
            __syncthreads();
            for (int e = tid; e < 16 * TN; e += TC_THREADS) {
                const int r = e / TN, c = e % TN;
                float sum = 0.f;
#pragma unroll
                for (int w = 0; w < NW_K; ++w) sum += red[(w * 16 + r) * TN + c];
                const int row = mt * 16 + r, col = nb * TN + c;
                if (row < rows_here && col < n) {
                    if (splits == 1) {
                        y_t[(long long)(row0 + row) * ldy + col] = A::from_float(sum + bias_at(col));
                    } else {
                        ws_block[(long long)row * n_pad + col] = sum;
                    }
                }
            }
        }
    }
    if (splits == 1) return;

    // global_reduce: last block of this (z, n tile) sums the partials in split order
    __threadfence();
    __syncthreads();
    int* counter = counters + (long long)z * gridDim.x + nb;
    if (tid == 0) s_is_last = atomicAdd(counter, 1) == splits - 1;
    __syncthreads();
    if (!s_is_last) return;
    __threadfence();
    const float* ws_z = workspace + (long long)z * splits * MB * n_pad;
    for (int e = tid; e < rows_here * TN; e += TC_THREADS) {
        const int row = e / TN, col = nb * TN + e % TN;
        if (col >= n) continue;
        float sum = 0.f;
        for (int p = 0; p < splits; ++p) sum += __ldcg(ws_z + ((long long)p * MB + row) * n_pad + col);
        y_t[(long long)(row0 + row) * ldy + col] = A::from_float(sum + bias_at(col));
    }
    if (tid == 0) *counter = 0;  // ready for the next launch
}

}  // namespace o4j_tc

#define O4J_TC_PARAMS                                                                                             \
    const void *x, const uint4 *qw, const void *scales, const uint32_t *zeros, const void *bias, void *y,           \
        float *workspace, int *counters, const int *problems, int m, int n, int k, int group_size, int groups,      \
        int k_pad, int ldx, int ldy, int scale_kind, int bias_f32, int splits, int k_chunk,                         \
        int m_blocks_per_problem, long long qw_expert_stride, long long scale_expert_stride,                        \
        long long zero_expert_stride, long long bias_expert_stride
#define O4J_TC_ARGS                                                                                                \
    x, qw, scales, zeros, bias, y, workspace, counters, problems, m, n, k, group_size, groups, k_pad, ldx, ldy,     \
        scale_kind, bias_f32, splits, k_chunk, m_blocks_per_problem, qw_expert_stride, scale_expert_stride,         \
        zero_expert_stride, bias_expert_stride

// M_TILES = 1: two blocks per SM (<= 128 registers); M_TILES = 2, 4: one block of 256 threads (at a
// 128-register cap M_TILES = 2 spills ~100 bytes; 64 + 64 accumulator/operand registers do not fit).
// One line per entry point (not a macro) so that the build's symbol check and KernelName see the names.

extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_f16_m16_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 1, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_f16_m16_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 1, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_f16_m16_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 1, 4>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m32_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 2, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m32_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 2, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m32_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 2, 4>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m64_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 4, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m64_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 4, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_f16_m64_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<false, 4, 4>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_bf16_m16_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 1, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_bf16_m16_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 1, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 2) o4j_w4a16_tc_bf16_m16_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 1, 4>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m32_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 2, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m32_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 2, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m32_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 2, 4>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m64_n64(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 4, 1>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m64_n128(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 4, 2>(O4J_TC_ARGS); }
extern "C" __global__ void __launch_bounds__(TC_THREADS, 1) o4j_w4a16_tc_bf16_m64_n256(O4J_TC_PARAMS) { o4j_tc::tc_body<true, 4, 4>(O4J_TC_ARGS); }
