// Host test of the W4A16 tensor-core kernel's data flow (w4a16_tc.cu), run on the CPU.
//
//   nvcc -std=c++17 -O1 -x cu -I../../main/cuda -o w4a16_tc_host_test w4a16_tc_host_test.cu
//   ./w4a16_tc_host_test            exit 0: all checks passed
//
// It builds GPTQ tensors (qweight [k/8, n], v2 qzeros [k/g, n/8] or none, scales [k/g, n] as fp16,
// bf16 or fp32), prepacks them with the w4a16_tc.cuh index helpers (the layout TcPackedLayout
// writes), then replays what every warp of every block does, stage by stage:
//   - the shared-memory stage as fetch_to_shared fills it (own weight vector, X rows with zero
//     fill, the scale/zero vectors of the stage's groups: same index arithmetic as the kernel),
//   - the scale/zero registers rebuilt on a group change (tc_group_of, the stage-local group),
//   - ldmatrix.x4 (lane L addresses row L & 15, column 8 (L >> 4); matrix i -> register i),
//   - dequant: tc_dequant_pair_bits (the LOP3), then HSUB2 / HMUL2 emulated in float with one
//     rounding to fp16/bf16 (exact for a single 16-bit add or multiply),
//   - mma.m16n8k16: the A, B, C matrices are rebuilt from the 32 lanes' registers with the PTX ISA
//     fragment tables written out independently below (groupID = lane >> 2, threadID_in_group =
//     lane % 4), multiplied, accumulated in fp32,
//   - the in-block reduction over k-warps and the SplitK fix-up in the kernel's fixed order.
// Checked: every B element the warps feed the mma equals round((q − z) · round(s)) of the right
// (row, column); every output element is written; relative L2 against a float64 dequant(W)·X
// reference is within the 5e-3 contract; split and non-split runs agree to rounding.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "w4a16_tc.cuh"

static int g_fail = 0;
#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond)) {                                       \
            if (g_fail < 20) {                               \
                std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
                std::printf(__VA_ARGS__);                    \
                std::printf("\n");                           \
            }                                                \
            ++g_fail;                                        \
        }                                                    \
    } while (0)

// ---------------------------------------------------------------- 16-bit floats on the host
static uint32_t f2u(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

static uint16_t f32_to_bf16_rne(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x7FFFFFu)) return (uint16_t)((u >> 16) | 0x40);
    uint32_t r = u + 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(r >> 16);
}
static float bf16_to_f32(uint16_t b) { return tc_bf16_bits_to_float(b); }

static uint16_t f32_to_f16_rne(float f) {
    // exact via double: split into sign/exponent and round the significand to 11 bits
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = std::fabs(f);
    if (std::isnan(f)) return sign | 0x7E00;
    if (a >= 65520.0f) return sign | 0x7C00;
    if (a < 5.9604645e-08f * 0.5f) return sign;  // below half the smallest subnormal (ties handled below)
    int e;
    std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
    int exp16 = e - 1;  // a = 1.x 2^exp16
    double quantum = exp16 < -14 ? std::ldexp(1.0, -24) : std::ldexp(1.0, exp16 - 10);
    double q = (double)a / quantum;
    double r = std::nearbyint(q);  // ties to even (default rounding mode)
    double v = r * quantum;
    // re-encode v
    if (v >= 65520.0) return sign | 0x7C00;
    if (v < std::ldexp(1.0, -14)) return sign | (uint16_t)(v / std::ldexp(1.0, -24));
    int e2;
    std::frexp(v, &e2);
    int ex = e2 - 1;
    uint32_t man = (uint32_t)((v / std::ldexp(1.0, ex) - 1.0) * 1024.0 + 0.5);
    return sign | (uint16_t)((ex + 15) << 10) | (uint16_t)man;
}
static float f16_to_f32(uint16_t h) { return tc_f16_bits_to_float_host(h); }

static float act_to_f32(uint16_t b, bool bf16) { return bf16 ? bf16_to_f32(b) : f16_to_f32(b); }
static uint16_t f32_to_act(float f, bool bf16) { return bf16 ? f32_to_bf16_rne(f) : f32_to_f16_rne(f); }

// HSUB2 / HMUL2 on packed 16-bit pairs: the exact result of one fp16/bf16 operation is
// representable in fp32, so computing in float and rounding once gives the hardware result.
static uint32_t hsub2(uint32_t a, uint32_t b, bool bf16) {
    uint16_t lo = f32_to_act(act_to_f32(a & 0xFFFF, bf16) - act_to_f32(b & 0xFFFF, bf16), bf16);
    uint16_t hi = f32_to_act(act_to_f32(a >> 16, bf16) - act_to_f32(b >> 16, bf16), bf16);
    return lo | ((uint32_t)hi << 16);
}
static uint32_t hmul2(uint32_t a, uint32_t b, bool bf16) {
    uint16_t lo = f32_to_act(act_to_f32(a & 0xFFFF, bf16) * act_to_f32(b & 0xFFFF, bf16), bf16);
    uint16_t hi = f32_to_act(act_to_f32(a >> 16, bf16) * act_to_f32(b >> 16, bf16), bf16);
    return lo | ((uint32_t)hi << 16);
}

// ---------------------------------------------------------------- PTX ISA fragment tables
// Written from the PTX ISA section "Matrix Fragments for mma.m16n8k16 with floating point type",
// independently of the helpers in w4a16_tc.cuh (which the test cross-checks against these).
struct Frag {
    static int group(int lane) { return lane >> 2; }
    static int tig(int lane) { return lane % 4; }
    // A: a0..a7 over four .f16x2 registers (a_{2r}, a_{2r+1} in register r, low half first)
    static int a_row(int lane, int i) { return (i < 2 || (i >= 4 && i < 6)) ? group(lane) : group(lane) + 8; }
    static int a_col(int lane, int i) { return i < 4 ? tig(lane) * 2 + (i & 1) : tig(lane) * 2 + (i & 1) + 8; }
    // B: b0..b3 over two registers
    static int b_row(int lane, int i) { return i < 2 ? tig(lane) * 2 + (i & 1) : tig(lane) * 2 + (i & 1) + 8; }
    static int b_col(int lane, int i) { (void)i; return group(lane); }
    // C/D: c0..c3 fp32
    static int c_row(int lane, int i) { return i < 2 ? group(lane) : group(lane) + 8; }
    static int c_col(int lane, int i) { return tig(lane) * 2 + (i & 1); }
};

// D = A B + C for one warp, from the 32 lanes' registers.
static void mma_m16n8k16(const uint32_t a[32][4], const uint32_t b[32][2], float c[32][4], bool bf16) {
    float A[16][16], B[16][8];
    for (int lane = 0; lane < 32; ++lane) {
        for (int i = 0; i < 8; ++i) {
            uint32_t reg = a[lane][i / 2];
            uint16_t h = (i & 1) ? reg >> 16 : reg & 0xFFFF;
            A[Frag::a_row(lane, i)][Frag::a_col(lane, i)] = act_to_f32(h, bf16);
        }
        for (int i = 0; i < 4; ++i) {
            uint32_t reg = b[lane][i / 2];
            uint16_t h = (i & 1) ? reg >> 16 : reg & 0xFFFF;
            B[Frag::b_row(lane, i)][Frag::b_col(lane, i)] = act_to_f32(h, bf16);
        }
    }
    for (int lane = 0; lane < 32; ++lane) {
        for (int i = 0; i < 4; ++i) {
            int r = Frag::c_row(lane, i), col = Frag::c_col(lane, i);
            double s = 0;
            for (int kk = 0; kk < 16; ++kk) s += (double)A[r][kk] * B[kk][col];  // products exact in double
            c[lane][i] = (float)((double)c[lane][i] + s);
        }
    }
}

// ---------------------------------------------------------------- problem and prepack
struct Problem {
    int m, n, k, g, G, kPad, slabs;
    bool sym, bf16;
    int scale_kind;
    std::vector<int32_t> qweight, qzeros;  // GPTQ
    std::vector<uint16_t> scales16;        // [G][n] when 16-bit
    std::vector<float> scales32;           // [G][n] when fp32
    std::vector<uint16_t> x;               // [m][k] act bits
    // packed
    std::vector<uint32_t> pqw, pzero;
    std::vector<uint8_t> pscale;  // raw bytes
    int q(int kk, int j) const { return (qweight[(size_t)(kk / 8) * n + j] >> (4 * (kk % 8))) & 0xF; }
    int zero(int gi, int j) const { return sym ? 8 : (qzeros[(size_t)gi * (n / 8) + j / 8] >> (4 * (j % 8))) & 0xF; }
    float scale(int gi, int j) const {
        if (scale_kind == TC_SCALE_F32) return scales32[(size_t)gi * n + j];
        uint16_t b = scales16[(size_t)gi * n + j];
        return scale_kind == TC_SCALE_BF16 ? bf16_to_f32(b) : f16_to_f32(b);
    }
};

static Problem make(int m, int n, int k, int g, bool sym, bool bf16, int scale_kind, uint32_t seed) {
    std::mt19937 rng(seed);
    Problem p{};
    p.m = m; p.n = n; p.k = k; p.g = g; p.G = k / g; p.sym = sym; p.bf16 = bf16; p.scale_kind = scale_kind;
    p.kPad = (k + TC_K_ALIGN - 1) / TC_K_ALIGN * TC_K_ALIGN;
    p.slabs = (n + TC_WARP_N - 1) / TC_WARP_N;
    p.qweight.resize((size_t)(k / 8) * n);
    for (auto& w : p.qweight) w = (int32_t)rng();
    if (!sym) {
        p.qzeros.resize((size_t)p.G * (n / 8));
        for (auto& w : p.qzeros) w = (int32_t)rng();
    }
    std::uniform_real_distribution<float> us(0.001f, 0.05f), ux(-1.f, 1.f);
    for (int i = 0; i < p.G * n; ++i) {
        float s = us(rng);
        if (scale_kind == TC_SCALE_F32) p.scales32.push_back(s);
        else p.scales16.push_back(scale_kind == TC_SCALE_BF16 ? f32_to_bf16_rne(s) : f32_to_f16_rne(s));
    }
    p.x.resize((size_t)m * k);
    for (auto& v : p.x) v = f32_to_act(ux(rng), bf16);
    // prepack with the kernel's helpers
    const int kTiles = p.kPad / 16;
    p.pqw.assign((size_t)p.slabs * kTiles * 32 * 4, 0u);
    for (int kk = 0; kk < k; ++kk)
        for (int j = 0; j < n; ++j) {
            int slab = j / 64, c = j % 64, kt = kk / 16, r = kk % 16;
            int64_t wi = tc_qw_word_index(slab, kt, tc_pack_lane(r, c), tc_pack_word(r, c), kTiles);
            p.pqw[wi] |= (uint32_t)p.q(kk, j) << (4 * tc_pack_nibble(r, c));
        }
    const int esz = tc_scale_bytes(scale_kind);
    p.pscale.assign((size_t)p.G * p.slabs * 64 * esz, 0);
    p.pzero.assign((size_t)p.G * p.slabs * 8, 0u);
    for (int gi = 0; gi < p.G; ++gi)
        for (int j = 0; j < n; ++j) {
            int slab = j / 64, c = j % 64;
            int64_t si = tc_scale_index(gi, slab, c, p.slabs);
            if (esz == 4) std::memcpy(&p.pscale[si * 4], &p.scales32[(size_t)gi * n + j], 4);
            else std::memcpy(&p.pscale[si * 2], &p.scales16[(size_t)gi * n + j], 2);
            p.pzero[tc_zero_word_index(gi, slab, c, p.slabs)] |= (uint32_t)p.zero(gi, j) << (4 * tc_zero_nibble(c));
        }
    return p;
}

// ---------------------------------------------------------------- replay of the kernel
struct Launch {
    int m_tiles, nw_n, splits, k_chunk;
};

// Returns Y as act bits [m][n]; 0xFFFF marks "never written" (a NaN pattern in both dtypes).
static std::vector<uint16_t> replay(const Problem& p, const Launch& L) {
    const int NW_N = L.nw_n, NW_K = TC_WARPS / NW_N, TN = tc_tile_n(NW_N), TK = tc_tile_k(NW_N);
    const int MB = 16 * L.m_tiles, A_PITCH = tc_a_pitch_bytes(TK), A_BYTES = MB * A_PITCH;
    const int STAGE_BYTES = tc_stage_bytes(L.m_tiles, NW_N);
    const int esz = tc_scale_bytes(p.scale_kind);
    const int gps = tc_groups_per_stage(TK, p.g, p.G);
    const int kTiles = p.kPad / 16;
    const int nTiles = (p.slabs + NW_N - 1) / NW_N, n_pad = nTiles * TN;
    const int mBlocks = (p.m + MB - 1) / MB;
    std::vector<uint16_t> y((size_t)p.m * p.n, 0xFFFF);
    std::vector<float> ws((size_t)mBlocks * L.splits * MB * n_pad, NAN);
    std::vector<int> counters((size_t)mBlocks * nTiles, 0);
    std::vector<uint8_t> stage(STAGE_BYTES);
    const uint32_t magic = tc_magic(p.bf16);

    for (int z = 0; z < mBlocks; ++z)
        for (int nb = 0; nb < nTiles; ++nb)
            for (int split = 0; split < L.splits; ++split) {
                const int row0 = z * MB, rows_here = std::min(MB, p.m - row0);
                const int k_begin = split * L.k_chunk, k_end = std::min(k_begin + L.k_chunk, p.kPad);
                const int ntiles = k_end > k_begin ? (k_end - k_begin) / TK : 0;
                // per warp state: acc[mt][s][lane][4]
                std::vector<float> acc((size_t)TC_WARPS * L.m_tiles * 8 * 32 * 4, 0.f);
                std::vector<uint32_t> sc2(TC_WARPS * 32 * 8), zr2(TC_WARPS * 32 * 8);
                std::vector<int> cur_group(TC_WARPS, -1);
                for (int it = 0; it < ntiles; ++it) {
                    const int k0 = k_begin + it * TK;
                    // fetch_to_shared, for every thread
                    std::fill(stage.begin(), stage.end(), 0xCD);
                    for (int tid = 0; tid < TC_THREADS; ++tid) {
                        int warp = tid >> 5, lane = tid & 31, wk = warp / NW_N, wn = warp % NW_N;
                        int slab = nb * NW_N + wn;
                        bool ok = slab < p.slabs;
                        int kt = k0 / 16 + wk;
                        uint8_t* dst = &stage[(warp * 32 + lane) * 16];
                        // the kernel's base + stride, against the direct index
                        const int64_t wv = tc_qw_copy_base(ok ? slab : 0, k_begin, wk, lane, kTiles) +
                                           (int64_t)it * tc_qw_copy_step(NW_N);
                        CHECK(!ok || wv * 4 == tc_qw_word_index(slab, kt, lane, 0, kTiles), "weight vector of stage %d", it);
                        if (ok) std::memcpy(dst, &p.pqw[wv * 4], 16);
                        else std::memset(dst, 0, 16);
                        // the copy roles the kernel computes once per thread (w4a16_tc.cuh)
                        const int a_row = tc_a_copy_row(tid, TK), a_c8 = tc_a_copy_col8(tid, TK), kcol = k0 + 8 * a_c8;
                        for (int i = 0; i * TC_THREADS < MB * (TK / 8); ++i) {
                            int r = a_row + i * tc_a_copy_row_step(TK);
                            if (r >= MB) continue;
                            bool aok = r < rows_here && kcol < p.k;
                            uint8_t* d = &stage[4096 + r * A_PITCH + 16 * a_c8];
                            const int64_t xi = tc_x_copy_base(row0, tid, TK, k_begin, p.k) + i * tc_x_copy_row_step(TK, p.k) +
                                               (int64_t)it * TK;
                            CHECK(xi == (int64_t)(row0 + r) * p.k + kcol, "X element of copy %d, stage %d", i, it);
                            if (aok) std::memcpy(d, &p.x[xi], 16);
                            else std::memset(d, 0, 16);
                        }
                        int g_first = tc_group_of_shifted(k0, tc_group_shift(p.g), p.G);
                        if (tid < tc_scale_copy_count(gps, NW_N, esz)) {
                            int li = tc_scale_copy_group(tid, NW_N, esz), w_n = tc_scale_copy_slab(tid, NW_N, esz);
                            int part = tc_scale_copy_part(tid, esz);
                            int gi = std::min(g_first + li, p.G - 1), sl = nb * NW_N + w_n;
                            uint8_t* d = &stage[4096 + A_BYTES + ((li * NW_N + w_n) * 64) * esz + 16 * part];
                            const int64_t sb = tc_scale_index(0, sl < p.slabs ? sl : 0, 0, p.slabs) * esz + 16 * part +
                                               gi * tc_scale_group_bytes(p.slabs, esz);
                            CHECK(sl >= p.slabs || sb == tc_scale_index(gi, sl, 0, p.slabs) * esz + 16 * part, "scale vector");
                            if (sl < p.slabs) std::memcpy(d, &p.pscale[sb], 16);
                            else std::memset(d, 0, 16);
                        }
                        if (!p.sym && tid < tc_zero_copy_count(gps, NW_N)) {
                            int li = tc_zero_copy_group(tid, NW_N), w_n = tc_zero_copy_slab(tid, NW_N), part = tc_zero_copy_part(tid);
                            int gi = std::min(g_first + li, p.G - 1), sl = nb * NW_N + w_n;
                            uint8_t* d = &stage[4096 + A_BYTES + 1024 + ((li * NW_N + w_n) * 8 + 4 * part) * 4];
                            const int64_t zw = tc_zero_word_index(0, sl < p.slabs ? sl : 0, 0, p.slabs) + 4 * part +
                                               gi * tc_zero_group_words(p.slabs);
                            CHECK(sl >= p.slabs || zw == tc_zero_word_index(gi, sl, 0, p.slabs) + 4 * part, "zero vector");
                            if (sl < p.slabs) std::memcpy(d, &p.pzero[zw], 16);
                            else std::memset(d, 0, 16);
                        }
                    }
                    // compute, warp by warp
                    for (int warp = 0; warp < TC_WARPS; ++warp) {
                        int wk = warp / NW_N, wn = warp % NW_N, kk = k0 + 16 * wk;
                        int gi = tc_group_of_shifted(kk, tc_group_shift(p.g), p.G);
                        CHECK(gi == tc_group_of(kk, p.g, p.G), "group of row %d by shift %d, by division %d", kk, gi,
                              tc_group_of(kk, p.g, p.G));
                        if (gi != cur_group[warp]) {
                            cur_group[warp] = gi;
                            int li = gi - tc_group_of_shifted(k0, tc_group_shift(p.g), p.G);
                            CHECK(li >= 0 && li < gps, "stage-local group %d outside 0..%d", li, gps - 1);
                            for (int lane = 0; lane < 32; ++lane) {
                                int gq = lane >> 2;
                                const uint8_t* sp = &stage[4096 + A_BYTES + ((li * NW_N + wn) * 64 + gq * 8) * esz];
                                uint32_t zw = 0x88888888u;
                                if (!p.sym) std::memcpy(&zw, &stage[4096 + A_BYTES + 1024 + ((li * NW_N + wn) * 8 + gq) * 4], 4);
                                const bool same_dtype = p.scale_kind == (p.bf16 ? TC_SCALE_BF16 : TC_SCALE_F16);
                                for (int s = 0; s < 8; ++s) {
                                    uint32_t sbits;
                                    if (same_dtype) {  // the kernel's PRMT path
                                        uint32_t w;
                                        std::memcpy(&w, sp + 4 * (s >> 1), 4);
                                        sbits = tc_dup_half(w, s & 1);
                                    } else {
                                        float f;
                                        if (esz == 4) std::memcpy(&f, sp + 4 * s, 4);
                                        else {
                                            uint16_t b;
                                            std::memcpy(&b, sp + 2 * s, 2);
                                            f = p.scale_kind == TC_SCALE_BF16 ? bf16_to_f32(b) : f16_to_f32(b);
                                        }
                                        uint32_t hb = f32_to_act(f, p.bf16);
                                        sbits = hb | (hb << 16);
                                    }
                                    sc2[(warp * 32 + lane) * 8 + s] = sbits;
                                    zr2[(warp * 32 + lane) * 8 + s] =
                                        tc_zero_bits_of(tc_zero_even_bytes(zw), tc_zero_odd_bytes(zw), s, p.bf16);
                                }
                            }
                        }
                        // registers of the 32 lanes
                        uint32_t a[4][32][4];
                        for (int mt = 0; mt < L.m_tiles; ++mt)
                            for (int lane = 0; lane < 32; ++lane)
                                for (int reg = 0; reg < 4; ++reg) {
                                    // ldmatrix: matrix `reg` comes from lanes 8 reg .. 8 reg + 7
                                    int src = 8 * reg + (lane >> 2);
                                    int row = mt * 16 + tc_ldsm_row(src);
                                    int col = 16 * wk + tc_ldsm_col(src) + 2 * (lane & 3);
                                    std::memcpy(&a[mt][lane][reg], &stage[4096 + row * A_PITCH + 2 * col], 4);
                                    // the helper's claim of where that element sits in the A tile
                                    for (int h = 0; h < 2; ++h) {
                                        CHECK(tc_a_row(lane, reg, h) == Frag::a_row(lane, 2 * reg + h) &&
                                                  tc_a_col(lane, reg, h) == Frag::a_col(lane, 2 * reg + h),
                                              "A fragment helper mismatch lane %d reg %d", lane, reg);
                                        CHECK(row - mt * 16 == Frag::a_row(lane, 2 * reg + h) &&
                                                  col + h - 16 * wk == Frag::a_col(lane, 2 * reg + h),
                                              "ldmatrix lands A(%d,%d) in lane %d reg %d", row, col, lane, reg);
                                    }
                                }
                        for (int s = 0; s < 8; ++s) {
                            uint32_t b[32][2];
                            for (int lane = 0; lane < 32; ++lane) {
                                uint32_t words[4];
                                std::memcpy(words, &stage[(warp * 32 + lane) * 16], 16);
                                uint32_t wv = words[s >> 1];
                                for (int reg = 0; reg < 2; ++reg) {
                                    int pair = 2 * (s & 1) + reg;
                                    uint32_t qb = tc_dequant_pair_bits(wv, pair, p.bf16);
                                    uint32_t sb = sc2[(warp * 32 + lane) * 8 + s], zb = zr2[(warp * 32 + lane) * 8 + s];
                                    b[lane][reg] = hmul2(hsub2(qb, zb, p.bf16), sb, p.bf16);
                                    // check both halves against the GPTQ element they must be
                                    for (int h = 0; h < 2; ++h) {
                                        int rr = Frag::b_row(lane, 2 * reg + h), cc = Frag::b_col(lane, 2 * reg + h);
                                        CHECK(rr == tc_b_row(lane, reg, h) && cc == tc_b_col(lane), "B helper mismatch");
                                        int kk2 = kk + rr, j = (nb * NW_N + wn) * 64 + 8 * s + cc;
                                        uint16_t got = h ? b[lane][reg] >> 16 : b[lane][reg] & 0xFFFF;
                                        if (kk2 < p.k && j < p.n) {
                                            int gi2 = kk2 / p.g;
                                            float sh = act_to_f32(f32_to_act(p.scale(gi2, j), p.bf16), p.bf16);
                                            uint16_t want = f32_to_act((float)(p.q(kk2, j) - p.zero(gi2, j)) * sh, p.bf16);
                                            CHECK(got == want, "B(%d,%d): got %04x want %04x (q %d z %d)", kk2, j, got, want,
                                                  p.q(kk2, j), p.zero(gi2, j));
                                        } else if (j >= p.n) {
                                            CHECK(act_to_f32(got, p.bf16) == 0.f, "padded column %d not zero", j);
                                        }
                                    }
                                }
                            }
                            for (int mt = 0; mt < L.m_tiles; ++mt) {
                                float c[32][4];
                                for (int lane = 0; lane < 32; ++lane)
                                    for (int i = 0; i < 4; ++i) c[lane][i] = acc[((((size_t)warp * L.m_tiles + mt) * 8 + s) * 32 + lane) * 4 + i];
                                mma_m16n8k16(a[mt], b, c, p.bf16);
                                for (int lane = 0; lane < 32; ++lane)
                                    for (int i = 0; i < 4; ++i) acc[((((size_t)warp * L.m_tiles + mt) * 8 + s) * 32 + lane) * 4 + i] = c[lane][i];
                            }
                        }
                    }
                }
                // thread_block_reduce in wk order, then Y or workspace
                for (int mt = 0; mt < L.m_tiles; ++mt) {
                    if (mt * 16 >= rows_here) continue;
                    std::vector<float> red((size_t)NW_K * 16 * TN);
                    for (int warp = 0; warp < TC_WARPS; ++warp) {
                        int wk = warp / NW_N, wn = warp % NW_N;
                        for (int s = 0; s < 8; ++s)
                            for (int lane = 0; lane < 32; ++lane)
                                for (int i = 0; i < 4; ++i)
                                    red[(wk * 16 + tc_c_row(lane, i)) * TN + wn * 64 + 8 * s + tc_c_col(lane, i)] =
                                        acc[((((size_t)warp * L.m_tiles + mt) * 8 + s) * 32 + lane) * 4 + i];
                    }
                    for (int e = 0; e < 16 * TN; ++e) {
                        int r = e / TN, c = e % TN;
                        float sum = 0.f;
                        for (int w = 0; w < NW_K; ++w) sum += red[(w * 16 + r) * TN + c];
                        int row = mt * 16 + r, col = nb * TN + c;
                        if (row < rows_here && col < p.n) {
                            if (L.splits == 1) y[(size_t)(row0 + row) * p.n + col] = f32_to_act(sum, p.bf16);
                            else ws[(((size_t)z * L.splits + split) * MB + row) * n_pad + col] = sum;
                        }
                    }
                }
                if (L.splits > 1) {
                    int& ctr = counters[(size_t)z * nTiles + nb];
                    bool last = ctr++ == L.splits - 1;
                    if (last) {
                        for (int e = 0; e < rows_here * TN; ++e) {
                            int row = e / TN, col = nb * TN + e % TN;
                            if (col >= p.n) continue;
                            float sum = 0.f;
                            for (int sp = 0; sp < L.splits; ++sp) sum += ws[(((size_t)z * L.splits + sp) * MB + row) * n_pad + col];
                            y[(size_t)(row0 + row) * p.n + col] = f32_to_act(sum, p.bf16);
                        }
                        ctr = 0;
                    }
                }
            }
    for (int c : counters) CHECK(c == 0, "counter left at %d", c);
    return y;
}

static double rel_l2(const Problem& p, const std::vector<uint16_t>& y) {
    double num = 0, den = 0;
    for (int i = 0; i < p.m; ++i)
        for (int j = 0; j < p.n; ++j) {
            double ref = 0;
            for (int kk = 0; kk < p.k; ++kk) {
                int gi = kk / p.g;
                ref += (double)act_to_f32(p.x[(size_t)i * p.k + kk], p.bf16) * ((double)(p.q(kk, j) - p.zero(gi, j)) * p.scale(gi, j));
            }
            uint16_t b = y[(size_t)i * p.n + j];
            double got = act_to_f32(b, p.bf16);
            if (b == 0xFFFF || std::isnan(got)) { CHECK(false, "Y(%d,%d) not written / NaN", i, j); return 1e9; }
            num += (got - ref) * (got - ref);
            den += ref * ref;
        }
    return std::sqrt(num / den);
}

static void check_helpers() {
    // pack position <-> (row, column) is a bijection of the 16 x 64 warp tile onto 32 x 4 x 8 nibbles
    std::vector<int> seen(32 * 4 * 8, 0);
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 64; ++c) {
            int l = tc_pack_lane(r, c), w = tc_pack_word(r, c), nib = tc_pack_nibble(r, c);
            CHECK(l >= 0 && l < 32 && w >= 0 && w < 4 && nib >= 0 && nib < 8, "pack range");
            seen[(l * 4 + w) * 8 + nib]++;
            CHECK(tc_unpack_row(l, w, nib) == r && tc_unpack_col(l, w, nib) == c, "unpack(pack(%d,%d))", r, c);
            // the nibble sits where the B fragment of sub-tile c/8 wants it
            int s = c >> 3, pair = nib & 3, half = nib >> 2;
            CHECK(2 * w + (pair >> 1) == s, "sub-tile of word/pair");
            CHECK(Frag::b_row(l, 2 * (pair & 1) + half) == r && Frag::b_col(l, 0) == (c & 7), "B fragment position (%d,%d)", r, c);
        }
    for (int v : seen) CHECK(v == 1, "pack not a bijection");
    // magic-number dequant: every q, z, both dtypes, both halves
    for (int bf = 0; bf < 2; ++bf)
        for (int q = 0; q < 16; ++q)
            for (int zz = 0; zz < 16; ++zz) {
                uint32_t word = (uint32_t)q | ((uint32_t)q << 16);  // nibble 0 and nibble 4
                uint32_t bits = hsub2(tc_dequant_pair_bits(word, 0, bf), tc_zero_bits(zz, bf), bf);
                CHECK(act_to_f32(bits & 0xFFFF, bf) == (float)(q - zz) && act_to_f32(bits >> 16, bf) == (float)(q - zz),
                      "magic dequant q=%d z=%d bf16=%d", q, zz, bf);
            }
    // the copy roles: for every configuration, each vector of a stage is copied by exactly one thread
    for (int mtiles : {1, 2, 4})
        for (int nw_n : {1, 2, 4}) {
            const int TK = tc_tile_k(nw_n), MB = 16 * mtiles;
            std::vector<int> a(MB * (TK / 8), 0);
            for (int tid = 0; tid < TC_THREADS; ++tid)
                for (int i = 0; i * TC_THREADS < MB * (TK / 8); ++i) {
                    int r = tc_a_copy_row(tid, TK) + i * tc_a_copy_row_step(TK);
                    if (r < MB) a[r * (TK / 8) + tc_a_copy_col8(tid, TK)]++;
                }
            for (int v : a) CHECK(v == 1, "A copy roles (m_tiles %d, nw_n %d) copy a vector %d times", mtiles, nw_n, v);
        }
    for (int nw_n : {1, 2, 4})
        for (int g : {32, 64, 128, 1 << 20}) {
            const int gps = tc_groups_per_stage(tc_tile_k(nw_n), g, g == 1 << 20 ? 1 : 64);
            for (int esz : {2, 4}) {
                const int count = tc_scale_copy_count(gps, nw_n, esz);
                CHECK(count <= TC_THREADS, "scale copies %d > threads", count);
                std::vector<int> sc(gps * nw_n * 4 * esz, 0);
                for (int tid = 0; tid < count; ++tid)
                    sc[(tc_scale_copy_group(tid, nw_n, esz) * nw_n + tc_scale_copy_slab(tid, nw_n, esz)) * 4 * esz +
                       tc_scale_copy_part(tid, esz)]++;
                for (int v : sc) CHECK(v == 1, "scale copy roles (nw_n %d, g %d, esz %d): %d", nw_n, g, esz, v);
            }
            const int zc = tc_zero_copy_count(gps, nw_n);
            std::vector<int> zv(gps * nw_n * 2, 0);
            for (int tid = 0; tid < zc; ++tid)
                zv[(tc_zero_copy_group(tid, nw_n) * nw_n + tc_zero_copy_slab(tid, nw_n)) * 2 + tc_zero_copy_part(tid)]++;
            for (int v : zv) CHECK(v == 1, "zero copy roles (nw_n %d, g %d): %d", nw_n, g, v);
        }
    // the group by shift equals the group by division wherever the planner allows the group size
    for (int g : {32, 64, 128})
        for (int groups : {1, 2, 3, 32})
            for (int kk = 0; kk < g * groups + 128; ++kk)
                CHECK(tc_group_of_shifted(kk, tc_group_shift(g), groups) == tc_group_of(kk, g, groups),
                      "group of row %d, g %d, G %d", kk, g, groups);
    for (int k : {8, 200, 4104})  // G = 1: g = k, any multiple of 8
        for (int kk = 0; kk < k + 128; ++kk)
            CHECK(tc_group_of_shifted(kk, tc_group_shift(k), 1) == 0 && tc_group_of(kk, k, 1) == 0, "G = 1, row %d", kk);
    // the PRMT forms of the scale and zero registers against the plain ones
    std::mt19937 rng(77);
    for (int bf = 0; bf < 2; ++bf)
        for (int t = 0; t < 4096; ++t) {
            uint32_t word = rng();
            for (int s = 0; s < 8; ++s)
                CHECK(tc_zero_bits_of(tc_zero_even_bytes(word), tc_zero_odd_bytes(word), s, bf) ==
                          tc_zero_bits((word >> (4 * s)) & 0xF, bf),
                      "zero register of sub-tile %d from %08x", s, word);
            for (int h = 0; h < 2; ++h) {
                uint32_t half = (word >> (16 * h)) & 0xFFFF;
                CHECK(tc_dup_half(word, h) == (half | (half << 16)), "scale half %d of %08x", h, word);
            }
        }
    for (int s = 0; s < 8; ++s)  // every zero value at every position, and the symmetric word
        for (uint32_t z = 0; z < 16; ++z) {
            uint32_t word = (0x88888888u & ~(0xFu << (4 * s))) | (z << (4 * s));
            CHECK(tc_zero_bits_of(tc_zero_even_bytes(word), tc_zero_odd_bytes(word), s, true) == tc_zero_bits(z, true),
                  "zero %u at sub-tile %d", z, s);
        }
    // the 16-bit conversions used by the test itself
    CHECK(f32_to_f16_rne(1.0f) == 0x3C00 && f32_to_f16_rne(1024.0f) == 0x6400 && f32_to_bf16_rne(128.0f) == 0x4300, "consts");
    CHECK(f16_to_f32(0x6400) == 1024.f && bf16_to_f32(0x4300) == 128.f, "magic values");
    for (uint32_t h = 0; h < 0x7C00; ++h) CHECK(f32_to_f16_rne(f16_to_f32((uint16_t)h)) == h, "f16 round trip %04x", h);
}

int main() {
    check_helpers();
    struct Case { int m, n, k, g; bool sym, bf16; int sk; Launch L; };
    const Case cases[] = {
        {1, 128, 256, 128, false, false, TC_SCALE_F16, {1, 2, 1, 256}},
        {5, 192, 512, 32, false, true, TC_SCALE_BF16, {1, 2, 2, 256}},     // g < tile k: 2 groups per stage
        {16, 200, 384, 64, true, false, TC_SCALE_F16, {1, 1, 3, 128}},     // n not a multiple of 64, sym
        {20, 72, 256, 128, false, true, TC_SCALE_F32, {2, 4, 2, 128}},     // 2 m-tiles, tile n 256 > n
        {37, 64, 200, 200, false, false, TC_SCALE_BF16, {4, 2, 1, 256}},   // g = k, k not a multiple of 128
        {3, 256, 96, 32, true, true, TC_SCALE_F16, {1, 1, 1, 128}},        // k < tile k, clamped groups
        {70, 136, 512, 128, false, true, TC_SCALE_F16, {4, 2, 4, 128}},    // two m blocks, 4 splits
    };
    int ci = 0;
    for (const Case& c : cases) {
        Problem p = make(c.m, c.n, c.k, c.g, c.sym, c.bf16, c.sk, 1234u + ci);
        std::vector<uint16_t> y = replay(p, c.L);
        double err = rel_l2(p, y);
        std::printf("case %d: m=%d n=%d k=%d g=%d %s %s scales=%s  m_tiles=%d tile_n=%d splits=%d: rel L2 %.3e\n", ci, c.m,
                    c.n, c.k, c.g, c.sym ? "sym" : "asym", c.bf16 ? "bf16" : "fp16",
                    c.sk == TC_SCALE_F32 ? "fp32" : c.sk == TC_SCALE_BF16 ? "bf16" : "fp16", c.L.m_tiles, tc_tile_n(c.L.nw_n),
                    c.L.splits, err);
        CHECK(err <= 5e-3, "case %d: rel L2 %.3e > 5e-3", ci, err);
        // the same problem without SplitK agrees to rounding of the partial sums
        Launch one = c.L;
        one.splits = 1;
        one.k_chunk = p.kPad;
        std::vector<uint16_t> y1 = replay(p, one);
        double e1 = rel_l2(p, y1);
        CHECK(e1 <= 5e-3, "case %d unsplit: rel L2 %.3e", ci, e1);
        ++ci;
    }
    if (g_fail) {
        std::printf("w4a16_tc_host_test: %d check(s) FAILED\n", g_fail);
        return 1;
    }
    std::printf("w4a16_tc_host_test: all checks passed\n");
    return 0;
}
