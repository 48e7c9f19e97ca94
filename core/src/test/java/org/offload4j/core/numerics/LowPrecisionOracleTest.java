package org.offload4j.core.numerics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.LowPrecisionOracle.Overflow;

/**
 * Checks of the test oracle itself against published constants of the formats (IEEE 754
 * binary16, bfloat16, OCP FP8 E4M3FN / E5M2), so that a wrong oracle cannot silently bless a
 * wrong converter.
 */
class LowPrecisionOracleTest {

    private static final LowPrecisionOracle BF16 = LowPrecisionOracle.of(LowPrecisionOracle.BF16);
    private static final LowPrecisionOracle FP16 = LowPrecisionOracle.of(LowPrecisionOracle.FP16);
    private static final LowPrecisionOracle E4M3 = LowPrecisionOracle.of(LowPrecisionOracle.E4M3FN);
    private static final LowPrecisionOracle E5M2 = LowPrecisionOracle.of(LowPrecisionOracle.E5M2);

    @Test
    void countsOfFiniteValues() {
        assertEquals(32768 - 128, BF16.finiteNonNegativeCount(), "bf16: exponent 255 holds 128 inf/NaN patterns");
        assertEquals(32768 - 1024, FP16.finiteNonNegativeCount());
        assertEquals(127, E4M3.finiteNonNegativeCount(), "e4m3fn: only 0x7F is not finite");
        assertEquals(124, E5M2.finiteNonNegativeCount());
    }

    @Test
    void extremesMatchTheSpecifications() {
        assertEquals(0x1.FEp127, BF16.max());
        assertEquals(0x1p-133, BF16.minSubnormal());
        assertEquals(65504.0, FP16.max());
        assertEquals(0x1p-24, FP16.minSubnormal());
        assertEquals(448.0, E4M3.max());
        assertEquals(0x1p-9, E4M3.minSubnormal());
        assertEquals(0x7E, E4M3.maxCode());
        assertEquals(480.0, E4M3.beyondMax());
        assertEquals(57344.0, E5M2.max());
        assertEquals(0x1p-16, E5M2.minSubnormal());
        assertEquals(0x7B, E5M2.maxCode());
        assertEquals(65536.0, E5M2.beyondMax());
    }

    @Test
    void encodingsAreOrderedLikeTheirValues() {
        for (LowPrecisionOracle o : new LowPrecisionOracle[] {BF16, FP16, E4M3, E5M2}) {
            for (int i = 0; i < o.finiteNonNegativeCount(); i++) {
                assertEquals(i, o.code(i), o.format() + " value #" + i);
            }
        }
    }

    @Test
    void specialEncodings() {
        assertTrue(E4M3.isNaN(0x7F));
        assertTrue(E4M3.isNaN(0xFF));
        assertEquals(-448.0, E4M3.decode(0xFE));
        assertEquals(Double.POSITIVE_INFINITY, E5M2.decode(0x7C));
        assertEquals(Double.NEGATIVE_INFINITY, E5M2.decode(0xFC));
        for (int b : new int[] {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
            assertTrue(E5M2.isNaN(b), Integer.toHexString(b));
        }
        assertEquals(Double.POSITIVE_INFINITY, FP16.decode(0x7C00));
        assertTrue(FP16.isNaN(0x7C01));
        assertEquals(Double.NEGATIVE_INFINITY, BF16.decode(0xFF80));
        assertTrue(BF16.isNaN(0xFF81));
        assertEquals(1.0, E4M3.decode(0x38));
        assertEquals(1.0, E5M2.decode(0x3C));
        assertEquals(1.0, FP16.decode(0x3C00));
        assertEquals(1.0, BF16.decode(0x3F80));
        assertEquals(Double.doubleToRawLongBits(-0.0), Double.doubleToRawLongBits(E4M3.decode(0x80)));
    }

    @Test
    void textbookRoundings() {
        // e4m3 between 16 (0x58) and 18 (0x59): 17 ties to the even 16, 17.0001 goes up
        assertEquals(0x58, E4M3.round(17f, Overflow.SATURATE));
        assertEquals(0x59, E4M3.round(17.01f, Overflow.SATURATE));
        assertEquals(0x5A, E4M3.round(19f, Overflow.SATURATE), "19 ties between 18 (0x59) and 20 (0x5A)");
        assertEquals(0x7E, E4M3.round(464f, Overflow.NO_SATURATE), "448 + ulp/2 ties to the even 448");
        assertEquals(0x7F, E4M3.round(464.0001f, Overflow.NO_SATURATE));
        assertEquals(0xFE, E4M3.round(-1e9f, Overflow.SATURATE));
        assertEquals(0x7C, E5M2.round(61440f, Overflow.NO_SATURATE), "57344 + ulp/2 ties to infinity's even encoding");
        assertEquals(0x7B, E5M2.round(61440f, Overflow.SATURATE));
        assertEquals(0x80, E5M2.round(-0x1p-17f, Overflow.SATURATE), "half the smallest subnormal goes to -0");
        assertEquals(0x7F, E5M2.round(Float.NaN, Overflow.SATURATE));
        assertEquals(LowPrecisionOracle.ANY_NAN, FP16.round(Float.NaN, Overflow.INFINITY));
        assertEquals(0x7C00, FP16.round(65520f, Overflow.INFINITY));
        assertEquals(0xFC00, FP16.round(Float.NEGATIVE_INFINITY, Overflow.INFINITY));
        assertEquals(0x3C01, FP16.round(1f + 0x1p-10f, Overflow.INFINITY));
        assertEquals(0x8000, BF16.round(-0f, Overflow.INFINITY));
    }
}
