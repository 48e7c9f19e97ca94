package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class FatbinInfoTest {
    private static byte[] sample() throws Exception {
        try (InputStream in = FatbinInfoTest.class.getResourceAsStream("sample.fatbin")) {
            return in.readAllBytes();
        }
    }

    @Test
    void listsTheSassAndPtxOfAFatbinNvccMade() throws Exception {
        // sample.fatbin.txt: sm_80 and sm_90a SASS, compute_90 PTX.
        assertEquals(List.of("sm_80", "sm_90a", "compute_90"),
                FatbinInfo.parse(sample()).stream().map(FatbinInfo.Entry::toString).toList());
    }

    @Test
    void concatenatedBlocksAndTrailingPaddingAreRead() throws Exception {
        byte[] one = sample();
        byte[] two = Arrays.copyOf(one, 2 * one.length + 8);
        System.arraycopy(one, 0, two, one.length, one.length);
        assertEquals(6, FatbinInfo.parse(two).size());
    }

    @Test
    void otherBytesAndTruncatedFatbinsAreRejected() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FatbinInfo.parse(new byte[64]));
        assertTrue(e.getMessage().contains("not a fatbin"), e.getMessage());
        byte[] cut = Arrays.copyOf(sample(), 1000);
        e = assertThrows(IllegalArgumentException.class, () -> FatbinInfo.parse(cut));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void withoutAFatbinResourceTheLineSaysSo() throws Exception {
        ClassLoader empty = new ClassLoader(null) {};
        assertTrue(FatbinInfo.describe(empty).startsWith("fatbin:  none ("), FatbinInfo.describe(empty));
    }
}
