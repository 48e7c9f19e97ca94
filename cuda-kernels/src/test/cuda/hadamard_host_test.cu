// Host test of the Hadamard kernel's index arithmetic (hadamard_index.cuh), no GPU needed.
// Built and run by build-fatbin.sh host-tests (nvcc -x cu, host code only) and by
// CudaHostProgramsTest, which passes Java's HadamardMatrices.of(m) in a file.
//
//   hadamard_host_test [matrices.txt]
//
// matrices.txt: one line per m ∈ {12, 20, 28, 40}: "m h00 h01 … h(m−1)(m−1)" (row-major ±1). Without
// the file the matrices are built here by the construction HadamardMatrices documents (Paley I for
// q = 11 and 19, Paley II for q = 13, H_40 = H_2 ⊗ H_20), and the run checks that each is Hadamard.
//
// The kernel's per-row algorithm is replayed serially with the very same helpers (every thread's
// loop iterations in order, a barrier being the end of a loop), for every accepted d, both
// directions, with and without sign vectors, and compared with
//   d ≤ 4096: the dense product Σ_i x[i]·H_d[i][j] in double, H_d[i][j] = H_m[i/n][j/n]·(−1)^popcount(i%n & j%n)
//   d > 4096: a float64 transform (textbook FWHT per block, then H_m across blocks)
// Pass: relative L2 error ≤ 1e-6 (fp32 arithmetic). Exit status 0 when every case passes.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "hadamard_index.cuh"

static std::map<int, std::vector<float>> matrices;

static int chi(int x, int q) {
    int r = ((x % q) + q) % q;
    if (r == 0) return 0;
    for (int y = 1; y < q; y++) if (y * y % q == r) return 1;
    return -1;
}

static std::vector<int> core(int q, int columnSign) {
    int s = q + 1;
    std::vector<int> c(s * s, 0);
    for (int i = 1; i <= q; i++) {
        c[0 * s + i] = 1;
        c[i * s + 0] = columnSign;
        for (int j = 1; j <= q; j++) c[i * s + j] = chi((i - 1) - (j - 1), q);
    }
    return c;
}

static std::vector<int> paleyI(int q) {
    std::vector<int> h = core(q, -1);
    for (int i = 0; i <= q; i++) h[i * (q + 1) + i] += 1;
    return h;
}

static std::vector<int> paleyII(int q) {
    int s = q + 1;
    std::vector<int> c = core(q, 1);
    std::vector<int> h(4 * s * s);
    for (int r = 0; r < s; r++)
        for (int cc = 0; cc < s; cc++) {
            int v = c[r * s + cc];
            int blk[2][2];
            if (v == 0) { blk[0][0] = 1; blk[0][1] = -1; blk[1][0] = -1; blk[1][1] = -1; }
            else { blk[0][0] = v; blk[0][1] = v; blk[1][0] = v; blk[1][1] = -v; }
            for (int u = 0; u < 2; u++)
                for (int w = 0; w < 2; w++) h[(2 * r + u) * (2 * s) + 2 * cc + w] = blk[u][w];
        }
    return h;
}

static std::vector<float> toFloat(const std::vector<int>& v) { return std::vector<float>(v.begin(), v.end()); }

static void buildMatrices() {
    matrices[12] = toFloat(paleyI(11));
    matrices[20] = toFloat(paleyI(19));
    matrices[28] = toFloat(paleyII(13));
    std::vector<int> h20 = paleyI(19), h40(1600);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 20; i++)
                for (int j = 0; j < 20; j++)
                    h40[(a * 20 + i) * 40 + b * 20 + j] = ((a & b) ? -1 : 1) * h20[i * 20 + j];
    matrices[40] = toFloat(h40);
}

static bool readMatrices(const char* path) {
    FILE* f = fopen(path, "r");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return false; }
    int m;
    while (fscanf(f, "%d", &m) == 1) {
        std::vector<float> h(m * m);
        for (int t = 0; t < m * m; t++) {
            int v;
            if (fscanf(f, "%d", &v) != 1) { fclose(f); return false; }
            h[t] = (float)v;
        }
        matrices[m] = h;
    }
    fclose(f);
    return matrices.size() == 4;
}

static int failures = 0;

static void check(bool ok, const char* what, int d) {
    if (!ok) { failures++; if (failures < 20) fprintf(stderr, "FAIL %s (d=%d)\n", what, d); }
}

// The kernel's row algorithm, serially. row has d floats (already multiplied by preSigns).
static void kernelRow(float* row, const float* hm, int d, int m, int log2n, int transpose) {
    int n = 1 << log2n;
    for (int h = 1; h < n; h <<= 1)
        for (int p = 0; p < d / 2; p++) o4j_hd_butterfly(row, p, h);
    for (int b = 0; b < n; b++) {
        switch (m) {
            case 12: o4j_hd_cross<12>(row, hm, n, b, transpose); break;
            case 20: o4j_hd_cross<20>(row, hm, n, b, transpose); break;
            case 28: o4j_hd_cross<28>(row, hm, n, b, transpose); break;
            case 40: o4j_hd_cross<40>(row, hm, n, b, transpose); break;
            default: break;
        }
    }
}

static int mFor(int d) {  // HadamardSize.blockCount
    int odd = d;
    while ((odd & 1) == 0) odd >>= 1;
    switch (odd) {
        case 1: return 1;
        case 3: return d % 12 == 0 ? 12 : 0;
        case 7: return d % 28 == 0 ? 28 : 0;
        case 5: return d % 40 == 0 ? 40 : (d == 20 ? 20 : 0);
        default: return 0;
    }
}

int main(int argc, char** argv) {
    if (argc > 1) {
        if (!readMatrices(argv[1])) { fprintf(stderr, "bad matrix file %s\n", argv[1]); return 2; }
        printf("hadamard_host_test: H_m from %s\n", argv[1]);
    } else {
        buildMatrices();
        printf("hadamard_host_test: H_m built here\n");
    }
    // Each H_m is ±1 with H·Hᵀ = m·I.
    for (auto& e : matrices) {
        int m = e.first;
        const std::vector<float>& h = e.second;
        bool ok = true;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                int s = 0;
                for (int t = 0; t < m; t++) s += (int)h[i * m + t] * (int)h[j * m + t];
                ok &= s == (i == j ? m : 0);
                ok &= h[i * m + j] == 1.0f || h[i * m + j] == -1.0f;
            }
        check(ok, "H_m is a Hadamard matrix", m);
    }
    // Butterfly pairs of every round cover the row exactly once and stay inside n-blocks.
    for (int log2n = 1; log2n <= 15; log2n++) {
        int n = 1 << log2n;
        for (int mm : {1, 12, 28}) {
            int d = mm * n;
            if (d > 32768) continue;
            std::vector<int> seen(d);
            for (int h = 1; h < n; h <<= 1) {
                std::fill(seen.begin(), seen.end(), 0);
                bool ok = true;
                for (int p = 0; p < d / 2; p++) {
                    int i, j;
                    o4j_hd_pair(p, h, &i, &j);
                    ok &= i >= 0 && j < d && j == i + h && i / n == j / n;
                    seen[i]++; seen[j]++;
                }
                for (int t = 0; t < d; t++) ok &= seen[t] == 1;
                check(ok, "butterfly pairs partition the row", d);
            }
        }
    }
    std::mt19937 rng(1234);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    int cases = 0;
    double worst = 0;
    for (int d = 2; d <= 32768; d++) {
        int m = mFor(d);
        if (m == 0) continue;
        int n = d / m, log2n = 0;
        while ((1 << log2n) < n) log2n++;
        if (o4j_hd_smem_bytes(d, m) != 4 * d + (m > 1 ? 4 * m * m : 0)) check(false, "smem bytes", d);
        const float* hm = m > 1 ? matrices[m].data() : nullptr;
        for (int variant = 0; variant < 4; variant++) {
            int transpose = variant & 1;
            bool signs = (variant & 2) != 0;
            std::vector<float> x(d), pre(d), post(d), row(d);
            for (int i = 0; i < d; i++) {
                x[i] = gauss(rng);
                pre[i] = (rng() & 1) ? 1.0f : -1.0f;
                post[i] = (rng() & 1) ? 1.0f : -1.0f;
            }
            float scale = 1.0f / std::sqrt((float)d);
            for (int i = 0; i < d; i++) row[i] = signs ? x[i] * pre[i] : x[i];
            kernelRow(row.data(), hm, d, m, log2n, transpose);
            for (int i = 0; i < d; i++) row[i] = signs ? scale * row[i] * post[i] : scale * row[i];
            // float64 expectation
            std::vector<double> u(d), ref(d);
            for (int i = 0; i < d; i++) u[i] = signs ? (double)x[i] * pre[i] : x[i];
            if (d <= 4096) {
                for (int j = 0; j < d; j++) {
                    double s = 0;
                    for (int i = 0; i < d; i++) {
                        int a = i / n, b = i % n, ao = j / n, bo = j % n;
                        double hmv = m == 1 ? 1.0 : (transpose ? matrices[m][ao * m + a] : matrices[m][a * m + ao]);
                        int sy = (__builtin_popcount(b & bo) & 1) ? -1 : 1;
                        s += u[i] * hmv * sy;  // transposed: H_dᵀ[i][j] = H_d[j][i]; Sylvester part symmetric
                    }
                    ref[j] = s;
                }
            } else {
                for (int a = 0; a < m; a++)
                    for (int h = 1; h < n; h *= 2)
                        for (int i = a * n; i < a * n + n; i += 2 * h)
                            for (int j = i; j < i + h; j++) {
                                double p = u[j], q = u[j + h];
                                u[j] = p + q;
                                u[j + h] = p - q;
                            }
                for (int ao = 0; ao < m; ao++)
                    for (int b = 0; b < n; b++) {
                        double s = 0;
                        for (int a = 0; a < m; a++)
                            s += (m == 1 ? 1.0 : (transpose ? matrices[m][ao * m + a] : matrices[m][a * m + ao])) * u[a * n + b];
                        ref[ao * n + b] = s;
                    }
            }
            double num = 0, den = 0;
            for (int j = 0; j < d; j++) {
                double r = scale * ref[j] * (signs ? post[j] : 1.0f);
                num += (row[j] - r) * (row[j] - r);
                den += r * r;
            }
            double err = std::sqrt(num / den);
            if (err > worst) worst = err;
            if (!(err <= 1e-6)) {
                char msg[128];
                snprintf(msg, sizeof msg, "transform m=%d transpose=%d signs=%d rel L2 %.3g", m, transpose, (int)signs, err);
                check(false, msg, d);
            }
            cases++;
        }
    }
    printf("hadamard_host_test: %d transform cases, worst rel L2 %.3g, %d failures\n", cases, worst, failures);
    return failures == 0 ? 0 : 1;
}
