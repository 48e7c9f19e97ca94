package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** {@link Fp16} against the oracle (the shared checks are in {@link SixteenBitFormatContract}). */
class Fp16Test extends SixteenBitFormatContract {

    @Override
    LowPrecisionOracle.Format format() {
        return LowPrecisionOracle.FP16;
    }

    @Override
    float widen(short bits) {
        return Fp16.toFloat(bits);
    }

    @Override
    short narrow(float x) {
        return Fp16.fromFloat(x);
    }

    @Override
    float roundTrip(float x) {
        return Fp16.round(x);
    }

    @Test
    void knownValues() {
        assertEquals((short) 0x3C00, Fp16.fromFloat(1f));
        assertEquals((short) 0xC000, Fp16.fromFloat(-2f));
        assertEquals((short) 0x7BFF, Fp16.fromFloat(65504f));
        assertEquals(65504.0, oracle().max());
        assertEquals(0x1p-24, oracle().minSubnormal());
        assertEquals((short) 0x7C00, Fp16.fromFloat(65520f), "65504 + ulp/2 overflows");
        assertEquals((short) 0x7BFF, Fp16.fromFloat(Math.nextDown(65520f)));
        assertEquals((short) 0x3C00, Fp16.fromFloat(1f + 0x1p-11f), "the tie above 1 goes to the even 1");
        assertEquals((short) 0x3C02, Fp16.fromFloat(1f + 3 * 0x1p-11f), "the tie above 1 + ulp goes up to even");
        assertEquals(0x1p-24f, Fp16.toFloat((short) 0x0001));
        assertEquals(0x1p-14f, Fp16.toFloat((short) 0x0400));
    }
}
