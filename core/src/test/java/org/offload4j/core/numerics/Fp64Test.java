package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleToIntFunction;
import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.LowPrecisionOracle.Overflow;

/**
 * {@link Fp64#toFloatRoundedToOdd} followed by each production narrowing against the oracle
 * rounding the double once, on doubles within a few float ulps of every kind of midpoint (where
 * two roundings go wrong) and on random doubles of every magnitude.
 */
class Fp64Test {
    private static final long SEED = 0x5EED_F064L;

    @Test
    void theDoubleRoundingThatRoundingToOddPrevents() {
        double x = 1 + 0x1p-8 + 0x1p-30;
        assertEquals((short) 0x3F80, Bf16.fromFloat((float) x), "nearest float, then bf16: the tie breaks down to 1");
        assertEquals((short) 0x3F81, Bf16.fromFloat(Fp64.toFloatRoundedToOdd(x)), "once: above the midpoint, up to 1 + 2^-7");
        assertEquals(LowPrecisionOracle.of(LowPrecisionOracle.BF16).round(x, Overflow.INFINITY), 0x3F81);
    }

    @Test
    void specialValues() {
        assertEquals(1.5f, Fp64.toFloatRoundedToOdd(1.5), "a float stays itself");
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Fp64.toFloatRoundedToOdd(-0.0)));
        assertEquals(Float.POSITIVE_INFINITY, Fp64.toFloatRoundedToOdd(Double.POSITIVE_INFINITY));
        assertEquals(Float.NEGATIVE_INFINITY, Fp64.toFloatRoundedToOdd(Double.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Fp64.toFloatRoundedToOdd(Double.NaN)));
        assertEquals(Float.MAX_VALUE, Fp64.toFloatRoundedToOdd(1e300), "beyond the range: MAX_VALUE, odd");
        assertEquals(-Float.MAX_VALUE, Fp64.toFloatRoundedToOdd(-Double.MAX_VALUE));
        assertEquals(Float.MIN_VALUE, Fp64.toFloatRoundedToOdd(1e-300), "below the range: MIN_VALUE, odd");
        assertEquals(-Float.MIN_VALUE, Fp64.toFloatRoundedToOdd(-1e-300));
        assertEquals(Float.intBitsToFloat(0x3F800001), Fp64.toFloatRoundedToOdd(1 + 0x1p-40), "toward zero, last bit set");
        assertEquals(Float.intBitsToFloat(0x3F800001), Fp64.toFloatRoundedToOdd(1 + 0x1p-23 - 0x1p-40));
        assertEquals(Float.intBitsToFloat(0xBF800003), Fp64.toFloatRoundedToOdd(-(1 + 0x1p-22 + 0x1p-40)));
    }

    @Test
    void bf16MatchesOneRounding() {
        LowPrecisionOracle oracle = LowPrecisionOracle.of(LowPrecisionOracle.BF16);
        check(oracle, Overflow.INFINITY, x -> Bf16.fromFloat(Fp64.toFloatRoundedToOdd(x)) & 0xFFFF);
    }

    @Test
    void fp16MatchesOneRounding() {
        LowPrecisionOracle oracle = LowPrecisionOracle.of(LowPrecisionOracle.FP16);
        check(oracle, Overflow.INFINITY, x -> Fp16.fromFloat(Fp64.toFloatRoundedToOdd(x)) & 0xFFFF);
    }

    @Test
    void fp8MatchesOneRoundingInBothOverflowModes() {
        LowPrecisionOracle e4m3 = LowPrecisionOracle.of(LowPrecisionOracle.E4M3FN);
        LowPrecisionOracle e5m2 = LowPrecisionOracle.of(LowPrecisionOracle.E5M2);
        check(e4m3, Overflow.SATURATE, x -> Fp8.floatToE4m3(Fp64.toFloatRoundedToOdd(x), Fp8Overflow.SATURATE) & 0xFF);
        check(e4m3, Overflow.NO_SATURATE, x -> Fp8.floatToE4m3(Fp64.toFloatRoundedToOdd(x), Fp8Overflow.NO_SATURATE) & 0xFF);
        check(e5m2, Overflow.SATURATE, x -> Fp8.floatToE5m2(Fp64.toFloatRoundedToOdd(x), Fp8Overflow.SATURATE) & 0xFF);
        check(e5m2, Overflow.NO_SATURATE, x -> Fp8.floatToE5m2(Fp64.toFloatRoundedToOdd(x), Fp8Overflow.NO_SATURATE) & 0xFF);
    }

    /**
     * Every midpoint of the format (the sentinel above the largest value included), each nudged by
     * 0, ±2^−60·mid and ±2^−30·mid (below a float ulp, so the nearest float is the midpoint itself)
     * and by ±1 ulp of float, both signs; then random doubles from 2^−160 to 2^140.
     */
    private static void check(LowPrecisionOracle oracle, Overflow overflow, DoubleToIntFunction viaOdd) {
        int checked = 0;
        for (int i = 0; i < oracle.finiteNonNegativeCount(); i++) {
            double mid = oracle.midpoint(i);
            double[] offsets = {0, 0x1p-60 * mid, -0x1p-60 * mid, 0x1p-30 * mid, -0x1p-30 * mid, Math.ulp((float) mid), -Math.ulp((float) mid)};
            for (double offset : offsets) {
                for (double sign : new double[] {1, -1}) {
                    expectOneRounding(oracle, overflow, viaOdd, sign * (mid + offset));
                    checked++;
                }
            }
        }
        SplittableRandom rnd = new SplittableRandom(SEED);
        for (int n = 0; n < 200_000; n++) {
            double x = Math.scalb(1 + rnd.nextDouble(), rnd.nextInt(-160, 140)) * (rnd.nextBoolean() ? 1 : -1);
            expectOneRounding(oracle, overflow, viaOdd, x);
            checked++;
        }
        assertTrue(checked > 200_000);
    }

    private static void expectOneRounding(LowPrecisionOracle oracle, Overflow overflow, DoubleToIntFunction viaOdd, double x) {
        int want = oracle.round(x, overflow);
        int got = viaOdd.applyAsInt(x);
        if (want == LowPrecisionOracle.ANY_NAN) {
            assertTrue(oracle.isNaN(got), () -> "x = " + x);
        } else {
            assertEquals(oracle.describe(want), oracle.describe(got), () -> oracle.format() + " " + overflow + ", x = " + x + " ["
                    + Long.toHexString(Double.doubleToRawLongBits(x)) + "]");
        }
    }

    @Test
    void theMidpointSweepCatchesTheCastAlone() {
        LowPrecisionOracle oracle = LowPrecisionOracle.of(LowPrecisionOracle.BF16);
        int wrong = 0;
        for (int i = 0; i + 1 < oracle.finiteNonNegativeCount(); i++) {
            double x = oracle.midpoint(i) * (1 + 0x1p-30);
            if ((Bf16.fromFloat((float) x) & 0xFFFF) != oracle.round(x, Overflow.INFINITY)) {
                wrong++;
            }
        }
        assertNotEquals(0, wrong, "a plain cast rounds some of these twice the wrong way, so the sweep can fail");
    }
}
