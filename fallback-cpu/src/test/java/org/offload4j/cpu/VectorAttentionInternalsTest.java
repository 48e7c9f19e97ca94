package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.Fp8;

/** The kernel's building blocks: the vector fp8 decode and exp2. */
class VectorAttentionInternalsTest {
    private static final int L = VectorAttentionKernel.L;

    @Test
    void vectorDecodeMatchesTheScalarTableForAll256Codes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(256);
            for (int b = 0; b < 256; b++) {
                seg.set(ValueLayout.JAVA_BYTE, b, (byte) b);
            }
            float[] rows = new float[256];
            VectorAttentionKernel.decodeRows(seg, 0, 256, 1, 256, rows);
            float[] strips = new float[256];
            VectorAttentionKernel.decodeStrips(seg, 0, 64, 4, 64, 4, strips); // 4 rows of 64 codes, bk = 4
            int strip = 2 * L;
            for (int b = 0; b < 256; b++) {
                float want = Fp8.e4m3ToFloat((byte) b);
                assertSameFloat(want, rows[b], "code " + b + " (rows)");
                int j = b / 64;
                int c = b % 64;
                // The strips are raw, × 2^−120, and leave NaN codes finite (S.1111.111 reads as ±480);
                // nanColumns puts the NaNs in.
                float wantStrip = (Float.isNaN(want) ? Math.copySign(480f, (byte) b) : want) * 0x1p-120f;
                assertSameFloat(wantStrip, strips[(c / strip) * 4 * strip + j * strip + c % strip], "code " + b + " (strips)");
            }
        }
    }

    /**
     * The V-strip decode reports whether its tile held a NaN code: every code at several
     * positions of 3 rows of d bytes (the gaps between rows hold NaN codes, which must not count).
     * The fused kernels accumulate the same flag from the same bytes.
     */
    @Test
    void stripDecodeFindsEachNanCodeAtEveryPositionAndNothingElse() {
        int rowBytes = 263;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(3L * rowBytes);
            float[] strips = new float[3 * 256];
            for (int d : new int[] {64, 128, 256}) {
                for (int b = 0; b < 256; b++) {
                    boolean nan = (b & 0x7F) == 0x7F;
                    for (int at : new int[] {0, d / 2 + 1, d - 1, rowBytes + 5, 2 * rowBytes + d - 1}) {
                        seg.fill((byte) 0x7E); // 448, the largest finite code
                        for (int j = 0; j < 3; j++) {
                            seg.asSlice((long) j * rowBytes + d, rowBytes - d).fill((byte) 0x7F); // NaN in the gaps
                        }
                        seg.set(ValueLayout.JAVA_BYTE, at, (byte) b);
                        assertEquals(nan, VectorAttentionKernel.decodeStrips(seg, 0, rowBytes, 3, d, 3, strips),
                                "code " + b + " at " + at + ", d = " + d);
                    }
                }
            }
        }
    }

    private static void assertSameFloat(float want, float got, String what) {
        if (Float.isNaN(want)) {
            assertTrue(Float.isNaN(got), what + ": expected NaN, got " + got);
        } else {
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got), what + ": expected " + want + ", got " + got);
        }
    }

    /**
     * The 16-accumulator blocks (AVX-512) give the bits of two 8-accumulator blocks side by side:
     * the same FMAs per element in the same order. At any vector width, on seeded N(0, 1) data, with
     * a second strip and key tile that start past the first (BK = 32 keys, D = 128).
     */
    @Test
    void wideBlocksGiveTheBitsOfTwoNarrowOnes() {
        int bq = VectorAttentionKernel.BQ;
        int d = 128;
        int bk = 32;
        int strip = 2 * L;
        java.util.Random random = new java.util.Random(20261205);
        float[] qt = gaussian(random, d * bq);
        float[] kt = gaussian(random, bk * d);
        float[] wide = new float[bk * bq];
        float[] narrow = new float[bk * bq];
        for (int j = 0; j + 4 <= bk; j += 4) {
            VectorAttentionKernel.scoreBlock4x4(qt, kt, wide, j, 0, d);
            VectorAttentionKernel.scoreBlock2x4(qt, kt, narrow, j, 0, d);
            VectorAttentionKernel.scoreBlock2x4(qt, kt, narrow, j, 2 * L, d);
        }
        assertArrayEquals(narrow, wide, "scores: 4 × 4 against two 2 × 4 blocks");
        assertTrue(wide[5 * bq + 3 * L + 1] != 0f, "the block wrote its last query vector");

        float[] vt = gaussian(random, d * bk);
        float[] st = gaussian(random, bk * bq);
        float[] alpha = gaussian(random, bq);
        float[] accWide = gaussian(random, bq * d);
        float[] accNarrow = accWide.clone();
        int c = strip * 2;                       // the second pair of strips
        int strip0 = c / strip * bk * strip;
        for (int i = 0; i + 4 <= 12; i += 4) {  // rows 0–11 of 64
            VectorAttentionKernel.pvBlock4x4(accWide, vt, st, alpha, i, c, strip0, strip0 + bk * strip, bk, d);
            VectorAttentionKernel.pvBlock4x2(accNarrow, vt, st, alpha, i, c, strip0, bk, d);
            VectorAttentionKernel.pvBlock4x2(accNarrow, vt, st, alpha, i, c + strip, strip0 + bk * strip, bk, d);
        }
        assertArrayEquals(accNarrow, accWide, "PV: 4 rows × two strips against two 4 × 2 blocks");
    }

    private static float[] gaussian(java.util.Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    @Test
    void exp2IsAccurateAndZeroBelowMinus127() {
        float[] xs = new float[L];
        float[] ys = new float[L];
        double worst = 0;
        for (int n = 0; n <= 13_000; n += L) {
            for (int i = 0; i < L; i++) {
                xs[i] = -(n + i) * 0.01f;
            }
            VectorAttentionKernel.exp2(FloatVector.fromArray(VectorAttentionKernel.F, xs, 0)).intoArray(ys, 0);
            for (int i = 0; i < L; i++) {
                double want = Math.pow(2, xs[i]);
                if (xs[i] >= -126) {
                    double rel = Math.abs(ys[i] - want) / want;
                    worst = Math.max(worst, rel);
                    assertTrue(rel <= 4e-7, "2^" + xs[i] + " = " + ys[i] + ", want " + want + " (relative error " + rel + ")");
                } else if (xs[i] < -127.5) {
                    assertEquals(0f, ys[i], "2^" + xs[i]);
                } else {
                    assertTrue(Math.abs(ys[i] - want) <= 0x1p-126, "2^" + xs[i] + " = " + ys[i]);
                }
            }
        }
        float[] special = new float[L];
        special[0] = Float.NEGATIVE_INFINITY;
        special[1 % L] = -1000f;
        special[2 % L] = 0f;
        VectorAttentionKernel.exp2(FloatVector.fromArray(VectorAttentionKernel.F, special, 0)).intoArray(ys, 0);
        assertEquals(0f, ys[0]);
        assertEquals(1f, ys[2 % L]);
        assertTrue(worst < 4e-7);
    }
    /** The α of the row softmax comes from the scalar exp2: it must give each lane's bits of the vector one. */
    @Test
    void scalarExp2GivesTheBitsOfTheVectorLanes() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        float[] xs = new float[L];
        float[] ys = new float[L];
        float[] special = {Float.NEGATIVE_INFINITY, -0f, 0f, -127f, -127.5f, -126.99f, -0.5f, -1e-30f, Float.NaN, -200f};
        for (int n = 0; n < 20_000; n++) {
            for (int i = 0; i < L; i++) {
                xs[i] = n % 1000 < special.length ? special[(n + i) % special.length] : (float) random.nextDouble(-140, 0);
            }
            VectorAttentionKernel.exp2(FloatVector.fromArray(VectorAttentionKernel.F, xs, 0)).intoArray(ys, 0);
            for (int i = 0; i < L; i++) {
                assertEquals(Float.floatToIntBits(ys[i]), Float.floatToIntBits(VectorAttentionKernel.exp2(xs[i])), "2^" + xs[i]);
            }
        }
    }

    /**
     * The row softmax of the decode step runs its four rows together (rows past {@code rows}
     * aliasing the last); each row must get the bits of the same steps run on that row alone:
     * max, p = 2^(s − base) stored × 2^120, l = α·l + Σ p, m, α. Tiles of 1, 17 and 64 keys, a
     * first tile (m = −∞) and a second one with a larger and a smaller max.
     */
    @Test
    void rowSoftmaxGivesEachRowTheBitsOfOneRowAlone() {
        int bq = VectorAttentionKernel.BQ;
        java.util.SplittableRandom random = new java.util.SplittableRandom(11);
        for (int rows = 1; rows <= 4; rows++) {
            for (int n : new int[] {1, 17, 64}) {
                VectorAttentionKernel.Scratch s = new VectorAttentionKernel.Scratch(128, 32);
                java.util.Arrays.fill(s.m, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(s.l, 0f);
                float[] m = new float[rows];
                float[] l = new float[rows];
                java.util.Arrays.fill(m, Float.NEGATIVE_INFINITY);
                for (int tile = 0; tile < 3; tile++) {
                    float[][] want = new float[rows][];
                    for (int r = 0; r < rows; r++) {
                        for (int j = 0; j < n; j++) {
                            s.st[r * bq + j] = (float) random.nextDouble(-30, 30) + (tile == 1 ? 8 : 0);
                        }
                        if (tile == 2 && r == 0 || tile == 0 && r == 1) {
                            // a row that sees none of this tile: after finite ones, and before any (m stays −∞, base 0)
                            java.util.Arrays.fill(s.st, r * bq, r * bq + n, Float.NEGATIVE_INFINITY);
                        }
                        want[r] = java.util.Arrays.copyOfRange(s.st, r * bq, r * bq + n);
                    }
                    VectorAttentionKernel.softmaxRows(s, n, rows);
                    for (int r = 0; r < rows; r++) {
                        float[] row = java.util.Arrays.copyOf(want[r], (n + L - 1) / L * L);
                        java.util.Arrays.fill(row, n, row.length, Float.NEGATIVE_INFINITY);
                        FloatVector max = FloatVector.broadcast(VectorAttentionKernel.F, Float.NEGATIVE_INFINITY);
                        for (int v = 0; v < row.length; v += L) {
                            max = max.max(FloatVector.fromArray(VectorAttentionKernel.F, row, v));
                        }
                        float mNew = Math.max(m[r], max.reduceLanes(jdk.incubator.vector.VectorOperators.MAX));
                        float base = mNew == Float.NEGATIVE_INFINITY ? 0f : mNew;
                        FloatVector sum = FloatVector.zero(VectorAttentionKernel.F);
                        String where = "rows = " + rows + ", n = " + n + ", tile " + tile + ", row " + r;
                        for (int v = 0; v < row.length; v += L) {
                            FloatVector p = VectorAttentionKernel.exp2(FloatVector.fromArray(VectorAttentionKernel.F, row, v).sub(base));
                            sum = sum.add(p);
                            for (int i = 0; i < L && v + i < n; i++) {
                                assertEquals(Float.floatToIntBits(p.lane(i) * 0x1p120f), Float.floatToIntBits(s.st[r * bq + v + i]), where + ", key " + (v + i));
                            }
                        }
                        float alpha = VectorAttentionKernel.exp2(FloatVector.broadcast(VectorAttentionKernel.F, m[r] - base)).lane(0);
                        l[r] = Math.fma(l[r], alpha, LaneSums.sum(sum.toArray(), 0));
                        m[r] = mNew;
                        assertEquals(Float.floatToIntBits(alpha), Float.floatToIntBits(s.alpha[r]), where + ": α");
                        assertEquals(Float.floatToIntBits(l[r]), Float.floatToIntBits(s.l[r]), where + ": l");
                        assertEquals(Float.floatToIntBits(m[r]), Float.floatToIntBits(s.m[r]), where + ": m");
                    }
                }
            }
        }
    }

    /**
     * The fold of the decode step's lane sums ({@code foldScores4}): four levels of pairing,
     * each output lane the sum of the two lanes its select indices name. Followed on the sets
     * of (input, lane) terms each lane holds, no term may be added twice, and lane bitrev₄(i)
     * must end with exactly the 16 lanes of input i, which is what the kernel's load order
     * relies on. Checked on the index tables, so at every vector width.
     */
    @Test
    void foldLevelsPutInputIInLaneBitrevI() {
        java.util.List<java.util.List<java.util.Set<Integer>>> vectors = new java.util.ArrayList<>();
        for (int i = 0; i < 16; i++) {
            java.util.List<java.util.Set<Integer>> v = new java.util.ArrayList<>();
            for (int lane = 0; lane < 16; lane++) {
                v.add(java.util.Set.of(16 * i + lane));
            }
            vectors.add(v);
        }
        for (int h = 8; h >= 1; h /= 2) {
            int[] lo = VectorAttentionKernel.foldLanes(h, false);
            int[] hi = VectorAttentionKernel.foldLanes(h, true);
            java.util.List<java.util.List<java.util.Set<Integer>>> next = new java.util.ArrayList<>();
            for (int pair = 0; pair < vectors.size(); pair += 2) {
                java.util.List<java.util.Set<Integer>> both = new java.util.ArrayList<>(vectors.get(pair));
                both.addAll(vectors.get(pair + 1));
                java.util.List<java.util.Set<Integer>> w = new java.util.ArrayList<>();
                for (int lane = 0; lane < 16; lane++) {
                    java.util.Set<Integer> sum = new java.util.HashSet<>(both.get(lo[lane]));
                    assertTrue(java.util.Collections.disjoint(sum, both.get(hi[lane])), "h = " + h + ", lane " + lane + " adds a term twice");
                    sum.addAll(both.get(hi[lane]));
                    w.add(sum);
                }
                next.add(w);
            }
            vectors = next;
        }
        assertEquals(1, vectors.size());
        for (int i = 0; i < 16; i++) {
            int lane = Integer.reverse(i) >>> 28;
            java.util.Set<Integer> all = new java.util.HashSet<>();
            for (int l = 0; l < 16; l++) {
                all.add(16 * i + l);
            }
            assertEquals(all, vectors.get(0).get(lane), "input " + i);
        }
    }

    /** The quad layout: column g + 4i + k of each 4L-column group sits at g + k·L + i. */
    @Test
    void quadLayoutPermutesEachGroupOfFourLColumns() {
        int q = VectorAttentionKernel.QUAD_CODES;
        assertEquals(4 * L, q);
        assertEquals(0, VectorAttentionKernel.quad(0));
        assertEquals(L, VectorAttentionKernel.quad(1));
        assertEquals(3 * L, VectorAttentionKernel.quad(3));
        assertEquals(1, VectorAttentionKernel.quad(4));
        assertEquals(q + 2 * L + 1, VectorAttentionKernel.quad(q + 6));
        for (int d : new int[] {64, 128, 256}) {
            boolean[] hit = new boolean[d];
            for (int c = 0; c < d; c++) {
                int at = VectorAttentionKernel.quad(c);
                assertEquals(c / q, at / q, "column " + c + " leaves its group");
                assertTrue(!hit[at], "two columns at " + at);
                hit[at] = true;
            }
        }
    }

    /**
     * The fused decode-step kernels against scalar sums, every fp8 code in every column position:
     * QKᵀ for 1–8 rows (both kernels: key-major scores up to 4 rows, row-major above) and PV for 1–4 rows, K and V rows
     * holding codes (7·j + 13·c) mod 256. NaN codes count as their raw value (±480 · 2^−120)
     * and must raise the flag; a tile without them must not.
     */
    @Test
    void fusedKernelsMatchScalarSumsForEveryCodeAndPosition() {
        int bq = VectorAttentionKernel.BQ;
        for (int d : new int[] {64, 128, 256}) {
            for (int n : new int[] {9, bq}) { // an odd count, and a whole tile (the fused kernels' largest)
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment seg = arena.allocate((long) n * d);
                    for (boolean withNan : new boolean[] {true, false}) {
                        for (int j = 0; j < n; j++) {
                            for (int c = 0; c < d; c++) {
                                int code = (7 * j + 13 * c) & 0xFF;
                                if (!withNan && (code & 0x7F) == 0x7F) {
                                    code ^= 1;
                                }
                                seg.set(ValueLayout.JAVA_BYTE, (long) j * d + c, (byte) code);
                            }
                        }
                        java.util.SplittableRandom rnd = new java.util.SplittableRandom(d);
                        for (int rows = 1; rows <= 8; rows++) {
                            VectorAttentionKernel.Scratch s = new VectorAttentionKernel.Scratch(d, n);
                            double[][] q = new double[rows][d];
                            for (int r = 0; r < rows; r++) {
                                for (int c = 0; c < d; c++) {
                                    q[r][c] = (float) rnd.nextDouble(-1, 1);
                                    s.qn[r * d + VectorAttentionKernel.quad(c)] = (float) q[r][c] * 0x1p60f;
                                }
                            }
                            String where = "d = " + d + ", n = " + n + ", rows = " + rows + (withNan ? ", NaN codes" : "");
                            boolean flag;
                            if (rows <= 4) {
                                java.util.Arrays.fill(s.part, Float.NaN); // what an earlier tile left must not leak in
                                flag = VectorAttentionKernel.scoresFused4(s, seg, 0, d, n, d, rows);
                                checkScores(seg, q, s.st, n, d, 1, bq, where + ", key-major");
                            } else {
                                flag = VectorAttentionKernel.scoresFused8(s, seg, 0, d, n, d, rows);
                                checkScores(seg, q, s.st, n, d, bq, 1, where);
                            }
                            assertEquals(withNan, flag, where);
                            if (rows <= 4) {
                                checkPv(s, seg, rnd, n, d, rows, withNan, where);
                            }
                        }
                    }
                }
            }
        }
    }

    private static double rawCode(MemorySegment seg, long at) {
        byte b = seg.get(ValueLayout.JAVA_BYTE, at);
        double v = Fp8.e4m3ToFloat(b);
        return (Double.isNaN(v) ? Math.copySign(480.0, b) : v);
    }

    private static void checkScores(MemorySegment seg, double[][] q, float[] st, int n, int d, int keyStride, int rowStride,
                                    String where) {
        for (int r = 0; r < q.length; r++) {
            for (int j = 0; j < n; j++) {
                double want = 0;
                double scale = 0;
                for (int c = 0; c < d; c++) {
                    double term = rawCode(seg, (long) j * d + c) * q[r][c];
                    want += term;
                    scale += Math.abs(term);
                }
                float got = st[j * keyStride + r * rowStride];
                assertTrue(Math.abs(got - want) <= 1e-6 * scale, where + ": score key " + j + " row " + r + " = " + got + ", want " + want);
            }
        }
    }

    private static void checkPv(VectorAttentionKernel.Scratch s, MemorySegment seg, java.util.SplittableRandom rnd, int n, int d,
                                int rows, boolean withNan, String where) {
        int bq = VectorAttentionKernel.BQ;
        double[][] want = new double[rows][d];
        double[][] scale = new double[rows][d];
        for (int r = 0; r < rows; r++) {
            s.alpha[r] = (float) rnd.nextDouble(0, 1);
            for (int c = 0; c < d; c++) {
                float a = (float) rnd.nextDouble(-1, 1);
                s.acc[r * d + VectorAttentionKernel.quad(c)] = a;
                want[r][c] = (double) a * s.alpha[r];
                scale[r][c] = Math.abs(want[r][c]);
            }
            for (int j = 0; j < n; j++) {
                float p = (float) rnd.nextDouble(0, 1);
                s.st[r * bq + j] = p * 0x1p120f; // the softmax leaves p × 2^120
                for (int c = 0; c < d; c++) {
                    double term = p * rawCode(seg, (long) j * d + c);
                    want[r][c] += term;
                    scale[r][c] += Math.abs(term);
                }
            }
        }
        boolean flag = L >= 16 ? VectorAttentionKernel.pvFused4(s, seg, 0, d, n, d, rows)
                : VectorAttentionKernel.pvFused4Halves(s, seg, 0, d, n, d, rows);
        assertEquals(withNan, flag, where + " (PV)");
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < d; c++) {
                float got = s.acc[r * d + VectorAttentionKernel.quad(c)];
                assertTrue(Math.abs(got - want[r][c]) <= 1e-6 * scale[r][c] + 1e-30,
                        where + ": PV row " + r + " column " + c + " = " + got + ", want " + want[r][c]);
            }
        }
    }
}
