package org.offload4j.core.numerics;

/**
 * IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits.
 *
 * <p>Both directions delegate to {@link Float#floatToFloat16} and {@link Float#float16ToFloat}
 * (IEEE 754 round to nearest, ties to even; overflow to infinity; NaN kept), which HotSpot
 * compiles to the hardware conversion instructions. The exhaustive tests check them against
 * an independent rounding written on {@code double}.
 */
public final class Fp16 {
    private Fp16() {}

    /** The exact float value of the fp16 bit pattern in the low 16 bits of {@code bits}. */
    public static float toFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** {@code x} rounded to the nearest fp16, ties to even. */
    public static short fromFloat(float x) {
        return Float.floatToFloat16(x);
    }

    /** {@code x} rounded to fp16 and widened back. */
    public static float round(float x) {
        return toFloat(fromFloat(x));
    }
}
