package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.LowPrecisionOracle.Overflow;

/**
 * What every 16-bit float codec (bf16, fp16) must satisfy, checked against
 * {@link LowPrecisionOracle}: all 65536 patterns, every rounding boundary, overflow, underflow,
 * signed zeros, NaN, and a seeded random sample. {@link Bf16Test} and {@link Fp16Test} bind it
 * to a production class.
 */
abstract class SixteenBitFormatContract {

    abstract LowPrecisionOracle.Format format();

    abstract float widen(short bits);

    abstract short narrow(float x);

    /** The production round-trip helper ({@code round(x)}). */
    abstract float roundTrip(float x);

    final LowPrecisionOracle oracle() {
        return LowPrecisionOracle.of(format());
    }

    private int narrowBits(float x) {
        return narrow(x) & 0xFFFF;
    }

    private String describe(int bits) {
        return oracle().describe(bits);
    }

    /** Compares production narrowing of {@code x} with the oracle's answer. */
    private void checkNarrow(Mismatches m, float x) {
        int expected = oracle().round(x, Overflow.INFINITY);
        int actual = narrowBits(x);
        if (expected == LowPrecisionOracle.ANY_NAN) {
            m.check(oracle().isNaN(actual), () -> LowPrecisionOracle.describeInput(x) + " -> " + describe(actual) + ", expected a NaN");
        } else {
            m.check(actual == expected, () -> LowPrecisionOracle.describeInput(x) + " -> " + describe(actual) + ", expected "
                    + describe(expected));
        }
    }

    @Test
    void everyPatternWidensToItsExactValue() {
        Mismatches m = new Mismatches(format() + " widening");
        for (int b = 0; b < 0x10000; b++) {
            int bits = b;
            double expected = oracle().decode(bits);
            float actual = widen((short) bits);
            if (Double.isNaN(expected)) {
                m.check(Float.isNaN(actual), () -> describe(bits) + " widened to " + actual + ", expected NaN");
            } else {
                // raw bits: distinguishes -0.0 from +0.0 and any off-by-one ulp
                m.check(Double.doubleToRawLongBits(actual) == Double.doubleToRawLongBits(expected),
                        () -> describe(bits) + " widened to " + actual + ", expected " + expected);
            }
        }
        m.assertNone();
        assertEquals(0x10000, m.checked());
    }

    @Test
    void everyPatternRoundTrips() {
        Mismatches m = new Mismatches(format() + " narrow(widen(b))");
        for (int b = 0; b < 0x10000; b++) {
            int bits = b;
            int back = narrowBits(widen((short) bits));
            if (oracle().isNaN(bits)) {
                m.check(oracle().isNaN(back), () -> describe(bits) + " came back as " + describe(back) + ", expected a NaN");
            } else {
                m.check(back == bits, () -> describe(bits) + " came back as " + describe(back));
            }
        }
        m.assertNone();
    }

    /**
     * Between every two adjacent non-negative values (from 0 to the smallest subnormal up to the
     * largest finite value and the overflow step above it): the exact midpoint goes to the even
     * encoding, the next float up to the upper neighbour and the next float down to the lower
     * one; both signs. The expectations are spelled out here, not taken from the oracle's
     * search, so this also checks the oracle.
     */
    @Test
    void everyMidpointTiesToEvenAndItsFloatNeighboursRoundAway() {
        LowPrecisionOracle o = oracle();
        Mismatches m = new Mismatches(format() + " midpoints");
        int pairs = o.finiteNonNegativeCount(); // pair i = (value(i), value(i + 1)); the last is (max, max + ulp)
        for (int i = 0; i < pairs; i++) {
            double mid = o.midpoint(i);
            float fmid = (float) mid;
            assertEquals(mid, fmid, 0.0, () -> format() + ": midpoint " + mid + " is not a float");
            int lower = o.code(i);
            int upper = i + 1 == pairs ? o.infinity(0) : o.code(i + 1);
            int even = (o.code(i) & 1) == 0 ? lower : upper;
            for (int sign : new int[] {0, 0x8000}) {
                float s = sign == 0 ? 1f : -1f;
                expectNarrow(m, s * fmid, sign | even, o);
                expectNarrow(m, s * Math.nextUp(fmid), sign | upper, o);
                expectNarrow(m, s * Math.nextDown(fmid), sign | lower, o);
            }
        }
        m.assertNone();
        assertEquals(pairs * 6L, m.checked() / 2);
    }

    private void expectNarrow(Mismatches m, float x, int expected, LowPrecisionOracle o) {
        int actual = narrowBits(x);
        m.check(actual == expected, () -> "production: " + LowPrecisionOracle.describeInput(x) + " -> " + describe(actual)
                + ", expected " + describe(expected));
        int fromOracle = o.round(x, Overflow.INFINITY);
        m.check(fromOracle == expected, () -> "oracle: " + LowPrecisionOracle.describeInput(x) + " -> " + describe(fromOracle)
                + ", expected " + describe(expected));
    }

    @Test
    void overflowGoesToInfinityFromTheTieAtMaxPlusHalfAnUlp() {
        LowPrecisionOracle o = oracle();
        float max = (float) o.max();
        float tie = (float) ((o.max() + o.beyondMax()) / 2);
        int maxCode = o.maxCode();
        int inf = o.infinity(0);
        // the largest finite value's encoding is odd in both formats, so the tie goes up
        assertEquals(1, maxCode & 1, "max encoding parity");
        assertEquals(maxCode, narrowBits(max));
        assertEquals(maxCode, narrowBits(Math.nextDown(tie)));
        assertEquals(inf, narrowBits(tie));
        assertEquals(inf, narrowBits(Math.nextUp(tie)));
        assertEquals(inf, narrowBits(Float.MAX_VALUE));
        assertEquals(inf, narrowBits(Float.POSITIVE_INFINITY));
        assertEquals(0x8000 | maxCode, narrowBits(-max));
        assertEquals(0x8000 | maxCode, narrowBits(-Math.nextDown(tie)));
        assertEquals(0x8000 | inf, narrowBits(-tie));
        assertEquals(0x8000 | inf, narrowBits(-Float.MAX_VALUE));
        assertEquals(0x8000 | inf, narrowBits(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, widen((short) inf));
        assertEquals(Float.NEGATIVE_INFINITY, widen((short) (0x8000 | inf)));
    }

    @Test
    void subnormalsAreKeptAndHalfTheSmallestRoundsToASignedZero() {
        LowPrecisionOracle o = oracle();
        float minSub = (float) o.minSubnormal();
        assertEquals(0x0001, narrowBits(minSub));
        assertEquals(minSub, widen((short) 0x0001));
        assertEquals(0x0000, narrowBits(minSub / 2), "half the smallest subnormal ties to +0");
        assertEquals(0x8000, narrowBits(-minSub / 2), "and to -0 when negative");
        assertEquals(0x0001, narrowBits(Math.nextUp(minSub / 2)));
        assertEquals(0x8001, narrowBits(-Math.nextUp(minSub / 2)));
        assertEquals(0x0002, narrowBits(1.5f * minSub), "1.5 subnormal ulps ties to the even 2");
        assertEquals(0x0002, narrowBits(2.5f * minSub), "2.5 subnormal ulps ties to the even 2");
        assertEquals(0x0000, narrowBits(Float.MIN_VALUE), "the smallest float is far below");
        assertEquals(0x8000, narrowBits(-Float.MIN_VALUE));
        // the largest subnormal and the step into the normal range
        int largestSub = (1 << format().mantBits()) - 1;
        float minNormal = (float) Math.pow(2, 1 - format().bias());
        assertEquals(minNormal - minSub, widen((short) largestSub));
        assertEquals(minNormal, widen((short) (largestSub + 1)));
        assertEquals(largestSub + 1, narrowBits(minNormal - minSub / 2), "the tie below the smallest normal goes up to even");
        assertEquals(largestSub, narrowBits(Math.nextDown(minNormal - minSub / 2)));
    }

    @Test
    void signedZerosAreKept() {
        assertEquals(0x0000, narrowBits(0f));
        assertEquals(0x8000, narrowBits(-0f));
        assertEquals(Float.floatToRawIntBits(0f), Float.floatToRawIntBits(widen((short) 0x0000)));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(widen((short) 0x8000)));
    }

    @Test
    void nanOfEitherSignAndAnyPayloadStaysNaN() {
        int[] nanBits = {0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000, 0x7F802000};
        for (int nb : nanBits) {
            float nan = Float.intBitsToFloat(nb);
            int r = narrowBits(nan);
            assertTrue(oracle().isNaN(r), () -> String.format("%s: NaN 0x%08x narrowed to %s", format(), nb, describe(r)));
            assertTrue(Float.isNaN(roundTrip(nan)));
        }
    }

    @Test
    void seededRandomFloatsMatchTheOracle() {
        long seed = FloatSamples.SEED;
        float[] xs = FloatSamples.draw(format(), seed, 1 << 20);
        Mismatches m = new Mismatches(format() + " random floats (seed " + seed + ", rerun with -Doffload4j.seed=" + seed + ")");
        for (float x : xs) {
            checkNarrow(m, x);
        }
        m.assertNone();
    }

    @Test
    void roundIsNarrowThenWiden() {
        float[] xs = FloatSamples.draw(format(), FloatSamples.SEED + 1, 1 << 12);
        for (float x : xs) {
            float expected = widen(narrow(x));
            float actual = roundTrip(x);
            assertTrue(Float.floatToRawIntBits(expected) == Float.floatToRawIntBits(actual)
                    || (Float.isNaN(expected) && Float.isNaN(actual)),
                    () -> "round(" + LowPrecisionOracle.describeInput(x) + ") = " + actual + ", expected " + expected
                            + " (seed " + FloatSamples.SEED + ")");
        }
    }

    /**
     * A fixed, seeded sample of floats: random bit patterns (every binade, subnormals, ±∞, NaN)
     * and random values near the format's own range, plus the edge values. Seeded so a failure
     * reproduces; the message names the values.
     */
    static float[] sample(long seed, int count) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] edges = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE,
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1f, -1f, 65504f, 65520f, 6.1035156e-5f, 5.9604645e-8f};
        float[] out = new float[count];
        System.arraycopy(edges, 0, out, 0, edges.length);
        for (int i = edges.length; i < count; i++) {
            out[i] = (i & 1) == 0 ? Float.intBitsToFloat(rnd.nextInt())
                    : (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(-30, 20)));
        }
        return out;
    }

    /** Rounding is monotone: a ≤ b implies round(a) ≤ round(b), on pairs of the seeded sample. */
    @Test
    void narrowingIsMonotone() {
        float[] a = sample(11, 20_000);
        float[] b = sample(12, 20_000);
        for (int i = 0; i < a.length; i++) {
            checkMonotone(a[i], b[i]);
            checkMonotone(a[i], Math.nextUp(a[i]));
        }
    }

    private void checkMonotone(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) {
            return;
        }
        float lo = Math.min(a, b);
        float hi = Math.max(a, b);
        assertTrue(roundTrip(lo) <= roundTrip(hi), () -> "round(" + lo + ") = " + roundTrip(lo) + " > round(" + hi + ") = "
                + roundTrip(hi));
    }

    /** The rounding error is at most half an ulp of the format at that magnitude (finite results). */
    @Test
    void errorIsAtMostHalfAnUlp() {
        LowPrecisionOracle o = oracle();
        for (float x : sample(13, 40_000)) {
            float r = roundTrip(x);
            if (!Float.isFinite(x) || !Float.isFinite(r)) {
                continue;
            }
            double ax = Math.abs((double) x);
            int binadeExp = Math.max(Math.getExponent(ax), 1 - format().bias());
            double ulp = Math.pow(2, binadeExp - format().mantBits());
            assertTrue(Math.abs((double) r - x) <= ulp / 2, () -> x + " rounded to " + r + ", more than half an ulp (" + ulp + ") away");
            assertTrue(Math.abs(r) <= o.max(), () -> x + " rounded to " + r + ", beyond the format's largest finite value");
        }
    }
}
