// offload4j — index arithmetic of the Hadamard kernel, __host__ __device__ so that the host test
// (src/test/cuda/hadamard_host_test.cu) runs exactly this code against a dense float64 product.
//
// Row element i of a transform of size d = m·n (n = 2^log2n) has block index a = i / n and in-block
// index b = i % n (HadamardSize). H_d = H_m ⊗ H_n, so
//     H_d[i][j] = H_m[i / n][j / n] · (−1)^popcount((i % n) & (j % n)).
// y = x · H_d is computed in two stages that commute (they act on different index digits):
//   stage 1: H_n on each of the m contiguous blocks (radix-2 butterflies, log2n rounds),
//   stage 2: H_m across blocks, for each in-block column b separately (dense m×m, m ∈ {12,20,28,40}).
#pragma once

#if defined(__CUDACC__)
#define O4J_HD __host__ __device__ __forceinline__
#else
#define O4J_HD inline
#endif

// Butterfly pair p (0 ≤ p < d/2) of the round with half-width h (1, 2, 4, …, n/2): the two row
// elements it combines, i (upper) and j = i + h (lower). Over all p the pairs cover the row once.
// Since n is a multiple of 2h the pairs never straddle the boundary of an n-block, so one loop over
// the whole row is H_n on every block at once.
O4J_HD void o4j_hd_pair(int p, int h, int* i, int* j) {
    int lo = p & (h - 1);          // position inside the half
    int i0 = ((p - lo) << 1) + lo; // (p / h) · 2h + p % h
    *i = i0;
    *j = i0 + h;
}

// One butterfly: (u, v) ← (u + v, u − v), in fp32.
O4J_HD void o4j_hd_butterfly(float* row, int p, int h) {
    int i, j;
    o4j_hd_pair(p, h, &i, &j);
    float u = row[i];
    float v = row[j];
    row[i] = u + v;
    row[j] = u - v;
}

// Coefficient of input block a in output block ao: (x · (H_m ⊗ H_n)) sums H_m[a][ao] over a; the
// transposed transform sums H_mᵀ[a][ao] = H_m[ao][a]. hm is H_m row-major, m×m, as Java built it.
O4J_HD float o4j_hd_coef(const float* hm, int m, int a, int ao, int transpose) {
    return transpose ? hm[ao * m + a] : hm[a * m + ao];
}

// Stage 2 for in-block column b: row[ao·n + b] ← Σ_a coef(a, ao) · row[a·n + b] for every ao.
// M is a compile-time constant so that both arrays live in registers (fully unrolled loops, no
// run-time register indexing → no local memory). The thread owning column b reads all M inputs
// before writing any output, so the update is in place with no barrier inside the stage.
template <int M>
O4J_HD void o4j_hd_cross(float* row, const float* hm, int n, int b, int transpose) {
    float v[M];
#pragma unroll
    for (int a = 0; a < M; a++) {
        v[a] = row[a * n + b];
    }
#pragma unroll
    for (int ao = 0; ao < M; ao++) {
        float s = 0.0f;
#pragma unroll
        for (int a = 0; a < M; a++) {
            s = fmaf(o4j_hd_coef(hm, M, a, ao, transpose), v[a], s);
        }
        row[ao * n + b] = s;
    }
}

// Dynamic shared memory of one block, in bytes: the fp32 row (d floats) then H_m (m·m floats,
// absent for m = 1). HadamardLaunch.dynamicSmemBytes computes the same.
O4J_HD int o4j_hd_smem_bytes(int d, int m) {
    return 4 * d + (m > 1 ? 4 * m * m : 0);
}
