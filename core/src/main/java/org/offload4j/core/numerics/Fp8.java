package org.offload4j.core.numerics;

/**
 * The two OCP 8-bit floating-point formats (OCP 8-bit Floating Point Specification, 2023),
 * bit-compatible with CUDA's {@code cuda_fp8.h}.
 *
 * <pre>
 *            sign exp mant  bias  max finite  min normal  min subnormal  Inf        NaN
 * E4M3FN      1    4    3     7      448        2^-6        2^-9           none       S.1111.111
 * E5M2        1    5    2    15    57344        2^-14       2^-16          S.11111.00 S.11111.{01,10,11}
 * </pre>
 *
 * <p>Narrowing rounds to nearest, ties to even, in one step from the float value (so the
 * result is the correctly rounded fp8 of the float, never a double rounding). Magnitudes at or
 * below half the smallest subnormal become a zero of the same sign; the tie at exactly half
 * rounds to zero (even). Values above {@code max + ulp/2} (and exactly at it, when the tie goes
 * up) overflow as {@link Fp8Overflow} says. A NaN input gives the canonical NaN {@code 0x7F}
 * (positive; CUDA canonicalises the float NaN first, so the sign is not kept).
 *
 * <p>Widening is exact and uses a 256-entry table per format. Every NaN pattern widens to the
 * positive {@link Float#NaN}: like {@code __nv_cvt_fp8_to_halfraw}, which returns the fp16
 * canonical NaN {@code 0x7FFF} and discards the sign.
 */
public final class Fp8 {
    private Fp8() {}

    /** The canonical NaN that narrowing produces for both formats. */
    public static final byte CANONICAL_NAN = 0x7F;
    public static final float E4M3_MAX = 448f;
    public static final float E5M2_MAX = 57344f;

    /**
     * The e4m3 scale of a group whose largest magnitude is {@code amax}: {@code amax / 448}, at least
     * {@code Float.MIN_NORMAL} (below amax ≈ 6e-43 the quotient underflows to 0, which would give
     * NaN codes and an infinite {@code 1 / s}); 1 for an all-zero group. NaN stays NaN and +∞ stays
     * +∞. The one copy of the rule on the host; CUDA's is {@code fp8_scale_of_amax} (hadacore_tc.cuh).
     */
    public static float e4m3Scale(float amax) {
        return amax == 0 ? 1f : Math.max(amax / E4M3_MAX, Float.MIN_NORMAL);
    }

    private static final float[] E4M3_TO_FLOAT = new float[256];
    private static final float[] E5M2_TO_FLOAT = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            E4M3_TO_FLOAT[b] = decode(b, 4, 3, 7, false);
            E5M2_TO_FLOAT[b] = decode(b, 5, 2, 15, true);
        }
    }

    /** The exact float value of an E4M3FN bit pattern ({@code S.1111.111} is NaN; no infinity). */
    public static float e4m3ToFloat(byte bits) {
        return E4M3_TO_FLOAT[bits & 0xFF];
    }

    /** The exact float value of an E5M2 bit pattern (IEEE-like: infinities and NaNs). */
    public static float e5m2ToFloat(byte bits) {
        return E5M2_TO_FLOAT[bits & 0xFF];
    }

    /** {@code x} rounded to the nearest E4M3FN value, ties to even. */
    public static byte floatToE4m3(float x, Fp8Overflow overflow) {
        int bits = Float.floatToRawIntBits(x);
        int abs = bits & 0x7FFFFFFF;
        int sign = (bits >>> 24) & 0x80;
        if (abs > 0x7F800000) {
            return CANONICAL_NAN;
        }
        // max + ulp/2 = 448 + 16 = 464: strictly above it overflows; 464 itself ties to 448 (even).
        if (abs > Float.floatToRawIntBits(464f)) {
            return (byte) (sign | (overflow == Fp8Overflow.SATURATE ? 0x7E : 0x7F));
        }
        return (byte) (sign | roundMagnitude(abs, 3, 7));
    }

    /** {@code x} rounded to the nearest E5M2 value, ties to even. */
    public static byte floatToE5m2(float x, Fp8Overflow overflow) {
        int bits = Float.floatToRawIntBits(x);
        int abs = bits & 0x7FFFFFFF;
        int sign = (bits >>> 24) & 0x80;
        if (abs > 0x7F800000) {
            return CANONICAL_NAN;
        }
        // max + ulp/2 = 57344 + 4096 = 61440: that tie goes to the even neighbour, which is
        // infinity's encoding (mantissa 00), so 61440 itself already overflows.
        if (abs >= Float.floatToRawIntBits(61440f)) {
            return (byte) (sign | (overflow == Fp8Overflow.SATURATE ? 0x7B : 0x7C));
        }
        return (byte) (sign | roundMagnitude(abs, 2, 15));
    }

    /** Round-trip helper: the E4M3 value a saturating store would keep. */
    public static float roundE4m3(float x) {
        return e4m3ToFloat(floatToE4m3(x, Fp8Overflow.SATURATE));
    }

    /** Round-trip helper: the E5M2 value a saturating store would keep. */
    public static float roundE5m2(float x) {
        return e5m2ToFloat(floatToE5m2(x, Fp8Overflow.SATURATE));
    }

    /**
     * Rounds a finite, non-overflowing float magnitude (raw bits, sign cleared) to the
     * exponent|mantissa field of a format with {@code mantBits} mantissa bits and bias
     * {@code bias}, ties to even. A carry out of the mantissa correctly bumps the exponent.
     */
    private static int roundMagnitude(int abs, int mantBits, int bias) {
        int floatExp = (abs >>> 23) - 127;
        int significand = (abs & 0x7FFFFF) | (abs >= 0x00800000 ? 0x800000 : 0);
        if (abs < 0x00800000) {
            floatExp = -126; // float subnormal: far below any fp8 subnormal, rounds to zero below
        }
        int minNormalExp = 1 - bias;
        int shift; // how many low significand bits are dropped
        int kept;
        if (floatExp >= minNormalExp) {
            shift = 23 - mantBits;
            kept = ((floatExp + bias) << mantBits) | ((significand & 0x7FFFFF) >>> shift);
        } else {
            shift = 23 - mantBits + (minNormalExp - floatExp);
            if (shift > 25) {
                return 0; // below half the smallest subnormal: rounds to zero
            }
            kept = significand >>> shift;
        }
        int dropped = significand & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (dropped > half || (dropped == half && (kept & 1) != 0)) {
            kept++;
        }
        return kept;
    }

    private static float decode(int b, int expBits, int mantBits, int bias, boolean hasInfinity) {
        int sign = (b >>> 7) & 1;
        int exp = (b >>> mantBits) & ((1 << expBits) - 1);
        int mant = b & ((1 << mantBits) - 1);
        int maxExp = (1 << expBits) - 1;
        boolean nan = exp == maxExp && (hasInfinity ? mant != 0 : mant == (1 << mantBits) - 1);
        if (nan) {
            return Float.NaN; // positive: CUDA's fp8 -> half gives the canonical NaN and discards the sign
        }
        float magnitude;
        if (hasInfinity && exp == maxExp) {
            magnitude = Float.POSITIVE_INFINITY;
        } else if (exp == 0) {
            magnitude = Math.scalb((float) mant, 1 - bias - mantBits);
        } else {
            magnitude = Math.scalb((float) ((1 << mantBits) | mant), exp - bias - mantBits);
        }
        return sign == 1 ? -magnitude : magnitude;
    }
}
