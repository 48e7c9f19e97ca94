// Host test of the tensor-core Hadamard kernel (hadacore_tc.cu) without a GPU.
//
// The kernel's data flow is replayed warp by warp on the CPU: every per-lane step calls the same
// __host__ __device__ helpers the kernel calls (tile maps, ±1/0 fragments, bf16 splits, the
// shared-memory swizzle), and the two warp-collective instructions are emulated from the PTX ISA
// fragment tables (mma.sync.m16n8k16 .row.col bf16 → f32, movmatrix.m8n8.trans.b16). The results
// are compared with a float64 fast Walsh–Hadamard transform for every k = 1..15, for several row
// counts (including partial groups), with and without sign vectors, for 2-part (bf16/fp16 data)
// and 3-part (fp32 data) splits. The shared-memory accesses are checked for bank conflicts.
//
// Exit status 0 when every check passes.
#include "../../main/cuda/hadacore_tc.cuh"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

using namespace hctc;

static int failures = 0;
#define CHECK(cond, ...)                            \
    do {                                            \
        if (!(cond)) {                              \
            std::printf("FAIL: " __VA_ARGS__);      \
            std::printf("\n");                      \
            failures++;                             \
        }                                           \
    } while (0)

// ---- emulated warp instructions (PTX ISA fragment tables) -----------------------------------------

static float bf16_lo(uint32_t r) { return bf16_bits_to_float((uint16_t) (r & 0xFFFF)); }
static float bf16_hi(uint32_t r) { return bf16_bits_to_float((uint16_t) (r >> 16)); }

// d = A·B + c for one m16n8k16 bf16 mma; a[lane][4], b[lane][2], c/d[lane][4].
static void emu_mma(float d[32][4], const uint32_t a[32][4], const uint32_t b[32][2], const float c[32][4]) {
    double A[16][16], B[16][8];
    for (int lane = 0; lane < 32; lane++) {
        int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 8; i++) {
            int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
            int col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
            uint32_t reg = a[lane][i / 2];
            A[row][col] = (i & 1) ? bf16_hi(reg) : bf16_lo(reg);
        }
        for (int i = 0; i < 4; i++) {
            int row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0);
            uint32_t reg = b[lane][i / 2];
            B[row][g] = (i & 1) ? bf16_hi(reg) : bf16_lo(reg);
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 4; i++) {
            int row = i < 2 ? g : g + 8;
            int col = 2 * t + (i & 1);
            double s = 0;
            for (int kk = 0; kk < 16; kk++) s += A[row][kk] * B[kk][col];
            d[lane][i] = (float) (s + (double) c[lane][i]);
        }
    }
}

// movmatrix.m8n8.trans.b16: lane holds row lane>>2, columns 2(lane&3), +1 of an 8×8 matrix of
// 16-bit elements; afterwards the same positions of the transpose.
static void emu_movmatrix(uint32_t out[32], const uint32_t in[32]) {
    uint16_t M[8][8];
    for (int lane = 0; lane < 32; lane++) {
        M[lane >> 2][2 * (lane & 3)] = (uint16_t) (in[lane] & 0xFFFF);
        M[lane >> 2][2 * (lane & 3) + 1] = (uint16_t) (in[lane] >> 16);
    }
    for (int lane = 0; lane < 32; lane++) {
        int r = lane >> 2, c = 2 * (lane & 3);
        out[lane] = pack2(M[c][r], M[c + 1][r]);
    }
}

// ---- the kernel's tile_transform, warp-wide ------------------------------------------------------

struct WarpMatrices {
    uint32_t aRow[32][4];
    uint32_t bCol[2][32][2];
};

static WarpMatrices warp_matrices(int rowMask, int colMask) {
    WarpMatrices m;
    for (int lane = 0; lane < 32; lane++) {
        for (int r = 0; r < 4; r++) m.aRow[lane][r] = a_frag_of_mask(rowMask, lane, r);
        for (int nt = 0; nt < 2; nt++)
            for (int r = 0; r < 2; r++) m.bCol[nt][lane][r] = b_frag_of_mask(colMask, lane, nt, r);
    }
    return m;
}

template <int NP>
static void tile_transform_warp(float x[32][8], const WarpMatrices& m) {
    uint32_t a[NP][32][4];
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            uint32_t parts[NP];
            split_pair<NP>(x[lane][2 * i], x[lane][2 * i + 1], parts);
            for (int p = 0; p < NP; p++) a[p][lane][i] = parts[p];
        }
    float z[2][32][4] = {};
    for (int nt = 0; nt < 2; nt++)
        for (int p = NP - 1; p >= 0; p--) emu_mma(z[nt], a[p], m.bCol[nt], z[nt]);
    uint32_t b[NP][4][32];
    for (int q = 0; q < 4; q++) {
        uint32_t packed[NP][32];
        for (int lane = 0; lane < 32; lane++) {
            uint32_t parts[NP];
            split_pair<NP>(z[q >> 1][lane][2 * (q & 1)], z[q >> 1][lane][2 * (q & 1) + 1], parts);
            for (int p = 0; p < NP; p++) packed[p][lane] = parts[p];
        }
        for (int p = 0; p < NP; p++) emu_movmatrix(b[p][q], packed[p]);
    }
    float y[2][32][4] = {};
    for (int nt = 0; nt < 2; nt++)
        for (int p = NP - 1; p >= 0; p--) {
            uint32_t bb[32][2];
            for (int lane = 0; lane < 32; lane++) {
                bb[lane][0] = b[p][2 * nt][lane];
                bb[lane][1] = b[p][2 * nt + 1][lane];
            }
            emu_mma(y[nt], m.aRow, bb, y[nt]);
        }
    for (int lane = 0; lane < 32; lane++)
        for (int j = 0; j < 8; j++) x[lane][j] = y[j >> 2][lane][j & 3];
}

// ---- reference -----------------------------------------------------------------------------------

static void fwht(std::vector<double>& v) {
    size_t n = v.size();
    for (size_t h = 1; h < n; h <<= 1)
        for (size_t i = 0; i < n; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                double a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
}

// ---- the two kernels, replayed --------------------------------------------------------------------

// o4j_hadamard_tc_regs*: groups of 256·R elements (R = 2^(k−8) for k > 8; 256/d rows for k ≤ 8).
template <int NP>
static void run_regs(const std::vector<float>& in, std::vector<float>& out, long rows, int k,
                     const float* pre, const float* post, float scale) {
    const int d = 1 << k;
    const int R = k > 8 ? 1 << (k - 8) : 1;
    const int transformed = k < 8 ? k : 8;
    const int rowsPerGroupLog = k < 8 ? 8 - k : 0;
    const long groups = (rows + (1L << rowsPerGroupLog) - 1) >> rowsPerGroupLog;
    WarpMatrices m = warp_matrices(row_mask(PASS_A, 0, 0, transformed), col_mask(PASS_A, 0, 0, transformed));
    for (long grp = 0; grp < groups; grp++) {
        std::vector<float> x(R * 32 * 8);
        auto X = [&](int r, int lane, int j) -> float& { return x[(r * 32 + lane) * 8 + j]; };
        RowFlags laneFlags[32] = {};
        for (int r = 0; r < R; r++)
            for (int lane = 0; lane < 32; lane++)
                for (int j = 0; j < 8; j++) {
                    int f = 256 * r + pass_a_offset(lane, j);
                    long row = (grp << rowsPerGroupLog) + (f >> k);
                    int col = f & (d - 1);
                    float v = row < rows ? in[row * d + col] : 0.f;
                    float xe = pre ? v * pre[col] : v;
                    X(r, lane, j) = k < 8 ? screen_nonfinite(xe, f >> k, laneFlags[lane]) : xe;
                }
        // The warp's __reduce_or_sync of the row flags.
        RowFlags flags = {};
        for (int lane = 0; lane < 32; lane++) {
            flags.w0 |= laneFlags[lane].w0;
            flags.w1 |= laneFlags[lane].w1;
            flags.w2 |= laneFlags[lane].w2;
            flags.w3 |= laneFlags[lane].w3;
        }
        for (int r = 0; r < R; r++) {
            float tile[32][8];
            for (int lane = 0; lane < 32; lane++)
                for (int j = 0; j < 8; j++) tile[lane][j] = X(r, lane, j);
            tile_transform_warp<NP>(tile, m);
            for (int lane = 0; lane < 32; lane++)
                for (int j = 0; j < 8; j++) X(r, lane, j) = tile[lane][j];
        }
        for (int h = 1; h < R; h <<= 1)
            for (int r = 0; r < R; r++)
                if ((r & h) == 0)
                    for (int lane = 0; lane < 32; lane++)
                        for (int j = 0; j < 8; j++) {
                            float a = X(r, lane, j), b = X(r + h, lane, j);
                            X(r, lane, j) = a + b;
                            X(r + h, lane, j) = a - b;
                        }
        for (int r = 0; r < R; r++)
            for (int lane = 0; lane < 32; lane++)
                for (int j = 0; j < 8; j++) {
                    int f = 256 * r + pass_a_offset(lane, j);
                    long row = (grp << rowsPerGroupLog) + (f >> k);
                    int col = f & (d - 1);
                    float y = X(r, lane, j) * scale * (post ? post[col] : 1.0f);
                    if (k < 8 && row_flagged(flags, f >> k)) y = quiet_nan();
                    if (row < rows) out[row * d + col] = y;
                }
    }
}

// Bank-conflict bookkeeping: the worst number of distinct words one bank serves in one request.
static int worst_conflict_words(const std::vector<int>& words) {
    int worst = 1;
    for (int bank = 0; bank < 32; bank++) {
        std::vector<int> seen;
        for (int w : words)
            if ((w & 31) == bank) {
                bool dup = false;
                for (int s : seen) dup |= s == w;
                if (!dup) seen.push_back(w);
            }
        if ((int) seen.size() > worst) worst = (int) seen.size();
    }
    return worst;
}
static int worst_conflict = 1;
static double worst_np2 = 0, worst_np3 = 0, worst_bf16 = 0;

// o4j_hadamard_tc_smem<K>: one row through swizzled fp32 shared memory.
template <int NP>
static void run_smem(const std::vector<float>& in, std::vector<float>& out, long rows, int k,
                     const float* pre, const float* post, float scale) {
    const int d = 1 << k;
    const int nu = k - 8;
    const int pairs = nu == 7 ? 2 : 1;
    const int tilesB = (d / 256) / pairs;
    WarpMatrices ma = warp_matrices(row_mask(PASS_A, 0, 0, 8), col_mask(PASS_A, 0, 0, 8));
    WarpMatrices mb = warp_matrices(row_mask(PASS_B, nu, 8, 8 + nu), col_mask(PASS_B, nu, 8, 8 + nu));
    std::vector<float> smem(d, NAN);
    std::vector<int> written(d, 0);
    for (long row = 0; row < rows; row++) {
        std::fill(written.begin(), written.end(), 0);
        for (int c = 0; c < d / 256; c++) {
            float tile[32][8];
            for (int lane = 0; lane < 32; lane++)
                for (int j = 0; j < 8; j++) {
                    int col = 256 * c + pass_a_offset(lane, j);
                    float v = in[row * d + col];
                    tile[lane][j] = pre ? v * pre[col] : v;
                }
            tile_transform_warp<NP>(tile, ma);
            for (int half = 0; half < 2; half++) {
                // 16-byte stores: phases of 8 lanes must hit 8 distinct 16-byte bank groups.
                for (int phase = 0; phase < 4; phase++) {
                    std::vector<int> groups;
                    for (int lane = 8 * phase; lane < 8 * phase + 8; lane++)
                        groups.push_back((smem_word(256 * c + pass_a_offset(lane, 4 * half)) >> 2) & 7);
                    for (int a = 0; a < 8; a++)
                        for (int b = a + 1; b < 8; b++) CHECK(groups[a] != groups[b], "pass A store conflict k=%d", k);
                }
                for (int lane = 0; lane < 32; lane++) {
                    int col = 256 * c + pass_a_offset(lane, 4 * half);
                    int w = smem_word(col);
                    CHECK((w & 3) == 0, "pass A group misaligned k=%d", k);
                    for (int e = 0; e < 4; e++) {
                        CHECK(smem_word(col + e) == w + e, "group not contiguous k=%d", k);
                        smem[w + e] = tile[lane][4 * half + e];
                        written[w + e]++;
                    }
                }
            }
        }
        for (int w = 0; w < d; w++) CHECK(written[w] == 1, "pass A wrote word %d %d times (k=%d)", w, written[w], k);
        std::vector<int> seenB(d, 0);
        for (int tile = 0; tile < tilesB; tile++) {
            float x[2][32][8];
            for (int pr = 0; pr < pairs; pr++)
                for (int j = 0; j < 8; j++) {
                    std::vector<int> words;
                    for (int lane = 0; lane < 32; lane++) {
                        int idx = pass_b_index(lane, j, tile, pr, nu);
                        // the kernel's split address: fixed per (lane, j, pair), XOR the tile's bits
                        int w = pass_b_word_fixed(lane, j, pr, nu) ^ pass_b_word_of_tile(tile, nu);
                        CHECK(w == smem_word(idx), "pass B word of lane %d j %d tile %d pair %d (k=%d)", lane, j, tile, pr, k);
                        words.push_back(w);
                        x[pr][lane][j] = smem[w];
                        seenB[idx]++;
                    }
                    int wc = worst_conflict_words(words);
                    if (wc > worst_conflict) worst_conflict = wc;
                }
            for (int pr = 0; pr < pairs; pr++) tile_transform_warp<NP>(x[pr], mb);
            if (pairs == 2)
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++) {
                        float a = x[0][lane][j], b = x[1][lane][j];
                        x[0][lane][j] = a + b;
                        x[1][lane][j] = a - b;
                    }
            for (int pr = 0; pr < pairs; pr++)
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++)
                        smem[pass_b_word_fixed(lane, j, pr, nu) ^ pass_b_word_of_tile(tile, nu)] = x[pr][lane][j];
        }
        for (int i = 0; i < d; i++) CHECK(seenB[i] == 1, "pass B covered index %d %d times (k=%d)", i, seenB[i], k);
        for (int q = 0; q < d / 4; q++)
            for (int e = 0; e < 4; e++) {
                int i = 4 * q + e;
                out[row * d + i] = smem[smem_word(4 * q) + e] * scale * (post ? post[i] : 1.0f);
            }
    }
}

// ---- the checks ------------------------------------------------------------------------------------

static double rel_l2(const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); i++) {
        if (!std::isfinite(got[i])) return INFINITY;
        double e = got[i] - want[i];
        num += e * e;
        den += want[i] * want[i];
    }
    return std::sqrt(num / den);
}

static float round_bf16(float v) { return bf16_bits_to_float(bf16_rn_bits(v)); }

// o4j_hadamard_tc_m_r*: one row of d = m·2^kn through fp32 shared memory, then the m-point stage.
template <int NP>
static void run_mseg(const std::vector<float>& in, std::vector<float>& out, long rows, int kn, int m,
                     const std::vector<float>& hm, bool transpose, const float* pre, const float* post, float scale) {
    const int n = 1 << kn;
    const int d = m * n;
    const int R = kn > 8 ? 1 << (kn - 8) : 1;
    const int groupSize = 256 * R;
    const int groups = (d + groupSize - 1) / groupSize;
    const int transformed = kn < 8 ? kn : 8;
    WarpMatrices mt = warp_matrices(row_mask(PASS_A, 0, 0, transformed), col_mask(PASS_A, 0, 0, transformed));
    for (long row = 0; row < rows; row++) {
        // the kernel's padded layout: segment a at word a · S (mseg_stride)
        std::vector<float> smem(m * mseg_stride(kn), NAN);
        for (int grp = 0; grp < groups; grp++) {
            std::vector<float> x(R * 32 * 8);
            auto X = [&](int r, int lane, int j) -> float& { return x[(r * 32 + lane) * 8 + j]; };
            for (int r = 0; r < R; r++)
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++) {
                        int f = grp * groupSize + 256 * r + pass_a_offset(lane, j);
                        float v = f < d ? in[row * d + f] : 0.f;
                        X(r, lane, j) = (pre && f < d) ? v * pre[f] : v;
                    }
            for (int r = 0; r < R; r++) {
                float tile[32][8];
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++) tile[lane][j] = X(r, lane, j);
                tile_transform_warp<NP>(tile, mt);
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++) X(r, lane, j) = tile[lane][j];
            }
            for (int h = 1; h < R; h <<= 1)
                for (int r = 0; r < R; r++)
                    if ((r & h) == 0)
                        for (int lane = 0; lane < 32; lane++)
                            for (int j = 0; j < 8; j++) {
                                float a = X(r, lane, j), b = X(r + h, lane, j);
                                X(r, lane, j) = a + b;
                                X(r + h, lane, j) = a - b;
                            }
            for (int r = 0; r < R; r++)
                for (int lane = 0; lane < 32; lane++)
                    for (int j = 0; j < 8; j++) {
                        int f = grp * groupSize + 256 * r + pass_a_offset(lane, j);
                        if (f < d) smem[mseg_word_of(f, kn)] = X(r, lane, j);
                    }
        }
        for (int i = 0; i < d; i++) CHECK(!std::isnan(smem[mseg_word_of(i, kn)]), "m kernel pass A missed element %d (m=%d kn=%d)", i, m, kn);
        // pass M as the kernel runs it: Gᵀ · U as mma.m16n8k16 per n tile of 8 columns (pass_m_tc),
        // with the fragments placed by the header's mseg_* maps and U split into NP bf16 parts
        const int T16 = (m + 15) / 16;
        std::vector<float> u0 = smem;  // the exact pass-M input, for the fp64 check below
        for (int nt = 0; nt < (n + 7) / 8; nt++) {
            float y[3][32][4] = {};
            for (int mt = 0; mt < T16; mt++)
                for (int kt = 0; kt < T16; kt++) {
                    uint32_t a[32][4], bu[NP][32][2];
                    for (int lane = 0; lane < 32; lane++) {
                        for (int r = 0; r < 4; r++) a[lane][r] = mseg_a_frag(hm.data(), m, transpose, mt, kt, lane, r);
                        for (int r = 0; r < 2; r++) {
                            float v[2];
                            for (int h = 0; h < 2; h++) {
                                int aa = 16 * kt + mseg_b_row(lane, r, h), col = 8 * nt + mseg_b_col(lane);
                                v[h] = (aa < m && col < n) ? u0[mseg_word(aa, col, kn)] : 0.0f;
                            }
                            uint32_t parts[NP];
                            split_pair<NP>(v[0], v[1], parts);
                            for (int p = 0; p < NP; p++) bu[p][lane][r] = parts[p];
                        }
                    }
                    for (int p = NP - 1; p >= 0; p--) emu_mma(y[mt], a, bu[p], y[mt]);
                }
            for (int mt = 0; mt < T16; mt++)
                for (int lane = 0; lane < 32; lane++)
                    for (int i = 0; i < 4; i++) {
                        int ao = 16 * mt + mseg_d_row(lane, i), col = 8 * nt + mseg_d_col(lane, i);
                        if (ao < m && col < n) smem[mseg_word(ao, col, kn)] = y[mt][lane][i];
                    }
        }
        // pass M's shared-memory accesses from n = 8 on: B loads conflict-free, D stores at most 2-way
        if (kn >= 3)
            for (int kt = 0; kt < T16; kt++)
                for (int r = 0; r < 2; r++)
                    for (int h = 0; h < 2; h++) {
                        std::vector<int> ld, st;
                        for (int lane = 0; lane < 32; lane++) {
                            int aa = 16 * kt + mseg_b_row(lane, r, h);
                            if (aa < m) ld.push_back(mseg_word(aa, mseg_b_col(lane), kn));  // padding rows load nothing
                            st.push_back(mseg_word(16 * kt + mseg_d_row(lane, 2 * r), mseg_d_col(lane, h), kn));
                        }
                        CHECK(worst_conflict_words(ld) == 1, "pass M load conflict %d-way (m=%d kn=%d)", worst_conflict_words(ld), m, kn);
                        CHECK(worst_conflict_words(st) <= 2, "pass M store conflict %d-way (m=%d kn=%d)", worst_conflict_words(st), m, kn);
                    }
        // every output of pass M against the fp64 product of the same input (split error 2^-17 for
        // NP = 2 relative to the column's values, exact parts for NP = 3)
        for (int b = 0; b < n; b++)
            for (int ao = 0; ao < m; ao++) {
                double want = 0, mag = 0;
                for (int a = 0; a < m; a++) {
                    want += (double) mseg_g(hm.data(), m, transpose, a, ao) * u0[mseg_word(a, b, kn)];
                    mag += std::fabs((double) u0[mseg_word(a, b, kn)]);
                }
                CHECK(std::fabs(smem[mseg_word(ao, b, kn)] - want) <= (NP == 2 ? 1e-5 : 1e-6) * mag + 1e-30,
                      "pass M output %d of column %d (m=%d): %.9g, want %.9g", ao, b, m, smem[mseg_word(ao, b, kn)], want);
            }
        for (int i = 0; i < d; i++) out[row * d + i] = smem[mseg_word_of(i, kn)] * scale * (post ? post[i] : 1.0f);
    }
}

template <int NP>
static void check_mseg(int m, int kn, long rows, bool transpose, bool signs, std::mt19937& rng, double tolerance) {
    const int n = 1 << kn, d = m * n;
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> in(rows * d), out(rows * d, NAN), pre(d), post(d), hm(m * m);
    for (auto& v : in) v = NP == 2 ? round_bf16(normal(rng)) : normal(rng);  // fp32 data for the 3-part kernels
    for (auto& v : hm) v = (rng() & 1) ? 1.f : -1.f;  // any ±1 matrix: the stage must apply it exactly
    for (int i = 0; i < d; i++) {
        pre[i] = (rng() & 1) ? 1.f : -1.f;
        post[i] = (rng() & 1) ? 1.f : -1.f;
    }
    float scale = (float) (1.0 / std::sqrt((double) d));
    run_mseg<NP>(in, out, rows, kn, m, hm, transpose, signs ? pre.data() : nullptr, signs ? post.data() : nullptr, scale);
    std::vector<double> want(rows * d);
    for (long r = 0; r < rows; r++) {
        std::vector<std::vector<double>> seg(m, std::vector<double>(n));
        for (int a = 0; a < m; a++) {
            for (int b = 0; b < n; b++) seg[a][b] = (double) in[r * d + a * n + b] * (signs ? pre[a * n + b] : 1.0);
            fwht(seg[a]);
        }
        for (int ao = 0; ao < m; ao++)
            for (int b = 0; b < n; b++) {
                double s = 0;
                for (int a = 0; a < m; a++) s += (transpose ? hm[ao * m + a] : hm[a * m + ao]) * seg[a][b];
                int i = ao * n + b;
                want[r * d + i] = s * scale * (signs ? post[i] : 1.0);
            }
    }
    double err = rel_l2(out, want);
    double& worst = NP == 2 ? worst_np2 : worst_np3;
    if (err > worst) worst = err;
    CHECK(err <= tolerance, "m=%d kn=%d rows=%ld transpose=%d signs=%d: error %.3g > %.3g", m, kn, rows, transpose, signs,
          err, tolerance);
}


template <int NP>
static void check_case(int k, long rows, bool signs, std::mt19937& rng, double tolerance, bool bf16Data) {
    const int d = 1 << k;
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> in(rows * d), out(rows * d, NAN), pre(d), post(d);
    for (auto& v : in) v = bf16Data ? round_bf16(normal(rng)) : normal(rng);
    for (int i = 0; i < d; i++) {
        pre[i] = (rng() & 1) ? 1.f : -1.f;
        post[i] = (rng() & 1) ? 1.f : -1.f;
    }
    float scale = (float) (1.0 / std::sqrt((double) d));
    if (k <= 11) {
        run_regs<NP>(in, out, rows, k, signs ? pre.data() : nullptr, signs ? post.data() : nullptr, scale);
    } else {
        run_smem<NP>(in, out, rows, k, signs ? pre.data() : nullptr, signs ? post.data() : nullptr, scale);
    }
    std::vector<double> want(rows * d);
    for (long r = 0; r < rows; r++) {
        std::vector<double> v(d);
        for (int i = 0; i < d; i++) v[i] = (double) in[r * d + i] * (signs ? pre[i] : 1.0);
        fwht(v);
        for (int i = 0; i < d; i++) want[r * d + i] = v[i] * scale * (signs ? post[i] : 1.0);
    }
    double err = rel_l2(out, want);
    double& worst = NP == 2 ? worst_np2 : worst_np3;
    if (err > worst) worst = err;
    CHECK(err <= tolerance, "NP=%d k=%d rows=%ld signs=%d: fp32 result error %.3g > %.3g", NP, k, rows, signs, err, tolerance);
    if (bf16Data) {
        // After the kernel's one rounding to bf16: the error of a single rounding (≈ 1.6e-3).
        std::vector<float> rounded(out.size());
        for (size_t i = 0; i < out.size(); i++) rounded[i] = round_bf16(out[i]);
        double e16 = rel_l2(rounded, want);
        // One rounding: at most the unit roundoff 2^-8 per element, ≈ 1.6e-3 on average over
        // many elements (the issue's 2e-3); a handful of elements can land above the average.
        double bound = rows * d >= 1024 ? 2.0e-3 : 3.91e-3;
        CHECK(e16 <= bound, "k=%d rows=%ld: bf16 output error %.3g > %.3g", k, rows, e16, bound);
        if (rows * d >= 1024 && e16 > worst_bf16) worst_bf16 = e16;
    }
}

// The fused FP8 path's group amax and scale: a NaN anywhere in a group wins the reduction (lane
// partials joined the way warp_max's xor butterfly joins them), +∞ wins over every finite value,
// and the scale keeps NaN and +∞ and floors tiny groups at FLT_MIN, as Fp8Composite does in Java.
static void check_fp8_scale(std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const float nan = std::nanf(""), inf = INFINITY;
    for (float special : {nan, -nan, inf, -inf, 0.0f}) {
        for (int at = 0; at < 32; at++) {
            float lane[32];
            double want = 0;
            for (int l = 0; l < 32; l++) {
                lane[l] = std::fabs(l == at ? special : normal(rng));
                want = std::fmax(want, lane[l]);
            }
            for (int off = 16; off > 0; off >>= 1) {
                float next[32];
                for (int l = 0; l < 32; l++) next[l] = amax_join(lane[l], lane[l ^ off]);
                std::memcpy(lane, next, sizeof lane);
            }
            for (int l = 0; l < 32; l++) {
                if (std::isnan(special)) {
                    CHECK(std::isnan(lane[l]), "NaN at lane %d lost by the reduction (lane %d: %g)", at, l, lane[l]);
                } else {
                    CHECK(lane[l] == (float) want, "amax %g at lane %d: lane %d got %g", want, at, l, lane[l]);
                }
            }
        }
    }
    CHECK(amax_join(0.0f, 0.0f) == 0.0f && amax_join(2.0f, 3.0f) == 3.0f && amax_join(inf, 3e38f) == inf, "amax_join order");
    CHECK(fp8_scale_of_amax(0.0f) == 1.0f, "all-zero group: scale 1");
    CHECK(fp8_scale_of_amax(448.0f) == 1.0f && fp8_scale_of_amax(896.0f) == 2.0f, "scale = amax / 448");
    CHECK(fp8_scale_of_amax(1e-40f) == 1.17549435e-38f && fp8_scale_of_amax(1e-44f) == 1.17549435e-38f, "tiny group: FLT_MIN floor");
    CHECK(fp8_scale_of_amax(448.0f * 1.17549435e-38f) == 1.17549435e-38f, "at the floor");
    CHECK(std::isnan(fp8_scale_of_amax(nan)), "NaN group: NaN scale");
    CHECK(fp8_scale_of_amax(inf) == inf, "infinite group: infinite scale");
}

// Non-finite inputs stay in their row. For k < 8 one 16×16 tile holds 256/d rows and the ±1/0 tile
// matrices combine them with zero weights; 0·NaN and 0·∞ are NaN, so without the screen a NaN or ±∞
// in one row made every row of its tile NaN. Row r0 gets a NaN, row r1 a −∞: their outputs must be
// all NaN (the tensor cores' split of ±∞ gives NaN anyway), every other row must match the float64
// transform as in check_case.
static void check_nonfinite_rows(int k, bool signs, std::mt19937& rng) {
    const int d = 1 << k;
    // Three tile groups' worth of rows, the last one partial (its missing rows load as 0).
    const long rows = k < 8 ? (3L << (8 - k)) - 1 : 3;
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> in(rows * d), out(rows * d, 0.f);
    for (auto& v : in) v = round_bf16(normal(rng));
    const long r0 = 1, r1 = rows - 2;
    in[r0 * d + (d > 1 ? 1 : 0)] = NAN;
    in[r1 * d] = -INFINITY;
    std::vector<float> pre(d), post(d);
    for (int i = 0; i < d; i++) {
        pre[i] = (rng() & 1) ? 1.f : -1.f;
        post[i] = (rng() & 1) ? 1.f : -1.f;
    }
    float scale = (float) (1.0 / std::sqrt((double) d));
    run_regs<2>(in, out, rows, k, signs ? pre.data() : nullptr, signs ? post.data() : nullptr, scale);
    int leaked = 0, kept = 0;
    for (long r = 0; r < rows; r++) {
        std::vector<double> v(d);
        for (int i = 0; i < d; i++) v[i] = (double) in[r * d + i] * (signs ? pre[i] : 1.0);
        fwht(v);
        for (int i = 0; i < d; i++) {
            float got = out[r * d + i];
            double want = v[i] * scale * (signs ? post[i] : 1.0);
            if (r == r0 || r == r1) {
                kept += std::isnan(got) ? 0 : 1;
            } else if (!(std::fabs(got - want) <= 1e-4 * (1 + std::fabs(want)))) {
                leaked++;
            }
        }
    }
    CHECK(leaked == 0, "k=%d signs=%d: %d outputs of finite rows wrong next to a NaN / -inf row", k, signs, leaked);
    CHECK(kept == 0, "k=%d signs=%d: %d outputs of the NaN / -inf rows not NaN", k, signs, kept);
}

int main() {
    std::mt19937 rng(20261204);
    int cases = 0;
    for (int k = 1; k <= 15; k++) {
        long rowCounts[] = {1, 3, 7};
        for (long rows : rowCounts) {
            if (k >= 13 && rows > 1) continue;  // the emulation is slow; one row covers every access
            for (int signs = 0; signs < 2; signs++) {
                check_case<2>(k, rows, signs, rng, 3e-5, true);
                cases++;
                if (k == 4 || k == 9 || k == 12 || k == 15) {
                    check_case<3>(k, rows, signs, rng, 1e-6, false);
                    cases++;
                }
            }
        }
    }
    // m·2^kn sizes the op accepts (d ≤ 32768): m = 12, 28, 40 with several kn, and d = 20.
    int msizes[][2] = {{12, 0}, {12, 3}, {12, 4}, {12, 8}, {12, 9}, {12, 11}, {28, 5}, {28, 10}, {40, 0}, {40, 2}, {40, 9}, {20, 0}};
    for (auto& mk : msizes) {
        for (int tr = 0; tr < 2; tr++) {
            check_mseg<2>(mk[0], mk[1], mk[1] >= 10 ? 1 : 3, tr, tr, rng, 3e-5);
            cases++;
            if (mk[1] <= 10 && (mk[0] == 12 || mk[0] == 40 || mk[1] == 5)) {  // the fp32 kernels' 3-part pass M
                check_mseg<3>(mk[0], mk[1], 1, tr, !tr, rng, 1e-6);
                cases++;
            }
        }
    }
    CHECK(worst_conflict == 1, "pass B reads: %d-way bank conflict", worst_conflict);
    // Masks: a matrix of the identity where no bit is transformed, H_16 where all are.
    for (int a = 0; a < 16; a++)
        for (int b = 0; b < 16; b++) {
            CHECK(mask_matrix(0, a, b) == (a == b ? 1.f : 0.f), "identity mask");
            CHECK(mask_matrix(15, a, b) == ((__builtin_popcount(a & b) & 1) ? -1.f : 1.f), "H16 mask");
        }
    // tile_transform_bf16's premise: two finite bf16 values split into their own word (the word a
    // bf16 row holds them in, the lower element in the low half) and a zero remainder, so the kernel
    // may feed the loaded words to the first product and skip the remainder's.
    {
        std::mt19937 wr(7);
        const uint16_t edges[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80};
        for (int t = 0; t < 200000 + 100; t++) {
            uint16_t lo = t < 100 ? edges[t % 10] : (uint16_t) wr(), hi = t < 100 ? edges[(t / 10) % 10] : (uint16_t) wr();
            if ((lo & 0x7F80) == 0x7F80 || (hi & 0x7F80) == 0x7F80) continue;  // ±∞ and NaN: not finite
            uint32_t parts[2];
            split_pair<2>(bf16_bits_to_float(lo), bf16_bits_to_float(hi), parts);
            CHECK(parts[0] == pack2(lo, hi) && parts[1] == 0u, "bf16 words %04x %04x split to %08x + %08x", lo, hi, parts[0], parts[1]);
        }
    }
    // The bf16 rounding helper agrees with round-to-nearest-even on ties.
    CHECK(bf16_rn_bits(1.00390625f) == 0x3F80, "tie to even down");
    CHECK(bf16_rn_bits(1.01171875f) == 0x3F82, "tie to even up");
    check_fp8_scale(rng);
    for (int k = 1; k <= 11; k++) {
        for (int signs = 0; signs < 2; signs++) {
            check_nonfinite_rows(k, signs, rng);
            cases++;
        }
    }
    std::printf("hadacore_tc_host_test: %d cases; before the final rounding: worst error %.2e (2-part split),"
                " %.2e (3-part); after rounding to bf16 %.2e; worst pass-B bank conflict %d-way; %d failures\n",
                cases, worst_np2, worst_np3, worst_bf16, worst_conflict, failures);
    return failures == 0 ? 0 : 1;
}
