// offload4j — index arithmetic of the W4A16 kernels, __host__ __device__ so that the host test
// (src/test/cuda/w4a16_host_test.cu) runs exactly this code against a plain CPU computation.
//
// GPTQ interchange layout (splitk/…/package-info.java), used on the device as is:
//   qweight INT32 [k/8, n]    q[8r + t, j] = (qweight[r·n + j] >> 4t) & 0xF       t = 0..7
//   qzeros  INT32 [k/g, n/8]  z[gi, 8c + t] = (qzeros[gi·(n/8) + c] >> 4t) & 0xF   (nullptr: z = 8)
//   scales  FP32  [k/g, n]    s[gi, j]  (converted to fp32 once, at prepack)
//   w[kk, j] = (q[kk, j] − z[kk / g, j]) · s[kk / g, j]
// Index grammar: kk = row of W (0..k−1), r = qweight word row (kk / 8), t = nibble (kk % 8),
// gi = group (kk / g), j = column (0..n−1), i = row of X/Y (0..m−1), z = split (0..splits−1).
#pragma once

#include <stdint.h>
#include <vector_types.h>  // int4, uint4 (also in host code under nvcc)

#if defined(__CUDACC__)
#define O4J_W4 __host__ __device__ __forceinline__
#else
#define O4J_W4 inline
#endif

// Nibble t (0..7) of a packed word, lowest nibble first. Unsigned shift: no sign extension.
O4J_W4 int o4j_w4_nibble(uint32_t word, int t) {
    return (int)((word >> (4 * t)) & 0xFu);
}

// The group of word row r. g is a multiple of 8 (32, 64, 128 or k), so the 8 rows of one word
// always share a group: the group is fetched once per word.
O4J_W4 int o4j_w4_group(int r, int groupSize) {
    return (r * 8) / groupSize;
}

// The zero point of group gi and column j: a nibble of qzeros, or 8 (symmetric) when it is null.
O4J_W4 int o4j_w4_zero(const int32_t* qzeros, int n, int gi, int j) {
    if (qzeros == nullptr) {
        return 8;
    }
    return o4j_w4_nibble((uint32_t)qzeros[(long long)gi * (n >> 3) + (j >> 3)], j & 7);
}

// SplitK range: split z of `splits` covers word rows [begin(z), begin(z + 1)) of the kWords = k/8
// word rows; begin(z) = floor(kWords · z / splits). The ranges are contiguous, disjoint, cover
// [0, kWords) and differ in length by at most one word; with splits ≤ kWords none is empty (the
// planner guarantees that; an empty split would still write zeros, so it stays correct).
O4J_W4 int o4j_w4_split_begin(int kWords, int splits, int z) {
    return (int)(((long long)kWords * z) / splits);
}

// Workspace element (z, i, j) of the fp32 partial sums, ws[splits][m][n] row-major.
O4J_W4 long long o4j_w4_ws_index(int m, int n, int z, int i, int j) {
    return ((long long)z * m + i) * n + j;
}

// Act-order column gather (o4j_w4a16_gather_columns). An act-order weight stores its rows
// permuted so that groups are contiguous: stored row r is row order[r] of W. Since
// x · W = x[:, order] · W[order, :], the kernels run on x' with x'[i, r] = x[i, order[r]].
// One thread writes the 8 consecutive columns r8 .. r8 + 7 (r8 a multiple of 8; k is) of row i of
// x' (contiguous, k elements per row) from the 8 elements of x's row i that `order` names. The
// values are 16-bit (bf16 or fp16) and copied bit for bit, so one function serves both dtypes.
// Loads and stores are 16 bytes wide (int4 / uint4): order and out are 16-byte aligned (device
// allocations are; r8 and k are multiples of 8), x's 8 reads are 2-byte gathers within one row.
// o0, o1 = order[r8 .. r8 + 3], order[r8 + 4 .. r8 + 7]; xi = row i of x; dst = &x'[i, r8].
O4J_W4 void o4j_w4_gather8(const uint16_t* xi, int4 o0, int4 o1, uint16_t* dst) {
    uint4 v;
    v.x = (uint32_t)xi[o0.x] | ((uint32_t)xi[o0.y] << 16);
    v.y = (uint32_t)xi[o0.z] | ((uint32_t)xi[o0.w] << 16);
    v.z = (uint32_t)xi[o1.x] | ((uint32_t)xi[o1.y] << 16);
    v.w = (uint32_t)xi[o1.z] | ((uint32_t)xi[o1.w] << 16);
    *(uint4*)dst = v;
}

// One thread of o4j_w4a16_gather_columns: thread t (blockIdx.x · blockDim.x + threadIdx.x) owns
// columns 8t .. 8t + 7 of x' and writes them for rows rowBegin, rowBegin + rowStep, … < m
// (blockIdx.y and gridDim.y on the device). Its 8 entries of order are loaded once, before the
// row loop. Threads past k/8 do nothing.
O4J_W4 void o4j_w4_gather_thread(const uint16_t* x, long long ldx, const int32_t* order, uint16_t* out, int m, int k,
                                 long long t, int rowBegin, int rowStep) {
    if (t * 8 >= k) {
        return;
    }
    const int r8 = (int)(t * 8);
    const int4 o0 = *(const int4*)(order + r8);
    const int4 o1 = *(const int4*)(order + r8 + 4);
    for (int i = rowBegin; i < m; i += rowStep) {
        o4j_w4_gather8(x + (long long)i * ldx, o0, o1, out + (long long)i * k + r8);
    }
}
