package org.offload4j.core.numerics;

import java.util.SplittableRandom;

/**
 * Seeded float inputs for the random comparisons against {@link LowPrecisionOracle}.
 *
 * <p>A uniform draw over the 2^32 bit patterns gives every exponent the same weight, so it
 * mostly lands far outside an fp8 format's range; half of the samples are therefore drawn
 * around the target format instead (exponents from below its smallest subnormal to above its
 * largest value), and a quarter of those have their low mantissa bits cleared, which puts them
 * exactly on representable values and midpoints, where the ties are decided.
 */
final class FloatSamples {
    private FloatSamples() {}

    /** The seed used unless {@code -Doffload4j.seed=…} gives another; failure messages print it. */
    static final long SEED = Long.getLong("offload4j.seed", 0x0ff10ad4L);

    static float[] draw(LowPrecisionOracle.Format format, long seed, int count) {
        SplittableRandom rnd = new SplittableRandom(seed);
        LowPrecisionOracle oracle = LowPrecisionOracle.of(format);
        int lowExp = Math.getExponent(oracle.minSubnormal()) - 3;
        int highExp = Math.getExponent(oracle.max()) + 2;
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            int bits;
            if ((i & 1) == 0) {
                bits = rnd.nextInt();
            } else {
                int exp = rnd.nextInt(lowExp, highExp + 1);
                int biased = Math.clamp(exp + 127, 0, 254);
                int mantissa = rnd.nextInt(1 << 23);
                if ((i & 7) == 1) {
                    // keep the format's mantissa bits plus one: exact values and exact midpoints
                    mantissa &= ~((1 << (23 - format.mantBits() - 1)) - 1);
                }
                bits = (rnd.nextBoolean() ? 0x80000000 : 0) | (biased << 23) | mantissa;
            }
            out[i] = Float.intBitsToFloat(bits);
        }
        return out;
    }
}
