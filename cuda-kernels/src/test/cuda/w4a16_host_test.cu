// Host test of the W4A16 kernels' index arithmetic (w4a16_index.cuh), no GPU needed.
// Built and run by build-fatbin.sh host-tests (nvcc -x cu, host code only).
//
// Weights are drawn as plain arrays q[kk][j], z[gi][j], s[gi][j] and packed into GPTQ words here
// (independently of the helpers); the kernels' algorithm is replayed serially through the helpers
// (split ranges, nibble and zero extraction, group of a word, workspace index, fixed-order reduce)
// and compared with the float64 product computed from the plain arrays.
// Pass: relative L2 ≤ 1e-5 (fp32 accumulation); split ranges contiguous, covering, balanced.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "w4a16_index.cuh"

static int failures = 0;

static void check(bool ok, const char* what) {
    if (!ok) { failures++; if (failures < 20) fprintf(stderr, "FAIL %s\n", what); }
}

int main() {
    // Split ranges.
    for (int kWords = 1; kWords <= 700; kWords += 3) {
        for (int splits = 1; splits <= kWords && splits <= 64; splits++) {
            bool ok = o4j_w4_split_begin(kWords, splits, 0) == 0 && o4j_w4_split_begin(kWords, splits, splits) == kWords;
            int lo = kWords, hi = 0;
            for (int z = 0; z < splits; z++) {
                int len = o4j_w4_split_begin(kWords, splits, z + 1) - o4j_w4_split_begin(kWords, splits, z);
                lo = len < lo ? len : lo;
                hi = len > hi ? len : hi;
            }
            ok &= lo >= 1 && hi - lo <= 1;
            check(ok, "split ranges contiguous, covering, non-empty, balanced");
        }
    }
    // Nibbles: lowest first, no sign extension.
    check(o4j_w4_nibble(0xF0000000u, 7) == 15 && o4j_w4_nibble(0x0000000Au, 0) == 10 &&
          o4j_w4_nibble(0x87654321u, 3) == 4, "nibble order");

    std::mt19937 rng(42);
    struct Case { int m, k, n, g, sym, splits; };
    const Case cases[] = {
        {1, 64, 8, 32, 0, 1},   {1, 256, 136, 64, 1, 3}, {7, 384, 264, 128, 0, 5}, {3, 96, 40, 96, 0, 12},
        {9, 512, 200, 32, 1, 7}, {17, 1024, 24, 128, 0, 16}, {2, 8, 16, 8, 0, 1}, {5, 4096, 72, 4096, 0, 9},
    };
    int ncases = 0;
    double worst = 0;
    for (const Case& c : cases) {
        int m = c.m, k = c.k, n = c.n, g = c.g, splits = c.splits;
        if (g != k && g % 8 != 0) continue;
        int groups = k / g;
        std::vector<int> q(k * n), zz(groups * n);
        std::vector<float> s(groups * n), x(m * k);
        std::uniform_int_distribution<int> nib(0, 15);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        for (auto& v : q) v = nib(rng);
        for (auto& v : zz) v = c.sym ? 8 : nib(rng);
        for (auto& v : s) v = 0.01f * (1.0f + std::fabs(gauss(rng)));
        for (auto& v : x) v = gauss(rng);
        // Pack (GPTQ): qweight[r][j] nibble t = q[8r + t][j]; qzeros[gi][c] nibble t = z[gi][8c + t].
        std::vector<int32_t> qweight((k / 8) * n), qzeros(groups * (n / 8));
        for (int r = 0; r < k / 8; r++)
            for (int j = 0; j < n; j++) {
                uint32_t w = 0;
                for (int t = 0; t < 8; t++) w |= (uint32_t)q[(8 * r + t) * n + j] << (4 * t);
                qweight[r * n + j] = (int32_t)w;
            }
        for (int gi = 0; gi < groups; gi++)
            for (int cc = 0; cc < n / 8; cc++) {
                uint32_t w = 0;
                for (int t = 0; t < 8; t++) w |= (uint32_t)zz[gi * n + 8 * cc + t] << (4 * t);
                qzeros[gi * (n / 8) + cc] = (int32_t)w;
            }
        const int32_t* qz = c.sym ? nullptr : qzeros.data();
        // Stage 1 replay: every block (tile, split) → ws.
        int kWords = k / 8;
        std::vector<float> ws((size_t)splits * m * n, NAN);
        for (int z = 0; z < splits; z++) {
            int w0 = o4j_w4_split_begin(kWords, splits, z), w1 = o4j_w4_split_begin(kWords, splits, z + 1);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    float acc = 0.0f;
                    for (int r = w0; r < w1; r++) {
                        uint32_t word = (uint32_t)qweight[(long long)r * n + j];
                        int gi = o4j_w4_group(r, g);
                        float sc = s[gi * n + j];
                        int zp = o4j_w4_zero(qz, n, gi, j);
                        for (int t = 0; t < 8; t++)
                            acc = fmaf(x[i * k + 8 * r + t], (float)(o4j_w4_nibble(word, t) - zp) * sc, acc);
                    }
                    ws[o4j_w4_ws_index(m, n, z, i, j)] = acc;
                }
        }
        // Stage 2 replay and comparison.
        double num = 0, den = 0;
        bool allWritten = true;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float y = 0.0f;
                for (int z = 0; z < splits; z++) {
                    float v = ws[o4j_w4_ws_index(m, n, z, i, j)];
                    allWritten &= !std::isnan(v);
                    y += v;
                }
                double ref = 0;
                for (int kk = 0; kk < k; kk++)
                    ref += (double)x[i * k + kk] * (double)(q[kk * n + j] - zz[(kk / g) * n + j]) * s[(kk / g) * n + j];
                num += (y - ref) * (y - ref);
                den += ref * ref;
            }
        double err = std::sqrt(num / den);
        worst = err > worst ? err : worst;
        char msg[160];
        snprintf(msg, sizeof msg, "w4a16 m=%d k=%d n=%d g=%d sym=%d splits=%d rel L2 %.3g written %d", m, k, n, g, c.sym,
                 splits, err, (int)allWritten);
        check(err <= 1e-5 && allWritten, msg);
        ncases++;
    }
    // Act-order gather: the kernel's grid replayed thread by thread (gridDim.y smaller than m, so
    // the row loop runs), every element of x' checked bit for bit, nothing written past [m][k].
    struct GatherCase { int m, k, ldx, gridY; };
    const GatherCase gathers[] = {{1, 8, 8, 1}, {3, 128, 131, 2}, {7, 4096, 4100, 3}, {2, 24, 24, 2}, {5, 2056, 2056, 5}};
    int ngathers = 0;
    for (const GatherCase& c : gathers) {
        std::vector<int32_t> order(c.k);
        for (int r = 0; r < c.k; r++) order[r] = r;
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<uint16_t> x((size_t)c.m * c.ldx);
        std::uniform_int_distribution<int> bits(0, 0xFFFF);
        for (auto& v : x) v = (uint16_t)bits(rng);
        const int guard = 8;
        std::vector<uint16_t> out((size_t)c.m * c.k + guard, 0xDEAD);
        const int threads = 256;
        const long long blocksX = ((long long)c.k / 8 + threads - 1) / threads;
        for (int by = 0; by < c.gridY; by++)
            for (long long bx = 0; bx < blocksX; bx++)
                for (int tx = 0; tx < threads; tx++)
                    o4j_w4_gather_thread(x.data(), c.ldx, order.data(), out.data(), c.m, c.k, bx * threads + tx, by, c.gridY);
        bool ok = true;
        for (int i = 0; i < c.m; i++)
            for (int r = 0; r < c.k; r++)
                ok &= out[(size_t)i * c.k + r] == x[(size_t)i * c.ldx + order[r]];
        for (int t = 0; t < guard; t++) ok &= out[(size_t)c.m * c.k + t] == 0xDEAD;
        char msg[120];
        snprintf(msg, sizeof msg, "gather m=%d k=%d ldx=%d gridY=%d", c.m, c.k, c.ldx, c.gridY);
        check(ok, msg);
        ngathers++;
    }
    printf("w4a16_host_test: %d gather cases\n", ngathers);
    printf("w4a16_host_test: %d product cases, worst rel L2 %.3g, %d failures\n", ncases, worst, failures);
    return failures == 0 ? 0 : 1;
}
