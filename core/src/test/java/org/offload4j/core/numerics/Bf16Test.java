package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** {@link Bf16} against the oracle (the shared checks are in {@link SixteenBitFormatContract}). */
class Bf16Test extends SixteenBitFormatContract {

    @Override
    LowPrecisionOracle.Format format() {
        return LowPrecisionOracle.BF16;
    }

    @Override
    float widen(short bits) {
        return Bf16.toFloat(bits);
    }

    @Override
    short narrow(float x) {
        return Bf16.fromFloat(x);
    }

    @Override
    float roundTrip(float x) {
        return Bf16.round(x);
    }

    @Test
    void widenedBitsAreTheUpperHalfOfTheFloat() {
        for (int b = 0; b < 0x10000; b++) {
            int raw = Float.floatToRawIntBits(Bf16.toFloat((short) b));
            if (raw != b << 16) {
                assertEquals(b << 16, raw, String.format("bf16 0x%04x", b));
            }
        }
    }

    @Test
    void knownValues() {
        assertEquals((short) 0x3F80, Bf16.fromFloat(1f));
        assertEquals((short) 0xC000, Bf16.fromFloat(-2f));
        assertEquals((short) 0x4049, Bf16.fromFloat((float) Math.PI)); // 3.140625
        assertEquals(3.140625f, Bf16.round((float) Math.PI));
        assertEquals(Float.intBitsToFloat(0x7F7F0000), (float) oracle().max());
        assertEquals(0x1p-133, oracle().minSubnormal());
        // 1 + 2^-8 is the tie between 1 and 1 + 2^-7: goes to the even 1
        assertEquals((short) 0x3F80, Bf16.fromFloat(1f + 0x1p-8f));
        assertEquals((short) 0x3F82, Bf16.fromFloat(1f + 3 * 0x1p-8f));
    }

    /**
     * The documented NaN rule: quiet, sign kept. (CUDA's host {@code __float2bfloat16_rn} answers
     * the canonical {@code 0x7FFF} for every NaN instead; both are NaN.)
     */
    @Test
    void nanIsQuietAndKeepsItsSign() {
        assertEquals((short) 0x7FC0, Bf16.fromFloat(Float.intBitsToFloat(0x7FC00000)));
        assertEquals((short) 0xFFC0, Bf16.fromFloat(Float.intBitsToFloat(0xFFC00000)));
        // a signalling NaN whose payload sits only in the low 16 bits must not truncate to infinity
        assertEquals((short) 0x7FC0, Bf16.fromFloat(Float.intBitsToFloat(0x7F800001)));
        assertEquals((short) 0xFFC0, Bf16.fromFloat(Float.intBitsToFloat(0xFF800001)));
    }
}
