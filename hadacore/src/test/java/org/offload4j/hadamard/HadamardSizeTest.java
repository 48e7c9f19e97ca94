package org.offload4j.hadamard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class HadamardSizeTest {

    @ParameterizedTest
    @CsvSource({
        "2, 1, 2", "4, 1, 4", "128, 1, 128", "32768, 1, 32768",
        "12, 12, 1", "24, 12, 2", "24576, 12, 2048",
        "20, 20, 1",
        "40, 40, 1", "80, 40, 2", "10240, 40, 256", "20480, 40, 512",
        "28, 28, 1", "28672, 28, 1024"})
    void factorsAsDocumented(int d, int m, int n) {
        HadamardSize s = HadamardSize.of(d);
        assertEquals(d, s.d());
        assertEquals(m, s.m());
        assertEquals(n, s.n());
        assertEquals(Integer.numberOfTrailingZeros(n), s.log2n());
        assertEquals(m == 1, s.isPowerOfTwo());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3, 5, 6, 10, 14, 36, 60, 48 * 1024, 40 * 1024, 65536, -4, Integer.MIN_VALUE})
    void rejectsWithAMessageNamingDAndTheAcceptedSizes(int d) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HadamardSize.of(d));
        assertTrue(e.getMessage().startsWith("d = " + d + " "), e.getMessage());
        assertTrue(e.getMessage().contains(HadamardSize.ACCEPTED), e.getMessage());
        assertFalse(HadamardSize.isSupported(d));
    }

    @Test
    void theAcceptedSetIsExactlyTheDocumentedOne() {
        TreeSet<Integer> expected = new TreeSet<>();
        for (int d = 2; d <= HadamardSize.MAX_D; d *= 2) {
            expected.add(d);
        }
        for (int m : HadamardMatrices.SPECIAL_ORDERS) {
            for (int d = m; d <= HadamardSize.MAX_D; d *= 2) {
                expected.add(d);
            }
        }
        TreeSet<Integer> accepted = new TreeSet<>();
        for (int d = -1; d <= 2 * HadamardSize.MAX_D; d++) {
            if (HadamardSize.isSupported(d)) {
                accepted.add(d);
                HadamardSize s = HadamardSize.of(d);
                assertEquals(d, s.m() * s.n());
            }
        }
        assertEquals(expected, accepted);
        assertFalse(HadamardSize.isSupported(Long.MAX_VALUE));
        assertFalse(HadamardSize.isSupported(1L << 32 | 64));
    }
}
