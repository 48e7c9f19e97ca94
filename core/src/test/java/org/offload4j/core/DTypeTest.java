package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class DTypeTest {

    @ParameterizedTest
    @CsvSource({
        "fp32, FP32", "bf16, BF16", "fp16, FP16", "fp8_e4m3, FP8_E4M3FN", "fp8_e5m2, FP8_E5M2", "int4, INT4", "int32, INT32",
        "BF16, BF16", "Fp8_E4m3, FP8_E4M3FN", "fp8_e4m3fn, FP8_E4M3FN", "FP8_E5M2, FP8_E5M2", "Int32, INT32"
    })
    void parsesShortAndEnumNamesIgnoringCase(String name, DType expected) {
        assertSame(expected, DType.parse(name));
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void everyTypeParsesBackFromBothItsNames(DType t) {
        assertSame(t, DType.parse(t.shortName()));
        assertSame(t, DType.parse(t.name()));
        assertSame(t, DType.parse(t.toString()));
        assertSame(t, DType.parse(t.shortName().toUpperCase(Locale.ROOT)));
        assertEquals(t.shortName(), t.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp64", "", "bfloat16", "e4m3", "int8", "fp8"})
    void unknownNamesAreRejectedWithTheAcceptedList(String name) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse(name));
        assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
        for (DType t : DType.values()) {
            assertTrue(e.getMessage().contains(t.shortName()), () -> e.getMessage() + " does not list " + t.shortName());
        }
    }

    @Test
    void nullIsRejectedWithTheAcceptedList() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse(null));
        assertTrue(e.getMessage().contains("dtype"), e.getMessage());
        assertTrue(e.getMessage().contains("fp8_e5m2"), e.getMessage());
    }

    @Test
    void bitsAndKinds() {
        assertEquals(32, DType.FP32.bits());
        assertEquals(16, DType.BF16.bits());
        assertEquals(16, DType.FP16.bits());
        assertEquals(8, DType.FP8_E4M3FN.bits());
        assertEquals(8, DType.FP8_E5M2.bits());
        assertEquals(4, DType.INT4.bits());
        assertEquals(32, DType.INT32.bits());
        for (DType t : new DType[] {DType.FP32, DType.BF16, DType.FP16, DType.FP8_E4M3FN, DType.FP8_E5M2}) {
            assertTrue(t.isFloatingPoint(), t.name());
        }
        assertFalse(DType.INT4.isFloatingPoint());
        assertFalse(DType.INT32.isFloatingPoint());
    }

    @Test
    void byteSize() {
        for (long n : new long[] {0, 1, 2, 3, 7, 8, 1023, 1L << 40}) {
            assertEquals(4 * n, DType.FP32.byteSize(n));
            assertEquals(2 * n, DType.BF16.byteSize(n));
            assertEquals(2 * n, DType.FP16.byteSize(n));
            assertEquals(n, DType.FP8_E4M3FN.byteSize(n));
            assertEquals(n, DType.FP8_E5M2.byteSize(n));
            assertEquals(4 * n, DType.INT32.byteSize(n));
            assertEquals((n + 1) / 2, DType.INT4.byteSize(n), "int4 rounds up to whole bytes, n = " + n);
        }
        assertEquals(1, DType.INT4.byteSize(1));
        assertEquals(2, DType.INT4.byteSize(3));
    }
}
