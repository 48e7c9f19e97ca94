package org.offload4j.core.numerics;

/**
 * float64 → float32 for a second rounding to a narrower format.
 *
 * <p>Rounding a double to the nearest float and then that float to the nearest bf16, fp16 or fp8
 * can round the wrong way twice: {@code 1 + 2^−8 + 2^−30} lies above the bf16 midpoint
 * {@code 1 + 2^−8}, so it rounds up to {@code 1 + 2^−7}; but the float rounding drops the
 * {@code 2^−30}, and the bf16 rounding then breaks the tie to the even {@code 1}. Rounding to
 * odd instead (the float next to {@code x} toward zero, its last bit set when {@code x} is not a
 * float) keeps the fact that {@code x} was not exact, and then one rounding to nearest-even to any
 * format with at least two significant bits fewer than float's 24 gives what rounding {@code x}
 * once would (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms
 * using rounding to odd", IEEE Trans. Computers, 2008). bf16 keeps 8, fp16 11, fp8 at most 4.
 */
public final class Fp64 {
    private Fp64() {}

    /**
     * {@code x} rounded to odd: {@code x} itself where it is a float (infinities and zeros
     * included), NaN for NaN, else the float next to {@code x} toward zero with its last mantissa
     * bit set (±{@link Float#MAX_VALUE} beyond the float range, ±{@link Float#MIN_VALUE} below it).
     * Not for a float32 result: round that with a cast, to nearest-even.
     */
    public static float toFloatRoundedToOdd(double x) {
        float f = (float) x;
        if (f == x || Double.isNaN(x)) {
            return f;
        }
        if (Math.abs((double) f) > Math.abs(x)) {
            f = Math.nextAfter(f, 0.0); // the cast rounded away from zero (an infinity becomes ±MAX_VALUE)
        }
        return Float.intBitsToFloat(Float.floatToRawIntBits(f) | 1);
    }
}
