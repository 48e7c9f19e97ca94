package org.offload4j.cpu;

import java.util.Arrays;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A plain fp32 GEMM with the Vector API: the yardstick for the CPU kernels' FLOP rates ("what
 * does this JVM reach on this machine, now, on a well-blocked matrix product").
 *
 * <p><b>Kernel.</b> {@code C = A·B}, row-major {@code float[]}s. B is packed once into panels of
 * {@code 2·L} columns ({@code L} floats per vector), {@code [n/2L][k][2L]}, so the inner loop
 * reads it contiguously. The register block is 4 rows of C × 2 vectors: 8 accumulators, and per
 * step of k two loads of B, four broadcasts of A and 8 FMAs (12 accumulators spill on AVX2). Cache blocking, GotoBLAS style:
 * k is cut into slices of 256 and the rows into blocks of 96, so a 96 × 256 block of A (96 KiB)
 * stays in L2 while the thread's panels pass under it, and a panel slice (256 · 2L floats,
 * 16 KiB at L = 8) stays in L1 while the 24 row blocks of 4 use it. Panels are spread over the
 * {@link CpuThreads} pool. The register block is the one of the attention kernel's PV product,
 * so the comparison is like for like.
 *
 * <p>Not a BLAS: no A packing, no edge tuning, fp32 accumulation in k order.
 */
public final class VectorGemmProbe {
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    private static final int L = F.length();
    private static final int ROWS = 4;
    private static final int PANEL = 2 * L;
    private static final int K_SLICE = 256;
    private static final int M_BLOCK = 96;

    private VectorGemmProbe() {}

    /**
     * The median FLOP rate ({@code 2·n³} per run) of an {@code n × n × n} product,
     * {@code n = 1024}, over 7 timed runs after 3 warm-up runs.
     */
    public static double flopsPerSecond() {
        return flopsPerSecond(1024, 3, 7);
    }

    /**
     * The median FLOP rate of {@code runs} timed {@code size³} products after {@code warmups}
     * untimed ones, on seeded N(0, 1) inputs.
     *
     * @param size a positive multiple of {@link #columnMultiple()}
     */
    public static double flopsPerSecond(int size, int warmups, int runs) {
        if (runs < 1 || warmups < 0) {
            throw new IllegalArgumentException("runs = " + runs + " must be ≥ 1 and warmups = " + warmups + " ≥ 0");
        }
        float[] a = random(size * size, 1);
        float[] b = random(size * size, 2);
        float[] c = new float[size * size];
        for (int i = 0; i < warmups; i++) {
            multiply(a, b, c, size, size, size);
        }
        double[] seconds = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            multiply(a, b, c, size, size, size);
            seconds[i] = (System.nanoTime() - t0) * 1e-9;
        }
        Arrays.sort(seconds);
        return 2.0 * size * size * (double) size / seconds[runs / 2];
    }

    /** The multiple {@code n} must be of: two float vectors. */
    public static int columnMultiple() {
        return PANEL;
    }

    /**
     * {@code c[m×n] = a[m×k] · b[k×n]}, all row-major; {@code c} is overwritten.
     *
     * @throws IllegalArgumentException when a size is not positive, {@code n} is not a multiple
     *                                  of {@link #columnMultiple()}, or an array is too short
     */
    public static void multiply(float[] a, float[] b, float[] c, int m, int n, int k) {
        if (m < 1 || n < 1 || k < 1 || n % PANEL != 0) {
            throw new IllegalArgumentException("sizes m = " + m + ", n = " + n + ", k = " + k
                    + " must be positive with n a multiple of " + PANEL);
        }
        if (a.length < (long) m * k || b.length < (long) k * n || c.length < (long) m * n) {
            throw new IllegalArgumentException("arrays hold " + a.length + ", " + b.length + ", " + c.length
                    + " floats; need " + (long) m * k + ", " + (long) k * n + ", " + (long) m * n);
        }
        int panels = n / PANEL;
        float[] packed = new float[k * n];
        for (int p = 0; p < panels; p++) {
            for (int kk = 0; kk < k; kk++) {
                System.arraycopy(b, kk * n + p * PANEL, packed, (p * k + kk) * PANEL, PANEL);
            }
        }
        CpuThreads.forRange(panels, 1, (from, to) -> {
            for (int k0 = 0; k0 < k; k0 += K_SLICE) {
                int k1 = Math.min(k, k0 + K_SLICE);
                for (int m0 = 0; m0 < m; m0 += M_BLOCK) {
                    int m1 = Math.min(m, m0 + M_BLOCK);
                    for (int p = (int) from; p < to; p++) {
                        int i = m0;
                        for (; i + ROWS <= m1; i += ROWS) {
                            block4(a, packed, c, i, p, k0, k1, n, k);
                        }
                        for (; i < m1; i++) {
                            block1(a, packed, c, i, p, k0, k1, n, k);
                        }
                    }
                }
            }
        });
    }

    /**
     * Rows i..i+3 of C, one panel, k in [k0, k1): 8 accumulators. (Six rows, 12 accumulators,
     * make C2 spill two of them to the stack on AVX2's 16 registers, which halves the rate.)
     */
    private static void block4(float[] a, float[] packed, float[] c, int i, int p, int k0, int k1, int n, int k) {
        int c0 = i * n + p * PANEL;
        boolean first = k0 == 0;
        FloatVector c00 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0);
        FloatVector c01 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + L);
        FloatVector c10 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + n);
        FloatVector c11 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + n + L);
        FloatVector c20 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + 2 * n);
        FloatVector c21 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + 2 * n + L);
        FloatVector c30 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + 3 * n);
        FloatVector c31 = first ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + 3 * n + L);
        int a0 = i * k;
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        int b0 = p * k * PANEL;
        for (int kk = k0; kk < k1; kk++) {
            FloatVector x0 = FloatVector.fromArray(F, packed, b0 + kk * PANEL);
            FloatVector x1 = FloatVector.fromArray(F, packed, b0 + kk * PANEL + L);
            FloatVector y = FloatVector.broadcast(F, a[a0 + kk]);
            c00 = x0.fma(y, c00);
            c01 = x1.fma(y, c01);
            y = FloatVector.broadcast(F, a[a1 + kk]);
            c10 = x0.fma(y, c10);
            c11 = x1.fma(y, c11);
            y = FloatVector.broadcast(F, a[a2 + kk]);
            c20 = x0.fma(y, c20);
            c21 = x1.fma(y, c21);
            y = FloatVector.broadcast(F, a[a3 + kk]);
            c30 = x0.fma(y, c30);
            c31 = x1.fma(y, c31);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + n);
        c11.intoArray(c, c0 + n + L);
        c20.intoArray(c, c0 + 2 * n);
        c21.intoArray(c, c0 + 2 * n + L);
        c30.intoArray(c, c0 + 3 * n);
        c31.intoArray(c, c0 + 3 * n + L);
    }

    private static void block1(float[] a, float[] packed, float[] c, int i, int p, int k0, int k1, int n, int k) {
        int c0 = i * n + p * PANEL;
        FloatVector s0 = k0 == 0 ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0);
        FloatVector s1 = k0 == 0 ? FloatVector.zero(F) : FloatVector.fromArray(F, c, c0 + L);
        for (int kk = k0; kk < k1; kk++) {
            int bo = (p * k + kk) * PANEL;
            FloatVector x = FloatVector.broadcast(F, a[i * k + kk]);
            s0 = FloatVector.fromArray(F, packed, bo).fma(x, s0);
            s1 = FloatVector.fromArray(F, packed, bo + L).fma(x, s1);
        }
        s0.intoArray(c, c0);
        s1.intoArray(c, c0 + L);
    }

    private static float[] random(int count, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
