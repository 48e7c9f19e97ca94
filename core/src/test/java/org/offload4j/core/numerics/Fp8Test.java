package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.offload4j.core.numerics.LowPrecisionOracle.Overflow;

/**
 * {@link Fp8} against {@link LowPrecisionOracle} and against the behaviour of CUDA's host
 * conversion code in {@code cuda_fp8.hpp} ({@code __nv_cvt_float_to_fp8},
 * {@code __nv_cvt_fp8_to_halfraw}), for both formats and both overflow modes.
 */
class Fp8Test {

    /** One production conversion: a format and an overflow mode. */
    enum Conversion {
        E4M3_SATURATE(LowPrecisionOracle.E4M3FN, Fp8Overflow.SATURATE),
        E4M3_NO_SATURATE(LowPrecisionOracle.E4M3FN, Fp8Overflow.NO_SATURATE),
        E5M2_SATURATE(LowPrecisionOracle.E5M2, Fp8Overflow.SATURATE),
        E5M2_NO_SATURATE(LowPrecisionOracle.E5M2, Fp8Overflow.NO_SATURATE);

        final LowPrecisionOracle.Format format;
        final Fp8Overflow mode;

        Conversion(LowPrecisionOracle.Format format, Fp8Overflow mode) {
            this.format = format;
            this.mode = mode;
        }

        LowPrecisionOracle oracle() {
            return LowPrecisionOracle.of(format);
        }

        boolean e4m3() {
            return format == LowPrecisionOracle.E4M3FN;
        }

        Overflow oracleMode() {
            return mode == Fp8Overflow.SATURATE ? Overflow.SATURATE : Overflow.NO_SATURATE;
        }

        /** The production narrowing, as an unsigned byte. */
        int narrow(float x) {
            return (e4m3() ? Fp8.floatToE4m3(x, mode) : Fp8.floatToE5m2(x, mode)) & 0xFF;
        }

        float widen(int bits) {
            return e4m3() ? Fp8.e4m3ToFloat((byte) bits) : Fp8.e5m2ToFloat((byte) bits);
        }

        /** What overflow of the given sign (0 or 0x80) must give in this mode, per {@code __nv_cvt_double_to_fp8}. */
        int overflowCode(int sign) {
            if (mode == Fp8Overflow.SATURATE) {
                return sign | (e4m3() ? 0x7E : 0x7B);
            }
            return sign | (e4m3() ? 0x7F : 0x7C);
        }
    }

    private static String hex(int bits) {
        return String.format("0x%02x", bits);
    }

    private static void expect(Mismatches m, Conversion c, float x, int expected, String why) {
        int actual = c.narrow(x);
        m.check(actual == expected, () -> c + " " + why + ": " + LowPrecisionOracle.describeInput(x) + " -> " + hex(actual)
                + ", expected " + hex(expected));
        int oracle = c.oracle().round(x, c.oracleMode());
        m.check(oracle == expected, () -> "oracle " + c + " " + why + ": " + LowPrecisionOracle.describeInput(x) + " -> "
                + hex(oracle) + ", expected " + hex(expected));
    }

    // ---------------------------------------------------------------- widening

    @ParameterizedTest
    @EnumSource(value = Conversion.class, names = {"E4M3_SATURATE", "E5M2_SATURATE"})
    void everyPatternWidensToItsExactValue(Conversion c) {
        Mismatches m = new Mismatches(c.format + " widening");
        for (int b = 0; b < 256; b++) {
            int bits = b;
            double expected = c.oracle().decode(bits);
            float actual = c.widen(bits);
            if (Double.isNaN(expected)) {
                m.check(Float.isNaN(actual), () -> hex(bits) + " widened to " + actual + ", expected NaN");
            } else {
                m.check(Double.doubleToRawLongBits(actual) == Double.doubleToRawLongBits(expected),
                        () -> hex(bits) + " widened to " + actual + ", expected " + expected);
            }
        }
        m.assertNone();
    }

    @Test
    void e4m3SpecialPatterns() {
        assertEquals(448f, Fp8.e4m3ToFloat((byte) 0x7E));
        assertEquals(-448f, Fp8.e4m3ToFloat((byte) 0xFE));
        assertTrue(Float.isNaN(Fp8.e4m3ToFloat((byte) 0x7F)), "S.1111.111 is NaN");
        assertTrue(Float.isNaN(Fp8.e4m3ToFloat((byte) 0xFF)));
        assertEquals(0x1p-9f, Fp8.e4m3ToFloat((byte) 0x01), "smallest subnormal");
        assertEquals(0x7p-9f, Fp8.e4m3ToFloat((byte) 0x07), "largest subnormal");
        assertEquals(0x1p-6f, Fp8.e4m3ToFloat((byte) 0x08), "smallest normal");
        assertEquals(1f, Fp8.e4m3ToFloat((byte) 0x38));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Fp8.e4m3ToFloat((byte) 0x80)));
        // no infinity: every other exponent-1111 pattern is a plain number
        assertEquals(256f, Fp8.e4m3ToFloat((byte) 0x78));
        assertEquals(416f, Fp8.e4m3ToFloat((byte) 0x7D));
        assertEquals(Fp8.E4M3_MAX, (float) LowPrecisionOracle.of(LowPrecisionOracle.E4M3FN).max());
    }

    @Test
    void e5m2SpecialPatterns() {
        assertEquals(57344f, Fp8.e5m2ToFloat((byte) 0x7B));
        assertEquals(Float.POSITIVE_INFINITY, Fp8.e5m2ToFloat((byte) 0x7C));
        assertEquals(Float.NEGATIVE_INFINITY, Fp8.e5m2ToFloat((byte) 0xFC));
        for (int b : new int[] {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
            assertTrue(Float.isNaN(Fp8.e5m2ToFloat((byte) b)), hex(b));
        }
        assertEquals(0x1p-16f, Fp8.e5m2ToFloat((byte) 0x01));
        assertEquals(0x1p-14f, Fp8.e5m2ToFloat((byte) 0x04));
        assertEquals(1f, Fp8.e5m2ToFloat((byte) 0x3C));
        assertEquals(Fp8.E5M2_MAX, (float) LowPrecisionOracle.of(LowPrecisionOracle.E5M2).max());
    }

    /**
     * {@code __nv_cvt_fp8_to_halfraw} (host path) maps every NaN pattern to the fp16 canonical
     * NaN {@code 0x7FFF}, "discard sign"; widening must not produce a negative NaN for
     * {@code 0xFF} (E4M3) or {@code 0xFD..0xFF} (E5M2).
     */
    @Test
    void nanPatternsWidenToAPositiveNaNAsCudaDoes() {
        for (int b : new int[] {0x7F, 0xFF}) {
            float f = Fp8.e4m3ToFloat((byte) b);
            assertTrue(Float.isNaN(f));
            assertEquals(0, Float.floatToRawIntBits(f) >>> 31, "e4m3 " + hex(b) + " widened to a negative NaN");
        }
        for (int b : new int[] {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
            float f = Fp8.e5m2ToFloat((byte) b);
            assertTrue(Float.isNaN(f));
            assertEquals(0, Float.floatToRawIntBits(f) >>> 31, "e5m2 " + hex(b) + " widened to a negative NaN");
        }
    }

    // ---------------------------------------------------------------- round trip

    @ParameterizedTest
    @EnumSource(Conversion.class)
    void everyPatternRoundTrips(Conversion c) {
        Mismatches m = new Mismatches(c + " narrow(widen(b))");
        LowPrecisionOracle o = c.oracle();
        for (int b = 0; b < 256; b++) {
            int bits = b;
            int back = c.narrow(c.widen(bits));
            int expected;
            if (o.isNaN(bits)) {
                expected = Fp8.CANONICAL_NAN; // every NaN comes back as the canonical 0x7F
            } else if (o.isInfinite(bits)) {
                expected = c.overflowCode(bits & 0x80); // E5M2 ±inf: kept (NO_SATURATE) or ±max (SATURATE)
            } else {
                expected = bits;
            }
            int want = expected;
            m.check(back == want, () -> hex(bits) + " came back as " + hex(back) + ", expected " + hex(want));
        }
        m.assertNone();
        assertEquals(256, m.checked());
    }

    // ---------------------------------------------------------------- rounding boundaries

    /**
     * Every pair of adjacent non-negative values, from (0, smallest subnormal) through the
     * subnormals and normals to (max, max + ulp): the midpoint goes to the even encoding, the
     * float just above to the upper value and the float just below to the lower one; both
     * signs. The last pair is the overflow step, where "upper" means overflow.
     */
    @ParameterizedTest
    @EnumSource(Conversion.class)
    void everyMidpointTiesToEvenAndItsFloatNeighboursRoundAway(Conversion c) {
        LowPrecisionOracle o = c.oracle();
        Mismatches m = new Mismatches(c + " midpoints");
        int pairs = o.finiteNonNegativeCount();
        for (int i = 0; i < pairs; i++) {
            double mid = o.midpoint(i);
            float fmid = (float) mid;
            assertEquals(mid, fmid, 0.0);
            for (int sign : new int[] {0, 0x80}) {
                float s = sign == 0 ? 1f : -1f;
                int lower = sign | o.code(i);
                int upper = i + 1 == pairs ? c.overflowCode(sign) : sign | o.code(i + 1);
                int even = (o.code(i) & 1) == 0 ? lower : upper;
                expect(m, c, s * fmid, even, "midpoint #" + i);
                expect(m, c, s * Math.nextUp(fmid), upper, "above midpoint #" + i);
                expect(m, c, s * Math.nextDown(fmid), lower, "below midpoint #" + i);
            }
        }
        m.assertNone();
    }

    @ParameterizedTest
    @EnumSource(Conversion.class)
    void everyValueItselfIsExact(Conversion c) {
        LowPrecisionOracle o = c.oracle();
        Mismatches m = new Mismatches(c + " exact values");
        for (int i = 0; i < o.finiteNonNegativeCount(); i++) {
            float v = (float) o.value(i);
            expect(m, c, v, o.code(i), "value");
            expect(m, c, -v, 0x80 | o.code(i), "negated value");
        }
        m.assertNone();
    }

    @ParameterizedTest
    @EnumSource(Conversion.class)
    void theStepIntoZero(Conversion c) {
        float minSub = (float) c.oracle().minSubnormal();
        Mismatches m = new Mismatches(c + " underflow");
        expect(m, c, minSub / 2, 0x00, "half the smallest subnormal ties to +0");
        expect(m, c, -minSub / 2, 0x80, "and to -0");
        expect(m, c, Math.nextUp(minSub / 2), 0x01, "just above half");
        expect(m, c, -Math.nextUp(minSub / 2), 0x81, "just above half, negative");
        expect(m, c, Math.nextDown(minSub / 2), 0x00, "just below half");
        expect(m, c, minSub / 4, 0x00, "a quarter");
        expect(m, c, 1.5f * minSub, 0x02, "1.5 ulps ties to even 2");
        expect(m, c, Float.MIN_VALUE, 0x00, "smallest float subnormal");
        expect(m, c, -Float.MIN_VALUE, 0x80, "smallest negative float subnormal");
        expect(m, c, Float.MIN_NORMAL, 0x00, "smallest float normal");
        expect(m, c, 0f, 0x00, "+0");
        expect(m, c, -0f, 0x80, "-0");
        m.assertNone();
    }

    // ---------------------------------------------------------------- overflow

    @ParameterizedTest
    @EnumSource(Conversion.class)
    void overflow(Conversion c) {
        LowPrecisionOracle o = c.oracle();
        float max = (float) o.max();
        float tie = (float) ((o.max() + o.beyondMax()) / 2); // 464 (E4M3), 61440 (E5M2)
        assertEquals(c.e4m3() ? 464f : 61440f, tie);
        Mismatches m = new Mismatches(c + " overflow");
        for (int sign : new int[] {0, 0x80}) {
            float s = sign == 0 ? 1f : -1f;
            int atMax = sign | o.maxCode();
            int over = c.overflowCode(sign);
            expect(m, c, s * max, atMax, "max");
            expect(m, c, s * Math.nextUp(max), atMax, "just above max");
            expect(m, c, s * Math.nextDown(tie), atMax, "just below max + ulp/2");
            // E4M3: 448 is 0x7E (even), so the tie stays finite; E5M2: the tie goes to infinity's even 0x7C
            expect(m, c, s * tie, c.e4m3() ? atMax : over, "max + ulp/2");
            expect(m, c, s * Math.nextUp(tie), over, "just above max + ulp/2");
            expect(m, c, s * (float) o.beyondMax(), over, "max + ulp");
            expect(m, c, s * 1e6f, over, "1e6");
            expect(m, c, s * Float.MAX_VALUE, over, "largest float");
            expect(m, c, s * Float.POSITIVE_INFINITY, over, "infinity");
        }
        m.assertNone();
    }

    @Test
    void overflowCodesAreCudas() {
        // __nv_cvt_double_to_fp8: SATFINITE -> FP8_MAXNORM | sign; NOSAT -> 0x7F (E4M3 NaN) or 0x7C (E5M2 inf), | sign
        assertEquals((byte) 0x7E, Fp8.floatToE4m3(Float.POSITIVE_INFINITY, Fp8Overflow.SATURATE));
        assertEquals((byte) 0xFE, Fp8.floatToE4m3(Float.NEGATIVE_INFINITY, Fp8Overflow.SATURATE));
        assertEquals((byte) 0x7F, Fp8.floatToE4m3(Float.POSITIVE_INFINITY, Fp8Overflow.NO_SATURATE));
        assertEquals((byte) 0xFF, Fp8.floatToE4m3(Float.NEGATIVE_INFINITY, Fp8Overflow.NO_SATURATE));
        assertEquals((byte) 0xFF, Fp8.floatToE4m3(-1000f, Fp8Overflow.NO_SATURATE));
        assertEquals((byte) 0x7B, Fp8.floatToE5m2(Float.POSITIVE_INFINITY, Fp8Overflow.SATURATE));
        assertEquals((byte) 0xFB, Fp8.floatToE5m2(Float.NEGATIVE_INFINITY, Fp8Overflow.SATURATE));
        assertEquals((byte) 0x7C, Fp8.floatToE5m2(Float.POSITIVE_INFINITY, Fp8Overflow.NO_SATURATE));
        assertEquals((byte) 0xFC, Fp8.floatToE5m2(Float.NEGATIVE_INFINITY, Fp8Overflow.NO_SATURATE));
        assertEquals((byte) 0xFC, Fp8.floatToE5m2(-1e9f, Fp8Overflow.NO_SATURATE));
    }

    // ---------------------------------------------------------------- NaN

    /** {@code __nv_cvt_float_to_fp8} canonicalises a float NaN to 0x7FFFFFFF first: the result is 0x7F, sign dropped. */
    @ParameterizedTest
    @EnumSource(Conversion.class)
    void nanOfEitherSignGivesTheCanonical0x7F(Conversion c) {
        int[] nanBits = {0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000};
        for (int nb : nanBits) {
            int r = c.narrow(Float.intBitsToFloat(nb));
            assertEquals(0x7F, r, () -> String.format("%s: NaN 0x%08x gave %s", c, nb, hex(r)));
        }
        assertEquals(0x7F, Fp8.CANONICAL_NAN);
    }

    // ---------------------------------------------------------------- random

    @ParameterizedTest
    @EnumSource(value = Conversion.class, names = {"E4M3_SATURATE", "E5M2_SATURATE"})
    void seededRandomFloatsMatchTheOracleInBothModes(Conversion saturating) {
        long seed = FloatSamples.SEED;
        Conversion noSat = saturating.e4m3() ? Conversion.E4M3_NO_SATURATE : Conversion.E5M2_NO_SATURATE;
        float[] xs = FloatSamples.draw(saturating.format, seed, 1 << 20);
        Mismatches m = new Mismatches(saturating.format + " random floats (seed " + seed + ", rerun with -Doffload4j.seed="
                + seed + ")");
        for (float x : xs) {
            for (Conversion c : new Conversion[] {saturating, noSat}) {
                int expected = c.oracle().round(x, c.oracleMode());
                int actual = c.narrow(x);
                m.check(actual == expected, () -> c + ": " + LowPrecisionOracle.describeInput(x) + " -> " + hex(actual)
                        + ", expected " + hex(expected));
            }
        }
        m.assertNone();
    }

    @Test
    void roundHelpersSaturate() {
        assertEquals(16f, Fp8.roundE4m3(17f));
        assertEquals(448f, Fp8.roundE4m3(1000f));
        assertEquals(-448f, Fp8.roundE4m3(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Fp8.roundE4m3(Float.NaN)));
        assertEquals(57344f, Fp8.roundE5m2(Float.POSITIVE_INFINITY));
        assertEquals(-57344f, Fp8.roundE5m2(-1e30f));
        assertEquals(0x1p-16f, Fp8.roundE5m2(0x1.000002p-17f));
        assertTrue(Float.isNaN(Fp8.roundE5m2(Float.NaN)));
    }

    /** The group scale rule: amax / 448 with the MIN_NORMAL floor, 1 for zero, NaN and +∞ passed on. */
    @Test
    void e4m3ScaleFloorsTinyGroupsAndPassesNonFiniteOn() {
        assertEquals(1f, Fp8.e4m3Scale(0f));
        assertEquals(2f, Fp8.e4m3Scale(896f));
        assertEquals(Float.MIN_NORMAL, Fp8.e4m3Scale(1e-44f));
        assertEquals(Float.MIN_NORMAL, Fp8.e4m3Scale(448 * Float.MIN_NORMAL));
        assertEquals(Float.MIN_NORMAL * 4, Fp8.e4m3Scale(448 * Float.MIN_NORMAL * 4));
        assertTrue(Float.isNaN(Fp8.e4m3Scale(Float.NaN)));
        assertEquals(Float.POSITIVE_INFINITY, Fp8.e4m3Scale(Float.POSITIVE_INFINITY));
    }
}
