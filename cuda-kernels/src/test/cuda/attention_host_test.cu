// attention_host_test.cu — host checks of the index math and numerics that attention.cu runs
// (the __host__ __device__ functions of attention_numerics.cuh), on a machine without a GPU.
//
//   nvcc -std=c++17 -I ../../main/cuda attention_host_test.cu -o attention_host_test
//   ./attention_host_test              checks; prints a summary, exit status 0 when all pass
//   ./attention_host_test --dump       also prints "e4m3 <code> <float bits>" for all 256 codes and
//                                      "bf16 <float bits> <bf16 bits>" for the rounding cases, which
//                                      AttentionHostTest (JUnit) compares with core's Fp8 and Bf16
//
// What is checked here (CPU reference code first, then the checks, llm.c style):
//   1. attn_e4m3_to_float on all 256 codes against an independent ldexp formula and against
//      cuda_fp8.h's own __nv_cvt_fp8_to_halfraw (host-callable), bit for bit (NaN: 0x7FC00000).
//   2. attn_float_to_bf16_rn against a round-to-nearest-even reference in double on edge cases
//      and 200000 random bit patterns.
//   3. attn_last_visible_key / attn_kv_end against the mask's definition (j ≤ i + Skv − Sq) for
//      every Sq, Skv in 0..40 and every tile start.
//   4. A host emulation of the kernel's loop (16-row tiles, 32-key tiles, attn_online_step, the
//      masked-key skip in PV, the final scaling) against float64 attention on random fp8 codes:
//      causal on/off, Sq <, =, > Skv, GQA, per-tensor and per-head scales, each D; and the
//      NaN-propagation and no-visible-key rules; KV caches of kv_cap > Skv keys per head whose
//      free slots hold NaN codes (attn_kv_row0). It shares the kernel's arithmetic order, not its
//      thread mapping: the mapping is unverified until it runs on a GPU.
#include <cuda_fp8.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "attention_numerics.cuh"

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        g_checks++;                                                         \
        if (!(cond)) {                                                      \
            if (++g_failures <= 20) {                                       \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                 \
                printf(__VA_ARGS__);                                        \
                printf("\n");                                               \
            }                                                               \
        }                                                                   \
    } while (0)

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// ------------------------------------------------------------------ CPU reference code

// E4M3FN from the definition: bias 7, 3 mantissa bits, S.1111.111 NaN, no infinity.
static float ref_e4m3(int code) {
    int s = (code >> 7) & 1, e = (code >> 3) & 15, m = code & 7;
    if (e == 15 && m == 7) return float_of(0x7FC00000u);
    double mag = e == 0 ? ldexp((double) m, -9) : ldexp(1.0 + m / 8.0, e - 7);
    return (float) (s ? -mag : mag);
}

// bf16 round to nearest even, in double: the two bf16 neighbours and the tie rule.
static uint16_t ref_bf16(float x) {
    uint32_t u = bits_of(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t) ((u >> 16) | 0x40);
    uint32_t lo = u & 0xFFFF0000u;                 // truncation toward zero (same sign)
    uint32_t hi = lo + 0x10000u;                   // next magnitude (may become inf: fine)
    double dx = fabs((double) x), dlo = fabs((double) float_of(lo));
    double dhi = (hi & 0x7FFFFFFFu) >= 0x7F800000u
                     ? ldexp(1.0, 128)            // the bf16 "next" past max is +inf: 2^128 as its value
                     : fabs((double) float_of(hi));
    if ((u & 0x7FFFFFFFu) == 0x7F800000u) return (uint16_t) (u >> 16);  // ±inf
    double dl = dx - dlo, dh = dhi - dx;
    uint32_t pick = dl < dh ? lo : dh < dl ? hi : (((lo >> 16) & 1) ? hi : lo);
    return (uint16_t) (pick >> 16);
}

// float64 attention for one problem on fp8 codes (rows row-major, contiguous).
struct Problem {
    int B, Hq, Hkv, Sq, Skv, D;
    bool causal, per_head;
    float softmax_scale;
    std::vector<uint8_t> q, k, v;   // k, v: [B, Hkv, kv_cap, D], rows from Skv on hold NaN codes
    std::vector<float> qs, ks, vs;  // [1] or [B, H]
    int kv_cap;                     // keys per head in k and v (a KV cache), ≥ Skv
};

static float scale_of(const std::vector<float>& s, bool per_head, int b, int h, int H) {
    return per_head ? s[(size_t) b * H + h] : s[0];
}

static void ref_attention(const Problem& p, std::vector<double>& out, std::vector<double>& lse) {
    out.assign((size_t) p.B * p.Hq * p.Sq * p.D, 0.0);
    lse.assign((size_t) p.B * p.Hq * p.Sq, 0.0);
    std::vector<double> t(p.Skv + 1);
    for (int b = 0; b < p.B; b++)
        for (int h = 0; h < p.Hq; h++) {
            int g = h / (p.Hq / p.Hkv);
            double qsc = scale_of(p.qs, p.per_head, b, h, p.Hq);
            double ksc = scale_of(p.ks, p.per_head, b, g, p.Hkv);
            double vsc = scale_of(p.vs, p.per_head, b, g, p.Hkv);
            for (int i = 0; i < p.Sq; i++) {
                size_t row = ((size_t) b * p.Hq + h) * p.Sq + i;
                int last = p.Skv - 1;
                if (p.causal && i + (p.Skv - p.Sq) < last) last = i + (p.Skv - p.Sq);
                if (last < 0) { lse[row] = -INFINITY; continue; }
                double mx = -INFINITY;
                for (int j = 0; j <= last; j++) {
                    size_t kr = ((size_t) b * p.Hkv + g) * p.kv_cap + j;
                    double dot = 0;
                    for (int d = 0; d < p.D; d++)
                        dot += (double) ref_e4m3(p.q[row * p.D + d]) * qsc * ref_e4m3(p.k[kr * p.D + d]) * ksc;
                    t[j] = p.softmax_scale * dot;
                    if (t[j] > mx) mx = t[j];
                }
                double sum = 0;
                for (int j = 0; j <= last; j++) { t[j] = exp(t[j] - mx); sum += t[j]; }
                for (int j = 0; j <= last; j++) {
                    size_t kr = ((size_t) b * p.Hkv + g) * p.kv_cap + j;
                    for (int d = 0; d < p.D; d++) out[row * p.D + d] += t[j] / sum * ref_e4m3(p.v[kr * p.D + d]) * vsc;
                }
                lse[row] = mx + log(sum);
            }
        }
}

// ------------------------------------------------------------------ host emulation of the kernel
// Same tiles, same arithmetic order per row and per key tile as attn_fp8_fwd; the warp reductions
// become loops in lane order (the kernel's butterfly order differs, a rounding-level difference).
static void emulate_kernel(const Problem& p, std::vector<uint16_t>& out, std::vector<float>& lse) {
    const int BM = 16, BN = 32;
    const float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;
    out.assign((size_t) p.B * p.Hq * p.Sq * p.D, 0xFFFF);   // poison: a NaN pattern
    lse.assign((size_t) p.B * p.Hq * p.Sq, float_of(0x7FBFFFFFu));
    int q_tiles = (p.Sq + BM - 1) / BM;
    for (int block = 0; block < q_tiles * p.B * p.Hq; block++) {
        int q_tile = block % q_tiles, bh = block / q_tiles, b = bh / p.Hq, h = bh % p.Hq;
        int g = h / (p.Hq / p.Hkv);
        int i0 = q_tile * BM, tile_rows = std::min(BM, p.Sq - i0);
        float qsc = p.qs[attn_scale_index(b, h, p.per_head ? p.Hq : 0, p.per_head ? 1 : 0)];
        float ksc = p.ks[attn_scale_index(b, g, p.per_head ? p.Hkv : 0, p.per_head ? 1 : 0)];
        float vsc = p.vs[attn_scale_index(b, g, p.per_head ? p.Hkv : 0, p.per_head ? 1 : 0)];
        float logit_scale2 = p.softmax_scale * qsc * ksc * LOG2E;
        int kv_end = attn_kv_end(i0, tile_rows, p.Sq, p.Skv, p.causal);
        size_t kv_row0 = (size_t) attn_kv_row0(b, g, p.Hkv, p.kv_cap);
        for (int row = 0; row < tile_rows; row++) {
            int i = i0 + row;
            size_t qr = (size_t) bh * p.Sq + i;
            int last = attn_last_visible_key(i, p.Sq, p.Skv, p.causal);
            float m = -INFINITY, l = 0;
            std::vector<float> acc(p.D, 0.0f);
            for (int j0 = 0; j0 < kv_end; j0 += BN) {
                int tile_keys = std::min(BN, kv_end - j0);
                float t[32], pr[32];
                float tmax = -INFINITY;
                for (int lane = 0; lane < BN; lane++) {
                    int j = j0 + lane;
                    float s = 0;
                    if (lane < tile_keys) {
                        size_t kr = kv_row0 + j;
                        for (int d = 0; d < p.D; d++)
                            s = fmaf(attn_e4m3_to_float(p.q[qr * p.D + d]), attn_e4m3_to_float(p.k[kr * p.D + d]), s);
                    }
                    t[lane] = j <= last ? s * logit_scale2 : -INFINITY;
                    tmax = fmaxf(tmax, t[lane]);
                }
                AttnOnline st = attn_online_step(m, tmax);
                float psum = 0;
                for (int lane = 0; lane < BN; lane++) { pr[lane] = attn_exp2(t[lane] - st.base); psum += pr[lane]; }
                l = l * st.alpha + psum;
                m = st.m_new;
                for (int d = 0; d < p.D; d++) acc[d] *= st.alpha;
                for (int jj = 0; jj < tile_keys; jj++) {
                    if (j0 + jj > last) continue;
                    size_t vr = kv_row0 + j0 + jj;
                    for (int d = 0; d < p.D; d++) acc[d] = fmaf(pr[jj], attn_e4m3_to_float(p.v[vr * p.D + d]), acc[d]);
                }
            }
            bool none = last < 0;
            float inv = none ? 0.0f : vsc / l;
            for (int d = 0; d < p.D; d++) out[qr * p.D + d] = attn_float_to_bf16_rn(none ? 0.0f : acc[d] * inv);
            lse[qr] = none ? -INFINITY : (m + log2f(l)) * LN2;
        }
    }
}

static uint32_t rng_state = 12345u;
static uint32_t rnd() { rng_state ^= rng_state << 13; rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5; return rng_state; }

// A random finite e4m3 code of moderate magnitude (|x| ≤ 4), never NaN.
static uint8_t rnd_code() {
    for (;;) {
        uint8_t c = (uint8_t) rnd();
        int e = (c >> 3) & 15;
        if (e <= 9 && (c & 0x7F) != 0x7F) return c;
    }
}

// A problem on random codes whose K and V are KV caches of kv_cap ≥ Skv keys per head, every free
// slot a NaN code: a read of one shows as NaN in out and lse.
static Problem make_cache_problem(int B, int Hq, int Hkv, int Sq, int Skv, int kv_cap, int D, bool causal, bool per_head) {
    Problem p{B, Hq, Hkv, Sq, Skv, D, causal, per_head, 1.0f / sqrtf((float) D), {}, {}, {}, {}, {}, {}, kv_cap};
    p.q.resize((size_t) B * Hq * Sq * D);
    p.k.resize((size_t) B * Hkv * kv_cap * D);
    p.v.resize(p.k.size());
    for (auto& c : p.q) c = rnd_code();
    for (size_t x = 0; x < p.k.size(); x++) {
        bool filled = (int) (x / D % kv_cap) < Skv;
        p.k[x] = filled ? rnd_code() : 0x7F;
        p.v[x] = filled ? rnd_code() : 0xFF;
    }
    auto scales = [&](int H) {
        std::vector<float> s(per_head ? (size_t) B * H : 1);
        for (auto& x : s) x = 0.05f + (rnd() % 1000) / 2000.0f;
        return s;
    };
    p.qs = scales(Hq);
    p.ks = scales(Hkv);
    p.vs = scales(Hkv);
    return p;
}

static Problem make_problem(int B, int Hq, int Hkv, int Sq, int Skv, int D, bool causal, bool per_head) {
    return make_cache_problem(B, Hq, Hkv, Sq, Skv, Skv, D, causal, per_head);
}

static void check_problem(Problem p, const char* name) {
    std::vector<double> ro, rl;
    std::vector<uint16_t> ko;
    std::vector<float> kl;
    ref_attention(p, ro, rl);
    emulate_kernel(p, ko, kl);
    double num = 0, den = 0, lse_err = 0;
    bool bad = false;
    for (size_t x = 0; x < ro.size(); x++) {
        float o = float_of((uint32_t) ko[x] << 16);
        if (!isfinite(o)) bad = true;
        num += (o - ro[x]) * (o - ro[x]);
        den += ro[x] * ro[x];
    }
    for (size_t x = 0; x < rl.size(); x++) {
        if (isinf(rl[x])) { if (!(isinf(kl[x]) && kl[x] < 0)) bad = true; continue; }
        if (!isfinite(kl[x])) bad = true;
        lse_err = fmax(lse_err, fabs(kl[x] - rl[x]));
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    CHECK(!bad && rel <= 5e-3 && lse_err <= 1e-4, "%s: B=%d Hq=%d Hkv=%d Sq=%d Skv=%d D=%d causal=%d per_head=%d: rel L2 %.3g, lse max err %.3g%s",
          name, p.B, p.Hq, p.Hkv, p.Sq, p.Skv, p.D, p.causal, p.per_head, rel, lse_err, bad ? ", non-finite/unwritten" : "");
    if (getenv("ATTN_VERBOSE")) printf("  %-10s Sq=%3d Skv=%3d D=%3d causal=%d: rel L2 %.3g, lse err %.3g\n", name, p.Sq, p.Skv, p.D, p.causal, rel, lse_err);
}

int main(int argc, char** argv) {
    bool dump = argc > 1 && strcmp(argv[1], "--dump") == 0;

    // 1. fp8 decode, all 256 codes
    for (int c = 0; c < 256; c++) {
        float got = attn_e4m3_to_float((uint32_t) c);
        float want = ref_e4m3(c);
        CHECK(bits_of(got) == bits_of(want), "e4m3 0x%02x: got %08x want %08x", c, bits_of(got), bits_of(want));
        __half_raw hr = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t) c, __NV_E4M3);
        float via_cuda = __half2float(__half(hr));
        bool same = isnan(via_cuda) ? bits_of(got) == 0x7FC00000u : bits_of(got) == bits_of(via_cuda);
        CHECK(same, "e4m3 0x%02x: got %08x, cuda_fp8.h %08x", c, bits_of(got), bits_of(via_cuda));
        // the kernel decodes codes out of wider words: upper bits must not matter
        CHECK(bits_of(attn_e4m3_to_float(0xABCD0000u | c)) == bits_of(got), "e4m3 0x%02x with high bits", c);
        if (dump) printf("e4m3 %d %u\n", c, bits_of(got));
    }

    // 2. bf16 rounding
    std::vector<uint32_t> cases = {0x00000000u, 0x80000000u, 0x3F800000u, 0x3F808000u, 0x3F818000u, 0x3F80FFFFu,
                                   0x3F807FFFu, 0x7F7FFFFFu, 0x7F7F8000u, 0x7F7F7FFFu, 0xFF7FFFFFu, 0x7F800000u,
                                   0xFF800000u, 0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x00000001u, 0x00008000u,
                                   0x00018000u, 0x807FFFFFu, 0x00800000u, 0x3EAAAAABu};
    for (int x = 0; x < 200000; x++) cases.push_back(rnd());
    for (size_t x = 0; x < cases.size(); x++) {
        float f = float_of(cases[x]);
        uint16_t got = attn_float_to_bf16_rn(f), want = ref_bf16(f);
        CHECK(got == want, "bf16 of %08x: got %04x want %04x", cases[x], got, want);
        if (dump && x < 2000) printf("bf16 %u %u\n", cases[x], got);
    }

    // 3. causal bounds against the mask's definition
    for (int sq = 0; sq <= 40; sq++)
        for (int skv = 0; skv <= 40; skv++)
            for (int causal = 0; causal < 2; causal++) {
                for (int i = 0; i < sq; i++) {
                    int want = -1;
                    for (int j = 0; j < skv; j++)
                        if (!causal || j <= i + (skv - sq)) want = j;   // the visible set is a prefix
                    CHECK(attn_last_visible_key(i, sq, skv, causal) == want, "last key i=%d sq=%d skv=%d causal=%d", i, sq, skv, causal);
                }
                for (int i0 = 0; i0 < sq; i0 += 16) {
                    int rows = std::min(16, sq - i0), want = 0;
                    for (int r = 0; r < rows; r++) want = std::max(want, attn_last_visible_key(i0 + r, sq, skv, causal) + 1);
                    CHECK(attn_kv_end(i0, rows, sq, skv, causal) == want, "kv_end i0=%d sq=%d skv=%d causal=%d", i0, sq, skv, causal);
                }
            }
    CHECK(attn_last_visible_key(0, 2000000000, 2100000000, true) == 100000000, "no int overflow");
    CHECK(attn_last_visible_key(5, 2100000000, 100, true) == -1, "no int overflow, negative offset");
    CHECK(attn_scale_index(3, 5, 0, 0) == 0 && attn_scale_index(3, 5, 8, 1) == 29, "scale index");

    // 4. emulated kernel vs float64 attention
    const int dims[] = {64, 128, 256};
    for (int di = 0; di < 3; di++) {
        int D = dims[di];
        check_problem(make_problem(1, 2, 2, 1, 1, D, false, false), "tiny");
        check_problem(make_problem(2, 4, 2, 17, 45, D, true, true), "gqa-causal");
        check_problem(make_problem(1, 3, 1, 33, 33, D, true, false), "mqa-square");
        check_problem(make_problem(1, 2, 1, 45, 17, D, true, true), "sq>skv");
        check_problem(make_problem(2, 2, 1, 20, 70, D, false, true), "noncausal");
        check_problem(make_problem(1, 1, 1, 5, 0, D, false, false), "skv=0");
        check_problem(make_cache_problem(2, 8, 2, 1, 77, 128, D, true, true), "cache-decode");
        check_problem(make_cache_problem(1, 4, 2, 20, 50, 64, D, true, false), "cache-chunk");
        check_problem(make_cache_problem(2, 2, 2, 3, 1, 40, D, false, true), "cache-1key");
        check_problem(make_cache_problem(1, 2, 1, 4, 0, 16, D, false, false), "cache-empty");
    }
    CHECK(attn_kv_row0(3, 1, 2, 100) == 700 && attn_kv_row0(0, 0, 8, 5) == 0, "kv_row0");
    CHECK(attn_kv_row0(65535, 7, 8, 65536) == (long long) (65535 * 8 + 7) * 65536, "kv_row0 past 2^31");

    // no visible key: out +0.0 exactly, lse −∞
    {
        Problem p = make_problem(1, 1, 1, 7, 3, 64, true, false);
        std::vector<uint16_t> o; std::vector<float> l;
        emulate_kernel(p, o, l);
        for (int i = 0; i < 4; i++) {
            CHECK(isinf(l[i]) && l[i] < 0, "row %d lse %g, want -inf", i, l[i]);
            for (int d = 0; d < 64; d++) CHECK(o[i * 64 + d] == 0, "row %d col %d = %04x, want +0", i, d, o[i * 64 + d]);
        }
        CHECK(isfinite(l[4]), "row 4 sees key 0");
    }
    // NaN propagation: a NaN code in K row 5 reaches every row that sees key 5 (out and lse) and no other
    {
        Problem p = make_problem(1, 1, 1, 8, 8, 64, true, false);
        p.k[5 * 64 + 3] = 0x7F;
        p.v[7 * 64 + 9] = 0xFF;   // V NaN in key 7: only the last row sees it, in column 9 only
        std::vector<uint16_t> o; std::vector<float> l;
        emulate_kernel(p, o, l);
        for (int i = 0; i < 8; i++) {
            bool sees5 = i >= 5;
            CHECK(isnan(l[i]) == sees5, "row %d lse %g (sees key 5: %d)", i, l[i], sees5);
            bool any_nan = false, all_nan = true;
            for (int d = 0; d < 64; d++) { bool n = (o[i * 64 + d] & 0x7FFF) > 0x7F80; any_nan |= n; all_nan &= n; }
            CHECK(sees5 ? all_nan : !any_nan, "row %d out NaN pattern (sees key 5: %d)", i, sees5);
        }
        // and the V NaN in a key masked for rows < 7 does not leak into them (checked above: no NaN in rows 0..4)
        Problem p2 = make_problem(1, 1, 1, 8, 8, 64, true, false);
        p2.v[7 * 64 + 9] = 0xFF;
        emulate_kernel(p2, o, l);
        for (int i = 0; i < 8; i++)
            for (int d = 0; d < 64; d++) {
                bool n = (o[i * 64 + d] & 0x7FFF) > 0x7F80;
                CHECK(n == (i == 7 && d == 9), "V NaN: row %d col %d NaN=%d", i, d, n);
            }
        // all of Q NaN: the whole row NaN, never a finite value
        Problem p3 = make_problem(1, 1, 1, 2, 40, 64, false, false);
        for (int d = 0; d < 64; d++) p3.q[d] = 0x7F;
        emulate_kernel(p3, o, l);
        CHECK(isnan(l[0]) && !isnan(l[1]), "Q NaN row: lse %g %g", l[0], l[1]);
        for (int d = 0; d < 64; d++) CHECK((o[d] & 0x7FFF) > 0x7F80, "Q NaN row: col %d = %04x", d, o[d]);
    }

    printf("attention_host_test: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
