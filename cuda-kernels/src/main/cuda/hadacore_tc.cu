// offload4j — HadaCore: the Hadamard transform on tensor cores, rounded once.
//
// WHAT
//   For every row x (d = 2^k elements, 1 ≤ k ≤ 15) of `in`:  out = scale · ((x ⊙ pre) · H_d) ⊙ post,
//   H_d the Sylvester Hadamard matrix (H_d[i][j] = (−1)^popcount(i & j), symmetric, so the
//   transpose flag of the op contract changes nothing here). bf16, fp16 or fp32 in and out; in
//   place (in == out) or disjoint. That is the 2^k kernels' contract; the m·2^k sizes (d = m·2^kn,
//   m ∈ {12, 20, 28, 40}: H_m ⊗ H_n) have their own kernel at the end of this file ("the m·2^k
//   kernel"). Unaligned rows and the other cases HadaCoreLaunch lists go to the CUDA-core kernel
//   (hadamard.cu); the adapter decides (CudaHadamardKernel).
//
// HOW: 16-point stages as 16×16 matrix products (mma.sync.m16n8k16, bf16 operands, fp32 accumulate)
//   A row index i has k bits; H_d = ⊗ over the bits of H_2, and the factors commute, so any grouping
//   of the bits into 16-point stages gives the same H_d. A "tile" is 256 elements whose indices
//   differ in 8 chosen bits; one warp holds a tile as the A fragment of mma.m16n8k16 (8 elements per
//   lane, positions in hadacore_tc.cuh): 4 tile bits index its rows, 4 its columns. Then
//
//       Z = X · B_c        B_c = H_2 or I_2 on each column bit (H_2 where the bit is transformed)
//       Y = A_r · Z        A_r likewise on the row bits
//
//   transforms all 8 bits. Z comes out of the first mma as C fragments, which are laid out like the
//   A fragment of Z but not like the B fragment the second mma needs: movmatrix.trans transposes
//   each 8×8 quarter in registers (no shared memory). Y comes out in the positions X went in.
//
// ACCURACY: one rounding
//   The published kernels feed the second stage with Z rounded to bf16/fp16 (two roundings, or one
//   per 16-point stage). Here every operand is split into bf16 parts that add up to it (NP = 2 for
//   16-bit data: exact for the inputs, 2^−17 for Z; NP = 3 for fp32: exact), each part multiplied
//   by the ±1/0 matrices (exact products) and accumulated in fp32. The error of the result is the
//   final rounding to the output type plus fp32 accumulation error: ≈ 1.6e−3 relative L2 for bf16.
//   Cost: NP mma per product instead of one; the kernel stays memory-bound (8 mma per 256 bf16
//   elements, ≈ 17 % of H100's mma.sync rate at full bandwidth).
//
// DATA FLOW
//   o4j_hadamard_tc_regs_*  (k ≤ 11; no shared memory, no barriers)
//     One warp per group of 256·R elements: R = 2^(k−8) tiles of one row for k > 8; for k ≤ 8 one
//     tile holding 256/d whole rows (bits ≥ k select the row and are not transformed).
//     global ──(2 × 4-element vector loads per lane per tile)──▶ registers, × pre, split
//       ──mma──▶ Z ──split, movmatrix──▶ ──mma──▶ Y   (bits 0..7 of each tile)
//       ──R-point butterflies across the R tiles in registers (bits 8..k−1)──▶ × scale × post,
//       round once ──(vector stores)──▶ global
//   o4j_hadamard_tc_smem_*  (12 ≤ k ≤ 15; one CTA per row, 512 threads, 4·d bytes of shared memory)
//     pass A: each warp takes 256-element chunks: global ─▶ tile transform of bits 0..7 ─▶ fp32 in
//             shared memory (swizzled 16-byte groups, conflict-free writes)
//     barrier
//     pass B: tiles over bits 8..k−1 (u0..u5) plus v bits, read word by word (conflict-free, see
//             smem_word); for k = 15 two tiles differing in bit 14 and one butterfly between them
//     barrier
//     store:  16-byte groups from shared memory ─▶ × scale × post, round once ─▶ global
//
// PARAMETERS (every kernel)
//   in, out      row-major [rows, d] with row strides inStride, outStride in elements (≥ d);
//                the regs kernels need both strides and both base addresses aligned to 4 elements
//                when k ≥ 2 (vector accesses), the smem kernels always (the adapter checks)
//   rows         number of rows (any, ≥ 1)
//   k            log2(d): 1..8 for regs<R=1>, 8 + log2(R) for the other regs kernels, 12..15 smem
//   scale        applied to every output before the one rounding
//   pre, post    d floats or nullptr
// LAUNCH
//   regs: block 128 (4 warps), grid ≤ ceil(groups / 4), grid-stride; no dynamic shared memory
//   smem: block 512, grid ≤ rows, grid-stride over rows; dynamic shared memory 4·d bytes (opt-in
//         above 48 KiB; d = 32768 needs 128 KiB: sm_80 and sm_90 only)
//
// REJECTED
//   - Rounding Z to bf16 between stages (HadaCore's published kernel): error 2–4× the single
//     rounding at large d; the issue asks for one rounding.
//   - fp16 operands for fp16 data: the fp16 range overflows at large d (|y| grows as √d·max|x|);
//     bf16 parts have fp32's range.
//   - ldmatrix/stmatrix through shared memory for the transpose: movmatrix does it in registers.
//   - Shared memory for k ≤ 11: R ≤ 8 tiles fit in registers, and the cross-tile stages are plain
//     fp32 butterflies.
//   - `__restrict__` on `in`: in place, in and out are the same memory, which `__restrict__`
//     forbids. It only turned the regs2/4/8 kernels' tile loads into ld.global.nc (same count,
//     same order; PTX of 2026-12-07); every element is read once, before its own warp writes it, so
//     plain loads cost no extra traffic. pre, post and hm never alias out and keep it.

#include "hadacore_tc.cuh"
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace hctc {

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t x) {
    uint32_t y;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(y) : "r"(x));
    return y;
}

// The constant fragments of one tile map.
struct TileMatrices {
    uint32_t aRow[4];
    uint32_t bCol[2][2];
};

// Hides a value's origin from the compiler's optimizer (an empty asm with the value as its output;
// it emits no instruction). Without it, CUDA 13.0 recomputed the tile matrices from the lane inside
// the row loop, about 110 instructions per tile in the k ≤ 8 kernel (sm_90a SASS), although that
// kernel uses only 44 registers. Observed with this toolkit: recheck the SASS after an upgrade.
__device__ __forceinline__ uint32_t opaque(uint32_t v) {
    asm volatile("" : "+r"(v));
    return v;
}

__device__ __forceinline__ TileMatrices tile_matrices(int rowMask, int colMask, int lane) {
    TileMatrices m;
#pragma unroll
    for (int r = 0; r < 4; r++) m.aRow[r] = opaque(a_frag_of_mask(rowMask, lane, r));
#pragma unroll
    for (int nt = 0; nt < 2; nt++)
#pragma unroll
        for (int r = 0; r < 2; r++) m.bCol[nt][r] = opaque(b_frag_of_mask(colMask, lane, nt, r));
    return m;
}

// The second product of a tile transform: Z (the first product's C fragments) is split, transposed
// into B fragments with movmatrix and multiplied by the row matrix; Y lands in x[0..7].
template <int NP>
__device__ __forceinline__ void tile_second_product(const float (&z)[2][4], float (&x)[8], const TileMatrices& m) {
    // Pair q holds elements (2q, 2q+1) = z[q >> 1][2(q & 1)], z[q >> 1][2(q & 1) + 1]; transposed,
    // pair q is register (q & 1) of the B fragment of n-tile (q >> 1).
    uint32_t b[NP][4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        uint32_t parts[NP];
        split_pair<NP>(z[q >> 1][2 * (q & 1)], z[q >> 1][2 * (q & 1) + 1], parts);
#pragma unroll
        for (int p = 0; p < NP; p++) b[p][q] = movmatrix_trans(parts[p]);
    }
    float y[2][4] = {};
#pragma unroll
    for (int nt = 0; nt < 2; nt++)
#pragma unroll
        for (int p = NP - 1; p >= 0; p--) mma_bf16(y[nt], m.aRow, b[p][2 * nt], b[p][2 * nt + 1]);
#pragma unroll
    for (int j = 0; j < 8; j++) x[j] = y[j >> 2][j & 3];
}

// Transforms one tile held as x[0..7] (the lane's elements, fp32) in place: Y = A_r · X · B_c.
template <int NP>
__device__ __forceinline__ void tile_transform(float (&x)[8], const TileMatrices& m) {
    uint32_t a[NP][4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t parts[NP];
        split_pair<NP>(x[2 * i], x[2 * i + 1], parts);
#pragma unroll
        for (int p = 0; p < NP; p++) a[p][i] = parts[p];
    }
    float z[2][4] = {};
#pragma unroll
    for (int nt = 0; nt < 2; nt++)
#pragma unroll
        for (int p = NP - 1; p >= 0; p--) mma_bf16(z[nt], a[p], m.bCol[nt][0], m.bCol[nt][1]);
    tile_second_product<NP>(z, x, m);
}

// The same for a tile of bf16 data with no pre-multiplication, given as loaded: word i holds the
// lane's elements 2i (low half) and 2i + 1, which is the A fragment itself. A bf16 value splits into
// itself and a zero remainder, so the first product is one mma per n-tile with no conversion or
// split, and the results are the same bits as tile_transform's (its remainder mma adds ±0 products
// to +0 accumulators before the value's). About 30 instructions fewer per tile (unpacking, two
// splits of four pairs, two mma).
template <int NP>
__device__ __forceinline__ void tile_transform_bf16(const uint32_t (&a)[4], float (&x)[8], const TileMatrices& m) {
    float z[2][4] = {};
#pragma unroll
    for (int nt = 0; nt < 2; nt++) mma_bf16(z[nt], a, m.bCol[nt][0], m.bCol[nt][1]);
    tile_second_product<NP>(z, x, m);
}

// ---- element access by type: 4 consecutive elements as one vector --------------------------------

template <typename T> struct Vec4;
template <> struct Vec4<float> {
    __device__ static void load(const float* p, float (&v)[4]) {
        float4 q = *reinterpret_cast<const float4*>(p);
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    }
    __device__ static void store(float* p, const float (&v)[4]) {
        *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
    __device__ static float one(const float* p) { return *p; }
    __device__ static void put(float* p, float v) { *p = v; }
};
template <> struct Vec4<__nv_bfloat16> {
    __device__ static void load(const __nv_bfloat16* p, float (&v)[4]) {
        uint2 q = *reinterpret_cast<const uint2*>(p);
        v[0] = __uint_as_float(q.x << 16); v[1] = __uint_as_float(q.x & 0xFFFF0000u);
        v[2] = __uint_as_float(q.y << 16); v[3] = __uint_as_float(q.y & 0xFFFF0000u);
    }
    __device__ static void store(__nv_bfloat16* p, const float (&v)[4]) {
        __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
        __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
        uint2 q;
        q.x = *reinterpret_cast<uint32_t*>(&a);
        q.y = *reinterpret_cast<uint32_t*>(&b);
        *reinterpret_cast<uint2*>(p) = q;
    }
    __device__ static float one(const __nv_bfloat16* p) { return __bfloat162float(*p); }
    __device__ static void put(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
};
template <> struct Vec4<__half> {
    __device__ static void load(const __half* p, float (&v)[4]) {
        uint2 q = *reinterpret_cast<const uint2*>(p);
        float2 a = __half22float2(*reinterpret_cast<__half2*>(&q.x));
        float2 b = __half22float2(*reinterpret_cast<__half2*>(&q.y));
        v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
    }
    __device__ static void store(__half* p, const float (&v)[4]) {
        __half2 a = __floats2half2_rn(v[0], v[1]);
        __half2 b = __floats2half2_rn(v[2], v[3]);
        uint2 q;
        q.x = *reinterpret_cast<uint32_t*>(&a);
        q.y = *reinterpret_cast<uint32_t*>(&b);
        *reinterpret_cast<uint2*>(p) = q;
    }
    __device__ static float one(const __half* p) { return __half2float(*p); }
    __device__ static void put(__half* p, float v) { *p = __float2half_rn(v); }
};

template <typename T> constexpr bool IS_BF16 = false;
template <> constexpr bool IS_BF16<__nv_bfloat16> = true;

template <typename T> struct Parts { static constexpr int value = 2; };
template <> struct Parts<float> { static constexpr int value = 3; };

// ---- outputs: the rounded transform (MODE_STORE), or the fused FP8 path ----------------------------
//
// The fused rotate-and-quantize runs the same transform twice (two launches): MODE_AMAX reduces
// max |y| of every scale group (rowsPerScale consecutive rows) into amaxBits[group] with atomicMax
// on the float's bits (non-negative floats order like their bits, NaN above +∞; amax_join, in the
// header, takes the larger the same way within a warp); MODE_FP8 recomputes y and writes
// e4m3(y / s) with s = max(amax / 448, FLT_MIN) (1 when amax = 0), saturating, round to nearest even — the
// convention of the attention module's Fp8Quantizer — and the scales. Recomputing costs one more
// read of the input (5 bytes per bf16 element in all) against 9 for a rounded bf16 transform followed
// by a separate quantize pass, and the quantized values come from fp32, not from a bf16 rounding.
// NaN or ±∞ in a group make its scale NaN or ∞ and its outputs NaN.
enum { MODE_STORE = 0, MODE_AMAX = 1, MODE_FP8 = 2 };

struct Fp8Out {
    uint8_t* q;                   // MODE_FP8: [rows, d] e4m3 bytes, row stride qStride (multiple of 4)
    long long qStride;
    long long rowsPerScale;       // rows per scale group; rows is a multiple of it
    unsigned* amaxBits;           // MODE_AMAX: [groups], zeroed before the launch
    const unsigned* amaxIn;       // MODE_FP8: the amax launch's result
    float* scales;                // MODE_FP8: [groups] written
    long long groups;
};

__device__ __forceinline__ float fp8_scale_of(unsigned amaxBits) {
    return fp8_scale_of_amax(__uint_as_float(amaxBits));
}

__device__ __forceinline__ uint32_t fp8x4(const float (&v)[4], float inv) {
    uint32_t q = 0;
#pragma unroll
    for (int e = 0; e < 4; e++) {
        q |= (uint32_t) __nv_cvt_float_to_fp8(v[e] / inv, __NV_SATFINITE, __NV_E4M3) << (8 * e);
    }
    return q;
}

__device__ __forceinline__ void write_scales(const Fp8Out& o) {
    for (long long g = (long long) blockIdx.x * blockDim.x + threadIdx.x; g < o.groups; g += (long long) gridDim.x * blockDim.x)
        o.scales[g] = fp8_scale_of(o.amaxIn[g]);
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = amax_join(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
    return v;
}

// ---- the register kernel: k ≤ 11 -----------------------------------------------------------------

// The register kernels' block size: HadaCoreLaunch.REGS_BLOCK and their __launch_bounds__. A
// constant rather than blockDim.x: ptxas kept blockDim.x in local memory across the calls of the
// FP8 path's IEEE division (a 4-byte spill in regs2_f16_fp8 once the splits got shorter).
constexpr int REGS_BLOCK = 128;

template <typename T, int LOGR, int MODE = MODE_STORE, int KFIX = 0>
__device__ __forceinline__ void regs_body(const T* in, T* out, long long rows, int k,
                                          long long inStride, long long outStride, float scale,
                                          const float* __restrict__ pre, const float* __restrict__ post,
                                          Fp8Out fp8 = Fp8Out{}) {
    constexpr int R = 1 << LOGR;
    constexpr int NP = Parts<T>::value;
    // regs2/4/8 serve exactly k = 8 + LOGR (HadaCoreLaunch): with k known at compile time the row and
    // column arithmetic folds away, and a group is one row, in one scale group.
    if (KFIX > 0) k = KFIX;
    else if (LOGR > 0) k = 8 + LOGR;
    const int lane = threadIdx.x & 31;
    const long long warp = ((long long) blockIdx.x * REGS_BLOCK + threadIdx.x) >> 5;
    const long long warps = ((long long) gridDim.x * REGS_BLOCK) >> 5;
    const int d = 1 << k;
    const int transformedInTile = k < 8 ? k : 8;
    const int rowsPerGroupLog = k < 8 ? 8 - k : 0;
    const long long groups = (rows + (1 << rowsPerGroupLog) - 1) >> rowsPerGroupLog;
    const bool vec = k >= 2;
    const TileMatrices m = tile_matrices(row_mask(PASS_A, 0, 0, transformedInTile), col_mask(PASS_A, 0, 0, transformedInTile), lane);

    for (long long grp = warp; grp < groups; grp += warps) {
        float x[R][8];
        // Rows shorter than a tile (k < 8) come only to the LOGR = 0 kernels; the others compile without the screen.
        const bool screen = LOGR == 0 && k < 8;
        RowFlags flags = {0u, 0u, 0u, 0u};  // screen only: rows of this group with a non-finite input
        // bf16 rows without pre-multiplication and without the screen go in as loaded (tile_transform_bf16)
        const bool asLoaded = IS_BF16<T> && pre == nullptr && vec && !screen;
        uint32_t raw[R][4];
        // Element (tile r, j): flat offset f = 256·r + pass_a_offset within the group; row and column
        // follow from d (for k ≤ 8 one group holds 256/d rows).
        if (asLoaded) {
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int f = 256 * r + pass_a_offset(lane, 4 * half);
                    long long row = (grp << rowsPerGroupLog) + (f >> k);
                    uint2 q = make_uint2(0u, 0u);
                    if (row < rows) q = *reinterpret_cast<const uint2*>(in + row * inStride + (f & (d - 1)));
                    raw[r][2 * half] = q.x;
                    raw[r][2 * half + 1] = q.y;
                }
        } else {
#pragma unroll
        for (int r = 0; r < R; r++) {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int f = 256 * r + pass_a_offset(lane, 4 * half);
                long long row = (grp << rowsPerGroupLog) + (f >> k);
                int col = f & (d - 1);
                float v[4] = {0.f, 0.f, 0.f, 0.f};
                if (vec) {
                    if (row < rows) Vec4<T>::load(in + row * inStride + col, v);
                } else {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        long long re = (grp << rowsPerGroupLog) + ((f + e) >> k);
                        if (re < rows) v[e] = Vec4<T>::one(in + re * inStride + ((f + e) & (d - 1)));
                    }
                }
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int c = vec ? col + e : (f + e) & (d - 1);
                    float xe = pre ? v[e] * pre[c] : v[e];
                    x[r][4 * half + e] = screen ? screen_nonfinite(xe, (f + e) >> k, flags) : xe;
                }
            }
        }
        }
        // One vote per group; the flags are OR-ed only when some lane saw a non-finite value.
        const bool anyFlagged = screen && __any_sync(0xFFFFFFFFu, any_flagged(flags));
        if (anyFlagged) {
            flags.w0 = __reduce_or_sync(0xFFFFFFFFu, flags.w0);
            flags.w1 = __reduce_or_sync(0xFFFFFFFFu, flags.w1);
            flags.w2 = __reduce_or_sync(0xFFFFFFFFu, flags.w2);
            flags.w3 = __reduce_or_sync(0xFFFFFFFFu, flags.w3);
        }
        if (asLoaded) {
#pragma unroll
            for (int r = 0; r < R; r++) tile_transform_bf16<NP>(raw[r], x[r], m);
        } else {
#pragma unroll
            for (int r = 0; r < R; r++) tile_transform<NP>(x[r], m);
        }
        // Bits 8..k−1: butterflies across the R tiles (same positions in each).
#pragma unroll
        for (int h = 1; h < R; h <<= 1)
#pragma unroll
            for (int r = 0; r < R; r++)
                if ((r & h) == 0)
#pragma unroll
                    for (int j = 0; j < 8; j++) {
                        float a = x[r][j], b = x[r + h][j];
                        x[r][j] = a + b;
                        x[r + h][j] = a - b;
                    }
        // The scale groups this warp's rows fall in: one for the whole group unless a group
        // boundary falls inside it (small rowsPerScale with k < 8). A group of one row (k ≥ 8,
        // and a constant in the k = 8 body and regs2/4/8) is one scale group without dividing.
        long long firstRow = grp << rowsPerGroupLog;
        long long lastRow = min(rows, firstRow + (1LL << rowsPerGroupLog)) - 1;
        bool oneScaleGroup = MODE == MODE_STORE || rowsPerGroupLog == 0 || firstRow / fp8.rowsPerScale == lastRow / fp8.rowsPerScale;
        float laneMax = 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++) {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int f = 256 * r + pass_a_offset(lane, 4 * half);
                long long row = (grp << rowsPerGroupLog) + (f >> k);
                int col = f & (d - 1);
                float v[4];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int c = vec ? col + e : (f + e) & (d - 1);
                    v[e] = x[r][4 * half + e] * scale * (post ? post[c] : 1.0f);
                    if (anyFlagged && row_flagged(flags, (f + e) >> k)) v[e] = quiet_nan();
                }
                if (MODE == MODE_AMAX) {
                    // Vector rows only (k ≥ 2): the adapter sends d = 2 to the composite path.
                    float m4 = row < rows ? amax_join(amax_join(fabsf(v[0]), fabsf(v[1])), amax_join(fabsf(v[2]), fabsf(v[3]))) : 0.0f;
                    if (oneScaleGroup) {
                        laneMax = amax_join(laneMax, m4);
                    } else if (row < rows) {
                        atomicMax(fp8.amaxBits + row / fp8.rowsPerScale, __float_as_uint(m4));
                    }
                    continue;
                }
                if (MODE == MODE_FP8) {
                    if (row < rows) {
                        float s = fp8_scale_of(fp8.amaxIn[row / fp8.rowsPerScale]);
                        *reinterpret_cast<uint32_t*>(fp8.q + row * fp8.qStride + col) = fp8x4(v, s);
                    }
                    continue;
                }
                if (vec) {
                    if (row < rows) Vec4<T>::store(out + row * outStride + col, v);
                } else {
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        long long re = (grp << rowsPerGroupLog) + ((f + e) >> k);
                        if (re < rows) Vec4<T>::put(out + re * outStride + ((f + e) & (d - 1)), v[e]);
                    }
                }
            }
        }
        if (MODE == MODE_AMAX && oneScaleGroup) {
            float m = warp_max(laneMax);
            if (lane == 0) atomicMax(fp8.amaxBits + firstRow / fp8.rowsPerScale, __float_as_uint(m));
        }
    }
    if (MODE == MODE_FP8) write_scales(fp8);
}

// The k ≤ 8 kernels: the common head sizes d = 64, 128, 256 get a body compiled for their k (one
// uniform switch per launch), in which the row/column arithmetic of the loads and stores and the
// non-finite screen fold to constants; other k run the general body. sm_90a SASS, bf16, one
// 256-element tile per warp and iteration: the one body for every k ≤ 8 had a 2085-instruction loop;
// the k = 8 body's loop is 198 (every pre/post variant; 133 on the path without them), k = 7 and 6
// 321 and 331 (with the non-finite screen), against about 280 issue slots that full bandwidth allows.
template <typename T, int MODE = MODE_STORE>
__device__ __forceinline__ void regs1_body(const T* in, T* out, long long rows, int k,
                                           long long inStride, long long outStride, float scale,
                                           const float* __restrict__ pre, const float* __restrict__ post,
                                           Fp8Out fp8 = Fp8Out{}) {
    switch (k) {
        case 6: regs_body<T, 0, MODE, 6>(in, out, rows, k, inStride, outStride, scale, pre, post, fp8); break;
        case 7: regs_body<T, 0, MODE, 7>(in, out, rows, k, inStride, outStride, scale, pre, post, fp8); break;
        case 8: regs_body<T, 0, MODE, 8>(in, out, rows, k, inStride, outStride, scale, pre, post, fp8); break;
        default: regs_body<T, 0, MODE>(in, out, rows, k, inStride, outStride, scale, pre, post, fp8); break;
    }
}

// ---- the shared-memory kernel: 12 ≤ k ≤ 15 -------------------------------------------------------

template <typename T, int K, int MODE = MODE_STORE>
__device__ __forceinline__ void smem_body(const T* in, T* out, long long rows,
                                          long long inStride, long long outStride, float scale,
                                          const float* __restrict__ pre, const float* __restrict__ post,
                                          Fp8Out fp8 = Fp8Out{}) {
    constexpr int NP = Parts<T>::value;
    constexpr int D = 1 << K;
    constexpr int NU = K - 8;
    constexpr int CHUNKS = D / 256;
    constexpr int PAIRS = NU == 7 ? 2 : 1;
    constexpr int TILES_B = (D / 256) / PAIRS;
    extern __shared__ float4 smem4[];
    float* smem = reinterpret_cast<float*>(smem4);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const TileMatrices ma = tile_matrices(row_mask(PASS_A, 0, 0, 8), col_mask(PASS_A, 0, 0, 8), lane);
    const TileMatrices mb = tile_matrices(row_mask(PASS_B, NU, 8, 8 + NU), col_mask(PASS_B, NU, 8, 8 + NU), lane);
    // pass B's word of element (lane, j, pair) in tile 0; a tile XORs in its free v bits
    uint32_t wordB[PAIRS][8];
#pragma unroll
    for (int pr = 0; pr < PAIRS; pr++)
#pragma unroll
        for (int j = 0; j < 8; j++) wordB[pr][j] = opaque((uint32_t) pass_b_word_fixed(lane, j, pr, NU));

    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* src = in + row * inStride;
        for (int c = warp; c < CHUNKS; c += warps) {
            float x[8];
            if (IS_BF16<T> && pre == nullptr) {  // as loaded: see tile_transform_bf16
                uint32_t a[4];
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    const uint2 q = *reinterpret_cast<const uint2*>(src + 256 * c + pass_a_offset(lane, 4 * half));
                    a[2 * half] = q.x;
                    a[2 * half + 1] = q.y;
                }
                tile_transform_bf16<NP>(a, x, ma);
            } else {
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int col = 256 * c + pass_a_offset(lane, 4 * half);
                    float v[4];
                    Vec4<T>::load(src + col, v);
#pragma unroll
                    for (int e = 0; e < 4; e++) x[4 * half + e] = pre ? v[e] * pre[col + e] : v[e];
                }
                tile_transform<NP>(x, ma);
            }
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int col = 256 * c + pass_a_offset(lane, 4 * half);
                *reinterpret_cast<float4*>(smem + smem_word(col)) =
                        make_float4(x[4 * half], x[4 * half + 1], x[4 * half + 2], x[4 * half + 3]);
            }
        }
        __syncthreads();
        for (int tile = warp; tile < TILES_B; tile += warps) {
            const uint32_t tileWord = (uint32_t) pass_b_word_of_tile(tile, NU);
            float x[PAIRS][8];
#pragma unroll
            for (int pr = 0; pr < PAIRS; pr++)
#pragma unroll
                for (int j = 0; j < 8; j++) x[pr][j] = smem[wordB[pr][j] ^ tileWord];
#pragma unroll
            for (int pr = 0; pr < PAIRS; pr++) tile_transform<NP>(x[pr], mb);
            if (PAIRS == 2) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    float a = x[0][j], b = x[PAIRS - 1][j];
                    x[0][j] = a + b;
                    x[PAIRS - 1][j] = a - b;
                }
            }
#pragma unroll
            for (int pr = 0; pr < PAIRS; pr++)
#pragma unroll
                for (int j = 0; j < 8; j++) smem[wordB[pr][j] ^ tileWord] = x[pr][j];
        }
        __syncthreads();
        float threadMax = 0.0f;
        float s8 = MODE == MODE_FP8 ? fp8_scale_of(fp8.amaxIn[row / fp8.rowsPerScale]) : 1.0f;
        for (int q = threadIdx.x; q < D / 4; q += blockDim.x) {
            float4 g = *reinterpret_cast<const float4*>(smem + smem_word(4 * q));
            float v[4] = {g.x, g.y, g.z, g.w};
#pragma unroll
            for (int e = 0; e < 4; e++) v[e] *= scale * (post ? post[4 * q + e] : 1.0f);
            if (MODE == MODE_AMAX) {
                threadMax = amax_join(threadMax, amax_join(amax_join(fabsf(v[0]), fabsf(v[1])), amax_join(fabsf(v[2]), fabsf(v[3]))));
            } else if (MODE == MODE_FP8) {
                *reinterpret_cast<uint32_t*>(fp8.q + row * fp8.qStride + 4 * q) = fp8x4(v, s8);
            } else {
                Vec4<T>::store(out + row * outStride + 4 * q, v);
            }
        }
        if (MODE == MODE_AMAX) {
            float m = warp_max(threadMax);
            if (lane == 0) atomicMax(fp8.amaxBits + row / fp8.rowsPerScale, __float_as_uint(m));
        }
        __syncthreads();
    }
    if (MODE == MODE_FP8) write_scales(fp8);
}


// ---- the m·2^k kernel: d = m·n, m ∈ {12, 20, 28, 40}, n = 2^kn ≤ 2048 ----------------------------
//
// One CTA per row, 256 threads, the row in shared memory as fp32, segment a at word a·S (S = n + 4
// from n = 8 on, against bank conflicts in pass M: mseg_stride). Row index i = a·n + b (a < m: the
// segment, b < n).
//   pass A  the regs kernel's flow over the row: groups of max(256, n) contiguous elements; each
//           tile transforms index bits below kn (bits ≥ kn select the segment and are carried),
//           butterflies across the R = n/256 tiles of a segment when kn > 8; fp32 to shared memory
//           (16-byte stores of 4 consecutive elements: conflict-free, 2-way at n = 8, 16 by the padding)
//   pass M  y[a'][b] = Σ_a H_m[a][a'] · u[a][b] (H_m[a'][a] when transposed) as mma.m16n8k16
//           products Gᵀ · U, compiled for each m (pass_m_tc<NP, M>): the Gᵀ fragments (±1, exact)
//           in registers, U read per 8 columns and split into bf16 parts as the tile transform's Z
//           is; each warp owns its columns and writes them back in place
//   store   × scale × post, one rounding, 4-element vector stores
// Arguments: in, out, rows, kn, m, inStride, outStride, scale, transpose, hm (m·m floats, row-major
// H_m exactly as Java's HadamardMatrices builds it), pre, post. Dynamic shared memory 4·m·S bytes.
// Pass M on tensor cores (hadacore_tc.cuh, "pass M of the m·2^k kernel"): Y = Gᵀ · U for M = m.
// A warp takes the n tiles of 8 columns b ≡ warp (mod warps): it reads the tile's U (every k tile,
// split into NP bf16 parts as B fragments), multiplies by the Gᵀ fragments it holds, and writes
// the 8 columns back in place (no other warp reads them). Before, a thread per column ran the m²
// FMAs on CUDA cores with a load of G for every four: about 1.25 m² instructions per column, at
// d = 14336 (m = 28) about 17k warp instructions a row, against about 16k that full bandwidth
// allows for the whole row; here about 84 per 8 columns at m = 28 (sm_90a), about 5.4k a row.
template <int M> constexpr int MSEG_T16 = (M + 15) / 16;  // m tiles = k tiles of pass M

// The Gᵀ fragments a lane holds for pass M, built once per CTA from hm (global memory).
template <int M>
__device__ __forceinline__ void pass_m_fragments(uint32_t (&ga)[MSEG_T16<M>][MSEG_T16<M>][4], const float* __restrict__ hm,
                                                 int transpose) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int mt = 0; mt < MSEG_T16<M>; mt++)
#pragma unroll
        for (int kt = 0; kt < MSEG_T16<M>; kt++)
#pragma unroll
            for (int r = 0; r < 4; r++) ga[mt][kt][r] = opaque(mseg_a_frag(hm, M, transpose != 0, mt, kt, lane, r));
}

// Shared-memory accesses by a 32-bit .shared address computed once: with generic pointers the
// compiler rebuilt the shared window base (S2UR SR_CgaCtaId, UMOV, ULEA) at every access of pass M.
// The load is done by the lanes where ok holds; the others read nothing (0), so that padding rows
// do not touch a bank that a real row of the same instruction uses.
__device__ __forceinline__ float lds_f32_if(uint32_t addr, bool ok) {
    float v = 0.0f;
    asm volatile(
        "{\n .reg .pred p;\n setp.ne.u32 p, %2, 0;\n @p ld.shared.f32 %0, [%1];\n}\n"
        : "+f"(v)
        : "r"(addr), "r"((uint32_t) ok)
        : "memory");
    return v;
}
// The store likewise by the lanes where ok holds (one predicated instruction, no branch).
__device__ __forceinline__ void sts_f32_if(uint32_t addr, float v, bool ok) {
    asm volatile("{\n .reg .pred p;\n setp.ne.u32 p, %2, 0;\n @p st.shared.f32 [%0], %1;\n}\n" ::"r"(addr), "f"(v),
                 "r"((uint32_t) ok)
                 : "memory");
}

template <int NP, int M>
__device__ __forceinline__ void pass_m_tc(float* row_smem, int kn, const uint32_t (&ga)[MSEG_T16<M>][MSEG_T16<M>][4]) {
    const int n = 1 << kn;
    constexpr int T16 = MSEG_T16<M>;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const uint32_t row_s = (uint32_t) __cvta_generic_to_shared(row_smem);
    // The lane's U rows (byte offsets; rows ≥ M are not read, 0) and output rows.
    uint32_t in_off[T16][2][2], out_off[T16][2];
#pragma unroll
    for (int kt = 0; kt < T16; kt++)
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int a = 16 * kt + mseg_b_row(lane, r, h);
                in_off[kt][r][h] = opaque(a < M ? (uint32_t) (4 * mseg_word(a, 0, kn)) : 0u);
            }
#pragma unroll
    for (int mt = 0; mt < T16; mt++)
#pragma unroll
        for (int q = 0; q < 2; q++) out_off[mt][q] = opaque((uint32_t) (4 * mseg_word(16 * mt + mseg_d_row(lane, 2 * q), 0, kn)));
    const int ntiles = (n + 7) / 8;
    for (int nt = warp; nt < ntiles; nt += warps) {
        const int colB = 8 * nt + mseg_b_col(lane);      // the lane's B column
        const int colD = 8 * nt + mseg_d_col(lane, 0);   // its first D column (the second is + 1)
        const bool okB = colB < n;                       // n ≥ 8 (kn ≥ 3): always
        const uint32_t baseB = row_s + 4u * (uint32_t) (okB ? colB : 0);
        uint32_t bu[T16][NP][2];
#pragma unroll
        for (int kt = 0; kt < T16; kt++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float v[2];
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const bool rowOk = 16 * kt + mseg_b_row(lane, r, h) < M;
                    v[h] = lds_f32_if(baseB + in_off[kt][r][h], rowOk && okB);
                }
                uint32_t parts[NP];
                split_pair<NP>(v[0], v[1], parts);
#pragma unroll
                for (int p = 0; p < NP; p++) bu[kt][p][r] = parts[p];
            }
        float y[T16][4];
#pragma unroll
        for (int mt = 0; mt < T16; mt++) {
#pragma unroll
            for (int i = 0; i < 4; i++) y[mt][i] = 0.0f;
#pragma unroll
            for (int kt = 0; kt < T16; kt++)
#pragma unroll
                for (int p = NP - 1; p >= 0; p--) mma_bf16(y[mt], ga[mt][kt], bu[kt][p][0], bu[kt][p][1]);
        }
        __syncwarp();  // every lane's reads of these columns are done before any lane writes them
        const uint32_t baseD = row_s + 4u * (uint32_t) colD;
#pragma unroll
        for (int mt = 0; mt < T16; mt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int ao = 16 * mt + mseg_d_row(lane, i);
                sts_f32_if(baseD + out_off[mt][i >> 1] + 4u * (i & 1), y[mt][i], ao < M && colD + (i & 1) < n);
            }
    }
}

template <typename T, int LOGR, int M>
__device__ __forceinline__ void mseg_rows(const T* in, T* out, long long rows, int kn,
                                          long long inStride, long long outStride, float scale, int transpose,
                                          const float* __restrict__ hm, const float* __restrict__ pre,
                                          const float* __restrict__ post) {
    constexpr int R = 1 << LOGR;
    constexpr int NP = Parts<T>::value;
    extern __shared__ float4 smem4[];
    float* row_smem = reinterpret_cast<float*>(smem4);
    const int n = 1 << kn;
    const int d = M * n;
    uint32_t ga[MSEG_T16<M>][MSEG_T16<M>][4];
    pass_m_fragments<M>(ga, hm, transpose);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    const int groupSize = 256 * R;                  // = max(256, n)
    const int groups = (d + groupSize - 1) / groupSize;
    const int transformedInTile = kn < 8 ? kn : 8;
    const TileMatrices mt = tile_matrices(row_mask(PASS_A, 0, 0, transformedInTile),
                                          col_mask(PASS_A, 0, 0, transformedInTile), lane);

    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* src = in + row * inStride;
        for (int grp = warp; grp < groups; grp += warps) {
            float x[R][8];
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int f = grp * groupSize + 256 * r + pass_a_offset(lane, 4 * half);
                    float v[4] = {0.f, 0.f, 0.f, 0.f};
                    if (f < d) Vec4<T>::load(src + f, v);
#pragma unroll
                    for (int e = 0; e < 4; e++) x[r][4 * half + e] = (pre && f < d) ? v[e] * pre[f + e] : v[e];
                }
#pragma unroll
            for (int r = 0; r < R; r++) tile_transform<NP>(x[r], mt);
#pragma unroll
            for (int h = 1; h < R; h <<= 1)
#pragma unroll
                for (int r = 0; r < R; r++)
                    if ((r & h) == 0)
#pragma unroll
                        for (int j = 0; j < 8; j++) {
                            float a = x[r][j], b = x[r + h][j];
                            x[r][j] = a + b;
                            x[r + h][j] = a - b;
                        }
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int f = grp * groupSize + 256 * r + pass_a_offset(lane, 4 * half);
                    if (f < d)
                        *reinterpret_cast<float4*>(row_smem + mseg_word_of(f, kn)) =
                                make_float4(x[r][4 * half], x[r][4 * half + 1], x[r][4 * half + 2], x[r][4 * half + 3]);
                }
        }
        __syncthreads();
        pass_m_tc<NP, M>(row_smem, kn, ga);
        __syncthreads();
        T* dst = out + row * outStride;
        for (int q = threadIdx.x; q < d / 4; q += blockDim.x) {
            float4 g = *reinterpret_cast<const float4*>(row_smem + mseg_word_of(4 * q, kn));
            float v[4] = {g.x, g.y, g.z, g.w};
#pragma unroll
            for (int e = 0; e < 4; e++) v[e] *= scale * (post ? post[4 * q + e] : 1.0f);
            Vec4<T>::store(dst + 4 * q, v);
        }
        __syncthreads();
    }
}

// The m·2^k kernels dispatch on m once per launch, so that each body holds only its own Gᵀ
// fragments (up to 36 registers at m = 40) and only the (m, R) pairs that d ≤ 32768 admits are
// compiled: R = 2^(kn − 8) tiles per segment, d = m · 256 · R for R > 1 (m ≤ 32 for R = 4, m = 12
// for R = 8). Anything else traps: HadamardSize admits m ∈ {12, 20, 28, 40} only.
template <int LOGR, int M> constexpr bool MSEG_ADMITS = M * (256 << LOGR) <= 32768 || LOGR == 0;

template <typename T, int LOGR, int M>
__device__ __forceinline__ void mseg_if_admitted(const T* in, T* out, long long rows, int kn, long long inStride,
                                                 long long outStride, float scale, int transpose, const float* hm,
                                                 const float* pre, const float* post) {
    if constexpr (MSEG_ADMITS<LOGR, M>) {
        mseg_rows<T, LOGR, M>(in, out, rows, kn, inStride, outStride, scale, transpose, hm, pre, post);
    } else {
        __trap();
    }
}

template <typename T, int LOGR>
__device__ __forceinline__ void mseg_body(const T* in, T* out, long long rows, int kn, int m,
                                          long long inStride, long long outStride, float scale, int transpose,
                                          const float* __restrict__ hm, const float* __restrict__ pre,
                                          const float* __restrict__ post) {
    switch (m) {
        case 12: mseg_if_admitted<T, LOGR, 12>(in, out, rows, kn, inStride, outStride, scale, transpose, hm, pre, post); break;
        case 20: mseg_if_admitted<T, LOGR, 20>(in, out, rows, kn, inStride, outStride, scale, transpose, hm, pre, post); break;
        case 28: mseg_if_admitted<T, LOGR, 28>(in, out, rows, kn, inStride, outStride, scale, transpose, hm, pre, post); break;
        case 40: mseg_if_admitted<T, LOGR, 40>(in, out, rows, kn, inStride, outStride, scale, transpose, hm, pre, post); break;
        default: __trap();  // unreachable through the API; loud rather than wrong
    }
}

}  // namespace hctc

// ---- entry points ------------------------------------------------------------------------------
// One line each, so that the build's symbol check and KernelName find every name.
//   o4j_hadamard_tc_regs<R>_<type>(in, out, rows, k, inStride, outStride, scale, pre, post)
//       R tiles per warp: regs1 for k ≤ 8, regs2/4/8 for k = 9/10/11. No regs8 for fp32: 8 tiles
//       of 3-part splits need more than 255 registers on sm_80 (ptxas spilled 20 bytes); fp32 rows
//       of 2048 go to the CUDA-core kernel.
//   o4j_hadamard_tc_smem<K>_<type>(in, out, rows, inStride, outStride, scale, pre, post)   K = k
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs1_body<__nv_bfloat16>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__nv_bfloat16, 1>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__nv_bfloat16, 2>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__nv_bfloat16, 3>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_f16(const __half* in, __half* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs1_body<__half>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_f16(const __half* in, __half* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__half, 1>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_f16(const __half* in, __half* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__half, 2>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_f16(const __half* in, __half* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<__half, 3>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_f32(const float* in, float* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs1_body<float>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_f32(const float* in, float* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<float, 1>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_f32(const float* in, float* out, long long rows, int k, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::regs_body<float, 2>(in, out, rows, k, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__nv_bfloat16, 12>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__nv_bfloat16, 13>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__nv_bfloat16, 14>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__nv_bfloat16, 15>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_f16(const __half* in, __half* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__half, 12>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_f16(const __half* in, __half* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__half, 13>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_f16(const __half* in, __half* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__half, 14>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_f16(const __half* in, __half* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<__half, 15>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_f32(const float* in, float* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<float, 12>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_f32(const float* in, float* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<float, 13>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_f32(const float* in, float* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<float, 14>(in, out, rows, inStride, outStride, scale, pre, post); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_f32(const float* in, float* out, long long rows, long long inStride, long long outStride, float scale, const float* pre, const float* post) { hctc::smem_body<float, 15>(in, out, rows, inStride, outStride, scale, pre, post); }
//   o4j_hadamard_tc_m_r<R>_<type>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post)
//       d = m·2^kn; R = 1 for kn ≤ 8, else 2^(kn−8)
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r1_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__nv_bfloat16, 0>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r2_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__nv_bfloat16, 1>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r4_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__nv_bfloat16, 2>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r8_bf16(const __nv_bfloat16* in, __nv_bfloat16* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__nv_bfloat16, 3>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r1_f16(const __half* in, __half* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__half, 0>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r2_f16(const __half* in, __half* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__half, 1>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r4_f16(const __half* in, __half* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__half, 2>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r8_f16(const __half* in, __half* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<__half, 3>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r1_f32(const float* in, float* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<float, 0>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r2_f32(const float* in, float* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<float, 1>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
extern "C" __global__ void __launch_bounds__(256) o4j_hadamard_tc_m_r4_f32(const float* in, float* out, long long rows, int kn, int m, long long inStride, long long outStride, float scale, int transpose, const float* hm, const float* pre, const float* post) { hctc::mseg_body<float, 2>(in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post); }
//   o4j_hadamard_tc_{regs<R>|smem<K>}_<type>_amax(in, rows, k, inStride, scale, rowsPerScale, amaxBits)
//   o4j_hadamard_tc_{regs<R>|smem<K>}_<type>_fp8(in, q, rows, k, inStride, qStride, scale, rowsPerScale,
//                                                 amaxBits, scales, groups)       (k unused by smem<K>)
//       the fused rotate-and-quantize to FP8 E4M3 (bf16 and fp16 rows, d = 2^k ≥ 4): MODE_AMAX, MODE_FP8
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs1_body<__nv_bfloat16, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs1_body<__nv_bfloat16, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__nv_bfloat16, 1, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__nv_bfloat16, 1, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__nv_bfloat16, 2, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__nv_bfloat16, 2, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__nv_bfloat16, 3, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__nv_bfloat16, 3, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__nv_bfloat16, 12, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__nv_bfloat16, 12, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__nv_bfloat16, 13, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__nv_bfloat16, 13, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__nv_bfloat16, 14, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__nv_bfloat16, 14, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_bf16_amax(const __nv_bfloat16* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__nv_bfloat16, 15, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_bf16_fp8(const __nv_bfloat16* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__nv_bfloat16, 15, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs1_body<__half, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs1_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs1_body<__half, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__half, 1, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs2_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__half, 1, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__half, 2, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs4_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__half, 2, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::regs_body<__half, 3, hctc::MODE_AMAX>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(128) o4j_hadamard_tc_regs8_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::regs_body<__half, 3, hctc::MODE_FP8>(in, nullptr, rows, k, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__half, 12, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem12_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__half, 12, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__half, 13, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem13_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__half, 13, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__half, 14, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem14_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__half, 14, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_f16_amax(const __half* in, long long rows, int k, long long inStride, float scale, long long rowsPerScale, unsigned* amaxBits) { hctc::Fp8Out o{}; o.rowsPerScale = rowsPerScale; o.amaxBits = amaxBits; hctc::smem_body<__half, 15, hctc::MODE_AMAX>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
extern "C" __global__ void __launch_bounds__(512) o4j_hadamard_tc_smem15_f16_fp8(const __half* in, unsigned char* q, long long rows, int k, long long inStride, long long qStride, float scale, long long rowsPerScale, const unsigned* amaxBits, float* scales, long long groups) { hctc::Fp8Out o{q, qStride, rowsPerScale, nullptr, amaxBits, scales, groups}; hctc::smem_body<__half, 15, hctc::MODE_FP8>(in, nullptr, rows, inStride, 0, scale, nullptr, nullptr, o); }
