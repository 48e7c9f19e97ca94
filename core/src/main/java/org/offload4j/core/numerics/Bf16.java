package org.offload4j.core.numerics;

/**
 * bfloat16: 1 sign, 8 exponent, 7 mantissa bits, the upper half of an IEEE binary32.
 *
 * <p>Widening is exact (a shift). Narrowing rounds to nearest, ties to even, like CUDA's
 * {@code __float2bfloat16_rn}: finite values above the largest bf16 plus half an ulp become
 * infinity, NaN stays NaN (quiet, sign kept), subnormals are kept, not flushed.
 */
public final class Bf16 {
    private Bf16() {}

    /** The exact float value of the bf16 bit pattern in the low 16 bits of {@code bits}. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** {@code x} rounded to the nearest bf16, ties to even. */
    public static short fromFloat(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((bits >>> 16) | 0x0040); // quiet NaN; keeps the sign and top payload
        }
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** {@code x} rounded to bf16 and widened back: the value a bf16 store would keep. */
    public static float round(float x) {
        return toFloat(fromFloat(x));
    }
}
