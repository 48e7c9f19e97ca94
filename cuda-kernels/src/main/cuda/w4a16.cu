// offload4j — W4A16 GEMM with SplitK, version 1: simple and correct (CUDA cores, fp32 FMA, no
// tensor cores, no cp.async). Speed comes later (a Marlin-style mma.sync kernel).
//
// ============================================================================================
// What it computes (the W4A16Kernel contract, splitk/…/package-info.java)
// ============================================================================================
//   y[i, j] = bias[j] + Σ_kk x[i, kk] · (q[kk, j] − z[kk / g, j]) · s[kk / g, j]
// x, y bf16 or fp16; products and sums in fp32; the bias added in fp32; y rounded once (nearest,
// ties to even).
//
// Device layout of the weight (made by the Java prepack, CudaW4A16Kernel / W4A16Launch)
// -----------------------------------------------------------------------------------------
// The GPTQ interchange tensors, unchanged except the scales' dtype:
//   qweight  int32 [k/8][n]   word (r, j) = rows 8r..8r+7 of column j, nibble t = row 8r+t
//   qzeros   int32 [k/g][n/8] word (gi, c) = zeros of columns 8c..8c+7, nibble t = column 8c+t;
//            nullptr for the symmetric variant (z = 8)
//   scales   fp32  [k/g][n]   FP16/BF16/FP32 scales widened (exactly) to fp32 at prepack
// One word of qweight is 8 consecutive k-rows of one column, so threads owning consecutive
// columns read consecutive words: the weight stream is coalesced without any repacking.
// Rejected alternative: a Marlin-style permuted layout for ldmatrix/mma fragments; it only pays
// with the tensor-core kernel, and the identity layout keeps prepack a plain upload.
//
// SplitK
// ------
// The k dimension (as kWords = k/8 word rows) is cut into `splits` contiguous ranges, one per
// gridDim.z (o4j_w4_split_begin: begin(z) = floor(kWords·z/splits)). Example, k = 4096
// (512 words), splits = 3, m = 5, n = 300:
//
//        k-words:  0 ........ 170 | 170 ........ 341 | 341 ........ 512
//   blockIdx.z:         z = 0     |       z = 1      |       z = 2
//   grid (x, y):  3 column tiles of 128 (last one 44 wide) × 1 row tile of 8 (5 used) per split
//
// Stage 1, o4j_w4a16_splitk_<T>: block (tile_n, tile_m, z) sums its k range for 8 rows × 128
// columns in fp32 registers and writes ws[z][i][j] (fp32, [splits][m][n]) for every i < m, j < n
// of its tile — also for an empty range (zeros), so every workspace element is written.
// Stage 2, o4j_w4a16_reduce_<T>: one thread per (i, j) sums ws[0..splits−1][i][j] in the fixed
// order z = 0, 1, …, then adds the bias, rounds once and stores y[i·ldy + j]. Fixed order, no
// atomics: the result is bit-for-bit deterministic for a given `splits`.
// Rejected alternatives: atomicAdd into an fp32 buffer (order-dependent results); a last-block
// fix-up with a counter (needs a zeroed semaphore array per call; a second launch is simpler and
// its cost, m·n·splits·4 bytes read, is small next to the weight stream for the m this targets).
// splits = 1 still goes through the workspace and the reduce (one code path; the reduce also does
// the bias and the rounding).
//
// Stage 1 pipeline per block (128 threads, thread tx owns column j = 128·blockIdx.x + tx and rows
// i = 8·blockIdx.y + 0..7):
//   for each chunk of 32 word rows (256 k-rows) of the split's range:
//     load_x_tile    x_sh[8][256] ← x[i0..i0+7][8·chunk ..], widened to fp32 (rows ≥ m: 0)
//     __syncthreads
//     for each word row r of the chunk:
//       fetch_weight  word = qweight[r][j]; gi = 8r/g; s = scales[gi][j]; zs = z·s  (j < n only)
//       dequant       w[t] = (q_t − z)·s for t = 0..7   ((q − z) exact in int, one fp32 rounding)
//       fma           acc[ii] += Σ_t x_sh[ii][8(r − chunk) + t] · w[t]   (x_sh reads are broadcasts)
//     __syncthreads
//   write_partial  ws[z][i][j] = acc[ii]
//
// Launch contract (W4A16Launch.java computes the same)
// ----------------------------------------------------
//   stage 1: o4j_w4a16_splitk_bf16 | o4j_w4a16_splitk_f16   (T = __nv_bfloat16 | __half)
//     grid   (ceil(n/128), ceil(m/8), splits)     gridDim.y ≤ 65535 → m ≤ 524280 per launch
//     block  (128, 1, 1)
//     smem   0 dynamic (8 KiB static: x_sh)
//     args:
//       0  const T*       x          [m][ldx], row i at x + i·ldx
//       1  long long      ldx        elements between rows of x (≥ k)
//       2  const int*     qweight    [k/8][n]
//       3  const int*     qzeros     [k/g][n/8], or nullptr (symmetric, z = 8)
//       4  const float*   scales     [k/g][n]
//       5  float*         ws         [splits][m][n] fp32 workspace, splits·m·n·4 bytes
//       6  int            m          rows of x and y (≥ 1)
//       7  int            n          columns of W and y (multiple of 8)
//       8  int            k          rows of W (multiple of 8 and of g)
//       9  int            groupSize  g: 32, 64, 128 or k
//      10  int            splits     gridDim.z, 1 ≤ splits ≤ k/8
//   stage 2: o4j_w4a16_reduce_bf16 | o4j_w4a16_reduce_f16   (same stream, after stage 1)
//     grid   (ceil(m·n/256), 1, 1)   (m·n/256 ≤ 2^31−1)
//     block  (256, 1, 1)
//     smem   0
//     args:
//       0  const float*   ws         the workspace stage 1 wrote
//       1  const void*    bias       [n]: fp32 when biasKind = 1, T when biasKind = 2; nullptr when 0
//       2  int            biasKind   0 none, 1 fp32, 2 same dtype as y
//       3  T*             y          [m][ldy], row i at y + i·ldy
//       4  long long      ldy        elements between rows of y (≥ n)
//       5  int            m
//       6  int            n
//       7  int            splits
//   act-order gather: o4j_w4a16_gather_columns   (before stage 1 / the tensor-core kernel, same stream)
//     grid   (ceil(k/8 / 256), min(m, 65535), 1)   rows i = blockIdx.y, + gridDim.y, … < m
//     block  (256, 1, 1)                           thread → 8 consecutive columns of x'
//     smem   0
//     args:
//       0  const uint16_t* x         [m][ldx] bf16 or fp16 bits, row i at x + i·ldx (any ldx ≥ k)
//       1  long long       ldx       elements between rows of x
//       2  const int*      order     [k] the weight's stored row order, a permutation of 0..k−1;
//                                    16-byte aligned
//       3  uint16_t*       out       [m][k] x'[i, r] = x[i, order[r]], contiguous, 16-byte aligned
//       4  int             m         rows (≥ 1)
//       5  int             k         multiple of 8
//   Why a separate pass: x' is m·k·2 bytes read and written once, which next to the weight stream
//   (k·n/2 bytes) is small for the decode sizes this library targets (m·k·4 ≤ k·n/2 while
//   m ≤ n/8), and it leaves both GEMM kernels unaware of act-order. Rejected: gathering inside
//   the tensor-core kernel's x tile loads (cp.async moves 16 contiguous bytes; a gather would
//   turn each into 8 scalar loads in the kernel's hottest loop), and gathering on the host
//   (device-resident x would make a round trip through the host on every call).
#include "common.cuh"
#include "w4a16_index.cuh"

namespace {
constexpr int W4_TILE_N = 128;         // columns per block = threads per block
constexpr int W4_TILE_M = 8;           // rows of x per block (acc registers per thread)
constexpr int W4_CHUNK_WORDS = 32;     // word rows per x tile
constexpr int W4_CHUNK_K = 8 * W4_CHUNK_WORDS;  // 256 k-rows per x tile
constexpr int W4_REDUCE_THREADS = 256;
}  // namespace

template <typename T>
__device__ __forceinline__ void w4a16_splitk(const T* x, long long ldx, const int* qweight, const int* qzeros,
                                             const float* scales, float* ws, int m, int n, int k, int groupSize,
                                             int splits) {
    __shared__ float x_sh[W4_TILE_M][W4_CHUNK_K];
    const int tx = threadIdx.x;
    const int j = blockIdx.x * W4_TILE_N + tx;
    const int i0 = blockIdx.y * W4_TILE_M;
    const int z = blockIdx.z;
    const int kWords = k >> 3;
    const int w_begin = o4j_w4_split_begin(kWords, splits, z);
    const int w_end = o4j_w4_split_begin(kWords, splits, z + 1);
    const bool col_ok = j < n;

    float acc[W4_TILE_M];
#pragma unroll
    for (int ii = 0; ii < W4_TILE_M; ii++) {
        acc[ii] = 0.0f;
    }

    for (int cw = w_begin; cw < w_end; cw += W4_CHUNK_WORDS) {
        const int words = min(W4_CHUNK_WORDS, w_end - cw);
        const int kc = 8 * words;
        // load_x_tile: consecutive threads read consecutive k of one row (coalesced)
        for (int e = tx; e < W4_TILE_M * W4_CHUNK_K; e += W4_TILE_N) {
            const int ii = e / W4_CHUNK_K;
            const int kk = e % W4_CHUNK_K;
            const int i = i0 + ii;
            float v = 0.0f;
            if (i < m && kk < kc) {
                v = o4j_to_float(x[(long long)i * ldx + 8LL * cw + kk]);
            }
            x_sh[ii][kk] = v;
        }
        __syncthreads();
        if (col_ok) {
            for (int w = 0; w < words; w++) {
                const int r = cw + w;
                // fetch_weight
                const uint32_t word = (uint32_t)qweight[(long long)r * n + j];
                const int gi = o4j_w4_group(r, groupSize);
                const float s = scales[(long long)gi * n + j];
                const int zp = o4j_w4_zero(qzeros, n, gi, j);
                // dequant
                float wv[8];
#pragma unroll
                for (int t = 0; t < 8; t++) {
                    wv[t] = (float)(o4j_w4_nibble(word, t) - zp) * s;
                }
                // fma
#pragma unroll
                for (int ii = 0; ii < W4_TILE_M; ii++) {
                    float a = acc[ii];
#pragma unroll
                    for (int t = 0; t < 8; t++) {
                        a = fmaf(x_sh[ii][8 * w + t], wv[t], a);
                    }
                    acc[ii] = a;
                }
            }
        }
        __syncthreads();  // x_sh is overwritten by the next chunk
    }

    // write_partial
    if (col_ok) {
#pragma unroll
        for (int ii = 0; ii < W4_TILE_M; ii++) {
            const int i = i0 + ii;
            if (i < m) {
                ws[o4j_w4_ws_index(m, n, z, i, j)] = acc[ii];
            }
        }
    }
}

template <typename T>
__device__ __forceinline__ void w4a16_reduce(const float* ws, const void* bias, int biasKind, T* y, long long ldy,
                                             int m, int n, int splits) {
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)m * n) {
        return;
    }
    const int i = (int)(e / n);
    const int j = (int)(e % n);
    float s = 0.0f;
    for (int z = 0; z < splits; z++) {  // fixed order: deterministic
        s += ws[o4j_w4_ws_index(m, n, z, i, j)];
    }
    if (biasKind == 1) {
        s += static_cast<const float*>(bias)[j];
    } else if (biasKind == 2) {
        s += o4j_to_float(static_cast<const T*>(bias)[j]);
    }
    y[(long long)i * ldy + j] = o4j_from_float<T>(s);
}

// Entry points (names matched by build-fatbin.sh and CudaKernelNamesTest).
extern "C" __global__ void __launch_bounds__(128) o4j_w4a16_splitk_bf16(
    const __nv_bfloat16* x, long long ldx, const int* qweight, const int* qzeros, const float* scales, float* ws,
    int m, int n, int k, int groupSize, int splits) {
    w4a16_splitk<__nv_bfloat16>(x, ldx, qweight, qzeros, scales, ws, m, n, k, groupSize, splits);
}

extern "C" __global__ void __launch_bounds__(128) o4j_w4a16_splitk_f16(
    const __half* x, long long ldx, const int* qweight, const int* qzeros, const float* scales, float* ws,
    int m, int n, int k, int groupSize, int splits) {
    w4a16_splitk<__half>(x, ldx, qweight, qzeros, scales, ws, m, n, k, groupSize, splits);
}

extern "C" __global__ void __launch_bounds__(256) o4j_w4a16_reduce_bf16(
    const float* ws, const void* bias, int biasKind, __nv_bfloat16* y, long long ldy, int m, int n, int splits) {
    w4a16_reduce<__nv_bfloat16>(ws, bias, biasKind, y, ldy, m, n, splits);
}

extern "C" __global__ void __launch_bounds__(256) o4j_w4a16_reduce_f16(
    const float* ws, const void* bias, int biasKind, __half* y, long long ldy, int m, int n, int splits) {
    w4a16_reduce<__half>(ws, bias, biasKind, y, ldy, m, n, splits);
}

// Act-order gather (contract above): one thread per 8 columns of x', looping over rows.
extern "C" __global__ void __launch_bounds__(256) o4j_w4a16_gather_columns(
    const uint16_t* x, long long ldx, const int* order, uint16_t* out, int m, int k) {
    o4j_w4_gather_thread(x, ldx, order, out, m, k, (long long)blockIdx.x * blockDim.x + threadIdx.x, blockIdx.y,
                         gridDim.y);
}
