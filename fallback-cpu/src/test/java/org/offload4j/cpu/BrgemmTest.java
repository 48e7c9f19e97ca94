package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.Bf16;

/**
 * {@link Brgemm} against a float64 reference on irregular sizes: every row tile (6, 5, 4, 3, 2,
 * 1 valid rows), every column strip (4, 2, 1 vectors and the scratch tail), batches of one and
 * several blocks at scattered offsets and strides, with and without accumulation, fp32 and bf16.
 * Error: relative L2 against the float64 sum, bound 1e-6·√k (fp32 rounding of k-term sums).
 */
class BrgemmTest {
    private static final int L = Brgemm.lanes();

    @ParameterizedTest(name = "m={0} n={1} kb={2} batch={3}")
    @CsvSource({"1,1,1,1", "1,7,17,1", "7,17,129,1", "17,129,7,3", "6,64,64,2", "8,32,33,4", "5,16,1,1", "13,100,31,2",
            "129,65,17,1", "3,48,256,2", "2,8,9,5", "64,64,128,2", "14,80,20,3"})
    void fp32MatchesFloat64(int m, int n, int kb, int batch) {
        long seed = 1000L * m + 31L * n + 7L * kb + batch;
        for (boolean accumulate : new boolean[] {false, true}) {
            Layout x = new Layout(m, n, kb, batch, seed);
            float[] c = x.c.clone();
            Brgemm.fp32(m, n, kb, batch, x.a, x.aOff, x.lda, x.b, x.bOff, x.ldb, c, x.cAt, x.ldc, accumulate);
            x.check(c, accumulate, null, null, seed);
        }
    }

    @ParameterizedTest(name = "m={0} n={1} kb={2} batch={3}")
    @CsvSource({"1,1,1,1", "7,17,129,1", "17,129,7,3", "8,64,33,4", "6,40,64,2", "129,17,17,1"})
    void bf16MatchesFloat64OnTheWidenedInputs(int m, int n, int kb, int batch) {
        long seed = 77L * m + n + kb;
        for (boolean accumulate : new boolean[] {false, true}) {
            Layout x = new Layout(m, n, kb, batch, seed);
            short[] ab = bf16(x.a);
            short[] bb = bf16(x.b);
            float[] c = x.c.clone();
            Brgemm.bf16(m, n, kb, batch, ab, x.aOff, x.lda, bb, x.bOff, x.ldb, c, x.cAt, x.ldc, accumulate);
            x.check(c, accumulate, ab, bb, seed);
        }
    }

    /** The driver's row blocks: whole register tiles, at most MC rows, ⌈m / MC⌉ of them, covering m. */
    @ParameterizedTest(name = "m = {0}")
    @ValueSource(ints = {1, 5, 6, 7, 95, 96, 97, 191, 192, 193, 383, 384, 385, 512, 769, 1000, 4096, 4099})
    void rowBlocksAreWholeTilesAndBalanced(int m) {
        int mc = Brgemm.rowBlock(m, 64, 2);
        int blocks = (m + mc - 1) / mc;
        assertEquals(0, mc % Brgemm.MR, "a whole number of register tiles");
        assertTrue(mc <= Brgemm.MC, "at most MC = " + Brgemm.MC + " rows, got " + mc);
        assertEquals((m + Brgemm.MC - 1) / Brgemm.MC, blocks, "as few blocks as MC allows");
        int last = m - (blocks - 1) * mc;
        assertTrue(last > 0 && mc - last < Brgemm.MR * blocks, "blocks of nearly equal height: " + mc + " and a last of " + last);
    }

    /** A narrow C (fewer panels than threads) is cut into more row blocks, so that every thread gets a task. */
    @ParameterizedTest(name = "m = {0}, {1} panel(s), {2} threads")
    @CsvSource({"200,1,2", "200,1,8", "300,3,8", "7,1,4", "1,1,2", "4096,1,16"})
    void narrowProductsStillFeedEveryThread(int m, int panels, int threads) {
        int mc = Brgemm.rowBlock(m, panels, threads);
        int tasks = (m + mc - 1) / mc * panels;
        int tiles = (m + Brgemm.MR - 1) / Brgemm.MR;
        assertTrue(tasks >= Math.min(threads, tiles * panels), tasks + " tasks for " + threads + " threads");
        assertEquals(0, mc % Brgemm.MR, "a whole number of register tiles");
        assertTrue(mc <= Brgemm.MC && mc * ((m + mc - 1) / mc) >= m, "blocks of at most MC rows covering m");
    }

    @ParameterizedTest(name = "{0}x{1}x{2}")
    @CsvSource({"1,1,1", "7,17,129", "17,129,7", "129,129,300", "96,64,256", "200,70,513", "401,70,300", "777,33,65"})
    void gemmDriverMatchesFloat64(int m, int n, int k) {
        SplittableRandom rnd = new SplittableRandom(m * 131L + n * 7L + k);
        float[] a = gaussian(rnd, m * k);
        float[] b = gaussian(rnd, k * n);
        float[] c = new float[m * n];
        java.util.Arrays.fill(c, Float.NaN);
        Brgemm.gemm(m, n, k, a, b, c);
        assertClose(reference(m, n, k, a, b), c, k, "fp32 " + m + "x" + n + "x" + k);
        short[] ab = bf16(a);
        short[] bb = bf16(b);
        java.util.Arrays.fill(c, Float.NaN);
        Brgemm.gemmBf16(m, n, k, ab, bb, c);
        assertClose(reference(m, n, k, widen(ab), widen(bb)), c, k, "bf16 " + m + "x" + n + "x" + k);
    }

    @Test
    void rowTilesCoverEveryRowOnceWithFewPasses() {
        for (int m = 1; m <= 40; m++) {
            int covered = 0;
            for (int[] t : Brgemm.rowTiles(m)) {
                assertTrue(t[1] >= 1 && t[1] <= t[0], "m = " + m);
                covered += t[1];
            }
            assertEquals(m, covered, "m = " + m);
        }
        assertArrayEquals(new int[][] {{4, 4}, {4, 4}}, Brgemm.rowTiles(8));
        assertArrayEquals(new int[][] {{1, 1}}, Brgemm.rowTiles(1));
        if (Brgemm.MR == 6) { // 32 vector registers (AVX-512)
            assertArrayEquals(new int[][] {{6, 6}, {6, 6}}, Brgemm.rowTiles(12));
            assertArrayEquals(new int[][] {{6, 6}, {4, 4}, {4, 3}}, Brgemm.rowTiles(13));
        } else {
            assertEquals(4, Brgemm.MR);
            assertArrayEquals(new int[][] {{4, 4}, {4, 4}, {4, 4}}, Brgemm.rowTiles(12));
            assertArrayEquals(new int[][] {{4, 4}, {4, 4}, {4, 4}, {1, 1}}, Brgemm.rowTiles(13));
            assertArrayEquals(new int[][] {{4, 4}, {4, 3}}, Brgemm.rowTiles(7));
        }
    }

    @Test
    void gemmRejectsBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> Brgemm.gemm(0, 1, 1, new float[1], new float[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> Brgemm.gemm(2, 2, 2, new float[3], new float[4], new float[4]));
    }

    @Test
    void gemmRateIsPositiveAndBadArgumentsAreRejected() {
        assertTrue(Brgemm.gemmFlopsPerSecond(17, 0, 1) > 0);
        assertThrows(IllegalArgumentException.class, () -> Brgemm.gemmFlopsPerSecond(64, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> Brgemm.gemmFlopsPerSecond(0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> Brgemm.gemmFlopsPerSecond(64, -1, 1));
    }

    /**
     * The tiles must not lose their speed once both values of {@code accumulate} have been seen:
     * that is how every caller uses them (first k slice clears, the rest add). Interleaves the two
     * and checks each result against the other path's arithmetic; the speed itself is a benchmark.
     */
    @Test
    void accumulateAndOverwriteInterleavedGiveTheSameSums() {
        int m = 13;
        int n = 3 * L + 3;
        int kb = 40;
        float[] a = new float[m * 2 * kb];
        float[] b = new float[2 * kb * n];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) rnd.nextGaussian();
        }
        float[] twoCalls = new float[m * n];
        java.util.Arrays.fill(twoCalls, Float.NaN);
        Brgemm.fp32(m, n, kb, 1, a, new int[] {0}, 2 * kb, b, new int[] {0}, n, twoCalls, 0, n, false);
        Brgemm.fp32(m, n, kb, 1, a, new int[] {kb}, 2 * kb, b, new int[] {kb * n}, n, twoCalls, 0, n, true);
        float[] oneBatch = new float[m * n];
        java.util.Arrays.fill(oneBatch, Float.NaN);
        Brgemm.fp32(m, n, kb, 2, a, new int[] {0, kb}, 2 * kb, b, new int[] {0, kb * n}, n, oneBatch, 0, n, false);
        assertArrayEquals(oneBatch, twoCalls, "a batch of two blocks and two calls add in the same order");
    }

    @Test
    void bf16WideningIsExact() {
        short[] s = new short[3 * L + 5];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < s.length; i++) {
            s[i] = (short) rnd.nextInt(1 << 16);
        }
        float[] f = new float[s.length + 2];
        Brgemm.widen(s, 1, f, 2, s.length - 1);
        for (int i = 1; i < s.length; i++) {
            assertEquals(Float.floatToRawIntBits(Float.intBitsToFloat(s[i] << 16)), Float.floatToRawIntBits(f[i + 1]), "i = " + i);
        }
    }

    /** Blocks at scattered offsets with strides wider than the blocks, C inside a larger array. */
    private static final class Layout {
        final int m, n, kb, batch, lda, ldb, ldc, cAt;
        final int[] aOff, bOff;
        final float[] a, b, c;

        Layout(int m, int n, int kb, int batch, long seed) {
            SplittableRandom rnd = new SplittableRandom(seed);
            this.m = m;
            this.n = n;
            this.kb = kb;
            this.batch = batch;
            lda = kb + 3;
            ldb = n + 5;
            ldc = n + 2;
            cAt = 11;
            aOff = new int[batch];
            bOff = new int[batch];
            int aLen = 0;
            int bLen = 0;
            for (int i = 0; i < batch; i++) {
                // Blocks in reverse order with gaps: the kernel must follow the offsets.
                aOff[batch - 1 - i] = aLen + 2;
                aLen += 2 + m * lda;
                bOff[batch - 1 - i] = bLen + 1;
                bLen += 1 + kb * ldb;
            }
            a = gaussian(rnd, aLen);
            b = gaussian(rnd, bLen);
            c = gaussian(rnd, cAt + m * ldc + 3);
        }

        void check(float[] got, boolean accumulate, short[] ab, short[] bb, long seed) {
            float[] av = ab == null ? a : widen(ab);
            float[] bv = bb == null ? b : widen(bb);
            double num = 0;
            double den = 0;
            for (int r = 0; r < m; r++) {
                for (int j = 0; j < n; j++) {
                    double s = accumulate ? c[cAt + r * ldc + j] : 0;
                    for (int i = 0; i < batch; i++) {
                        for (int kk = 0; kk < kb; kk++) {
                            s += (double) av[aOff[i] + r * lda + kk] * bv[bOff[i] + kk * ldb + j];
                        }
                    }
                    double d = got[cAt + r * ldc + j] - s;
                    num += d * d;
                    den += s * s;
                }
            }
            double err = Math.sqrt(num / Math.max(den, 1e-300));
            assertTrue(err <= 1e-6 * Math.sqrt(kb * batch + 1), "seed " + seed + ": rel. L2 " + err + " (accumulate " + accumulate + ")");
            // Everything outside C's m × n window is untouched.
            for (int i = 0; i < got.length; i++) {
                int r = (i - cAt) / ldc;
                int j = (i - cAt) % ldc;
                boolean inside = i >= cAt && r < m && j < n;
                if (!inside) {
                    assertEquals(c[i], got[i], "seed " + seed + ": element " + i + " outside C was written");
                }
            }
        }
    }

    private static double[] reference(int m, int n, int k, float[] a, float[] b) {
        double[] c = new double[m * n];
        for (int r = 0; r < m; r++) {
            for (int kk = 0; kk < k; kk++) {
                double x = a[r * k + kk];
                for (int j = 0; j < n; j++) {
                    c[r * n + j] += x * b[kk * n + j];
                }
            }
        }
        return c;
    }

    private static void assertClose(double[] ref, float[] got, int k, String what) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + ": element " + i + " not written");
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        double err = Math.sqrt(num / den);
        assertTrue(err <= 1e-6 * Math.sqrt(k), what + ": rel. L2 " + err);
    }

    private static float[] gaussian(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /** Round to nearest even bf16 bit patterns. */
    private static short[] bf16(float[] x) {
        short[] s = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            s[i] = Bf16.fromFloat(x[i]);
        }
        return s;
    }

    private static float[] widen(short[] s) {
        float[] x = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            x[i] = Bf16.toFloat(s[i]);
        }
        return x;
    }
}
