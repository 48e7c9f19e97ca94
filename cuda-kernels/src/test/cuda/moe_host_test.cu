// moe_host_test.cu — host checks of the numerics and index math that moe.cu runs (the
// __host__ __device__ functions of moe_numerics.cuh), on a machine without a GPU.
//
//   nvcc -std=c++17 -I ../../main/cuda moe_host_test.cu -o moe_host_test && ./moe_host_test
//   ./moe_host_test --dump     also prints "topk <T> <E> <k> ..." cases for MoeHostTest (JUnit)
//                              to compare with MoeReference.routeFromLogits
//
//   1. top-k order: the kernel's algorithm (lane-strided scan for the largest key below the
//      previous pick, then a max over 32 lanes) against MoeReference's strict-'>' scan over the
//      untaken experts, on random logits drawn from a small set (many ties, ±0), E = 1..70.
//   2. fp16 → fp32 on all 65536 patterns against cuda_fp16.h's __half2float (host).
//   3. bf16 round to nearest even on edge cases (as core's Bf16.fromFloat).
//   4. the tile list against the offsets: every permuted row in exactly one tile, of its expert.
//   5. int4 nibble order and (q − z)·s, against the GPTQ layout written out bit by bit.
//   6. silu(g)·u against double on a range, including ±large g.
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "moe_numerics.cuh"

static int g_checks = 0, g_failures = 0;
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        g_checks++;                                                                            \
        if (!(cond) && ++g_failures <= 20) {                                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

static uint32_t rng_state = 987654321u;
static uint32_t rnd() { rng_state ^= rng_state << 13; rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5; return rng_state; }

// MoeReference.routeFromLogits' selection: strict '>' over untaken experts, lowest index wins ties.
static std::vector<int> ref_topk(const float* l, int E, int k) {
    std::vector<bool> taken(E, false);
    std::vector<int> ids;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!taken[e] && (best < 0 || l[e] > l[best])) best = e;
        taken[best] = true;
        ids.push_back(best);
    }
    return ids;
}

// o4j_moe_router_topk's selection, lane by lane.
static std::vector<int> kernel_topk(const float* l, int E, int k) {
    std::vector<int> ids;
    unsigned long long prev = ~0ull;
    for (int j = 0; j < k; j++) {
        unsigned long long lane_best[32] = {0};
        for (int lane = 0; lane < 32; lane++)
            for (int e = lane; e < E; e += 32) {
                unsigned long long key = moe_topk_key(l[e], e);
                if (key < prev && key > lane_best[lane]) lane_best[lane] = key;
            }
        unsigned long long best = 0;
        for (int lane = 0; lane < 32; lane++) best = lane_best[lane] > best ? lane_best[lane] : best;
        ids.push_back(moe_topk_key_expert(best));
        prev = best;
    }
    return ids;
}

static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

int main(int argc, char** argv) {
    bool dump = argc > 1 && strcmp(argv[1], "--dump") == 0;

    // 1. top-k
    const float pool[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.5f, 2.5f, -3.0f, 1e-30f, -INFINITY, INFINITY, 7.0f};
    for (int iter = 0; iter < 20000; iter++) {
        int E = 1 + (int) (rnd() % 70);
        int k = 1 + (int) (rnd() % (E < 8 ? E : 8));
        std::vector<float> l(E);
        bool inf_only = iter % 3 == 0;   // ±inf logits in the pool too (their weights: moe_softmax_term)
        for (auto& x : l) x = iter % 2 ? pool[rnd() % (inf_only ? 11 : 8)] : (float) ((int) (rnd() % 9) - 4) * 0.25f;
        std::vector<int> want = ref_topk(l.data(), E, k), got = kernel_topk(l.data(), E, k);
        CHECK(want == got, "topk E=%d k=%d iter=%d: first difference at %d", E, k, iter,
              [&] { for (int j = 0; j < k; j++) if (want[j] != got[j]) return j; return -1; }());
        if (dump && iter < 600) {   // both grids: the Java side compares these ids with MoeReference
            printf("topk %d %d", E, k);
            for (float x : l) printf(" %u", bits_of(x));
            for (int id : got) printf(" %d", id);
            printf("\n");
        }
    }
    // NaN logits: valid distinct ids, NaN experts last (lowest index first among them)
    {
        float l[5] = {1.0f, NAN, 3.0f, NAN, -2.0f};
        std::vector<int> got = kernel_topk(l, 5, 5);
        CHECK(got == std::vector<int>({2, 0, 4, 1, 3}), "NaN order %d %d %d %d %d", got[0], got[1], got[2], got[3], got[4]);
    }
    CHECK(moe_topk_key_expert(moe_topk_key(-5.0f, 65535)) == 65535, "expert round trip");
    // softmax terms: finite max as expf, NaN → 0; +inf max: the +inf logits share; -inf max: uniform
    CHECK(moe_softmax_term(1.0f, 1.0f) == 1.0f && moe_softmax_term(0.0f, 1.0f) == expf(-1.0f), "finite terms");
    CHECK(moe_softmax_term(NAN, 2.0f) == 0.0f && moe_softmax_term(-INFINITY, 2.0f) == 0.0f, "NaN and -inf terms");
    CHECK(moe_softmax_term(INFINITY, INFINITY) == 1.0f && moe_softmax_term(3e38f, INFINITY) == 0.0f, "+inf max");
    CHECK(moe_softmax_term(NAN, -INFINITY) == 1.0f && moe_softmax_term(-INFINITY, -INFINITY) == 1.0f, "-inf max");

    // 2. fp16
    for (uint32_t h = 0; h < 65536; h++) {
        float got = moe_fp16_to_float((uint16_t) h);
        __half_raw r; r.x = (unsigned short) h;
        float want = __half2float(__half(r));
        bool same = isnan(want) ? isnan(got) : bits_of(got) == bits_of(want);
        CHECK(same, "fp16 %04x: got %08x want %08x", h, bits_of(got), bits_of(want));
        if (!isnan(want)) CHECK((double) got == (double) want, "fp16 value");
    }

    // 3. bf16
    struct { uint32_t in; uint16_t out; } bf[] = {
        {0x3F800000u, 0x3F80}, {0x3F808000u, 0x3F80}, {0x3F818000u, 0x3F82}, {0x3F808001u, 0x3F81},
        {0x7F7FFFFFu, 0x7F80}, {0x7F7F7FFFu, 0x7F7F}, {0x80000000u, 0x8000}, {0x7FC00000u, 0x7FC0},
        {0xFF800001u, 0xFFC0}, {0x00008000u, 0x0000}, {0x00018000u, 0x0002}};
    for (auto& c : bf) CHECK(moe_float_to_bf16_rn(float_of(c.in)) == c.out, "bf16 %08x", c.in);
    for (uint32_t b = 0; b < 65536; b += 7) CHECK(moe_float_to_bf16_rn(moe_bf16_to_float((uint16_t) b)) == (uint16_t) b
            || (b & 0x7FFF) > 0x7F80, "bf16 round trip %04x", b);

    // 4. tiles
    for (int iter = 0; iter < 2000; iter++) {
        int E = 1 + (int) (rnd() % 40), bm = iter % 2 ? 16 : 1 + (int) (rnd() % 20);
        std::vector<int> off(E + 1, 0);
        for (int e = 0; e < E; e++) off[e + 1] = off[e] + (rnd() % 3 == 0 ? 0 : (int) (rnd() % 50));
        int n = moe_count_tiles(off.data(), E, bm);
        std::vector<int> tiles(2 * n + 2, -7);
        CHECK(moe_build_tiles(off.data(), E, bm, tiles.data()) == n, "tile count");
        CHECK(tiles[2 * n] == -7, "no write past the list");
        std::vector<int> seen(off[E], 0);
        for (int t = 0; t < n; t++) {
            int e = tiles[2 * t], r0 = tiles[2 * t + 1];
            int rows = std::min(bm, off[e + 1] - r0);
            CHECK(rows >= 1 && r0 >= off[e], "tile %d (e=%d, row0=%d) inside its expert", t, e, r0);
            for (int r = r0; r < r0 + rows; r++) seen[r]++;
        }
        for (int p = 0; p < off[E]; p++) CHECK(seen[p] == 1, "row %d covered %d times", p, seen[p]);
    }

    // 5. int4
    for (int iter = 0; iter < 1000; iter++) {
        uint32_t q[8], word = 0;
        for (int i = 0; i < 8; i++) { q[i] = rnd() & 15; word |= q[i] << (4 * i); }
        for (int i = 0; i < 8; i++) CHECK(moe_int4_nibble(word, i) == q[i], "nibble %d", i);
        uint32_t z = rnd() & 15;
        float s = float_of((rnd() & 0x007FFFFFu) | 0x3C000000u);
        for (int i = 0; i < 8; i++) {
            double want = ((double) q[i] - z) * s;
            CHECK(moe_dequant(q[i], z, s) == (float) want, "dequant q=%u z=%u", q[i], z);
        }
    }

    // 6. silu · u
    double worst = 0;
    for (int i = -4000; i <= 4000; i++) {
        float g = i * 0.025f, u = 1.5f - (i % 7) * 0.5f;
        double want = g / (1 + exp(-(double) g)) * u;
        double got = moe_silu_mul(g, u);
        double err = fabs(got - want) / fmax(1e-30, fabs(want));
        if (want != 0) worst = fmax(worst, err);
    }
    CHECK(worst < 2e-6, "silu rel err %.3g", worst);   // four fp32 roundings + expf (≤ 2 ulp): about 1e-6 seen
    CHECK(moe_silu_mul(-1e6f, 2.0f) == 0.0f && moe_silu_mul(1e6f, 2.0f) == 2e6f, "silu far tails");
    CHECK(!isnan(moe_silu_mul(-100.0f, 1.0f)), "silu -100");

    printf("moe_host_test: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
