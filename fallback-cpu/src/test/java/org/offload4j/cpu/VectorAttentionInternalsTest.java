package org.offload4j.cpu;

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
}
