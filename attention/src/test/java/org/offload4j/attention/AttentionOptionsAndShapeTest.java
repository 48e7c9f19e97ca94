package org.offload4j.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

class AttentionOptionsAndShapeTest {

    @Test
    void optionDefaultsAndWithers() {
        AttentionOptions d = AttentionOptions.defaults();
        assertFalse(d.causal());
        assertTrue(Float.isNaN(d.scale()));
        assertEquals(ScaleGranularity.PER_TENSOR, d.granularity());
        assertNull(d.rotation());
        assertEquals(0.125f, d.resolvedScale(64));
        assertEquals((float) (1 / Math.sqrt(128)), d.resolvedScale(128));
        QkRotation r = (in, out) -> { };
        AttentionOptions o = d.withCausal(true).withScale(0.5f).withGranularity(ScaleGranularity.PER_HEAD).withRotation(r);
        assertTrue(o.causal());
        assertEquals(0.5f, o.resolvedScale(64));
        assertEquals(ScaleGranularity.PER_HEAD, o.granularity());
        assertSame(r, o.rotation());
        assertTrue(Float.isNaN(o.withScale(Float.NaN).scale()));
        assertThrows(IllegalArgumentException.class, () -> d.withScale(Float.NEGATIVE_INFINITY));
    }

    /** The causal pair count against a count of the mask itself (key j visible to query i iff j ≤ i + Skv − Sq). */
    @Test
    void causalFlopsCountTheVisiblePairs() {
        int[][] lengths = {{1, 1}, {1, 4096}, {7, 7}, {5, 3}, {3, 5}, {256, 1024}, {1024, 256}, {17, 0}, {0, 9}};
        for (int[] l : lengths) {
            AttentionShape s = new AttentionShape(2, 4, 2, l[0], l[1], 64);
            long visible = 0;
            for (int i = 0; i < l[0]; i++) {
                for (int j = 0; j < l[1]; j++) {
                    visible += j <= i + s.keyOffset() ? 1 : 0;
                }
            }
            assertEquals(4.0 * 2 * 4 * 64 * visible, s.flops(true), "Sq=" + l[0] + " Skv=" + l[1]);
            assertEquals(4.0 * 2 * 4 * 64 * l[0] * l[1], s.flops(false));
        }
    }

    @Test
    void shapeDerivedQuantities() {
        AttentionShape s = new AttentionShape(1, 8, 2, 1024, 1024, 128);
        assertEquals(4, s.groupSize());
        assertEquals(0, s.kvHead(3));
        assertEquals(1, s.kvHead(4));
        assertEquals(0, s.keyOffset());
        assertEquals(4.0 * 8 * 1024 * 1024 * 128, s.flops(false));
        assertEquals(4.0 * 8 * (1024 * 1025 / 2) * 128, s.flops(true), "the diagonal counts: Sq·(Sq + 1)/2 pairs");
        assertEquals(-2, new AttentionShape(1, 1, 1, 5, 3, 64).keyOffset());
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 6, 4, 1, 1, 64));
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(0, 1, 1, 1, 1, 64));
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 1, 1, -1, 1, 64));
    }

    @Test
    void channelOutliersScaleWholeColumns() {
        try (Tensor t = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 8, 64), 5, 1.0);
             Tensor u = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 1, 4, 64), 6, 1.0)) {
            float[] before = t.toFloatArray();
            int[] cols = AccuracyReport.addChannelOutliers(t, 42, 3, 20, 100);
            assertEquals(3, cols.length);
            assertEquals(3, Arrays.stream(cols).distinct().count());
            int[] same = AccuracyReport.addChannelOutliers(u, 42, 3, 20, 100);
            assertEquals(Arrays.toString(cols), Arrays.toString(same), "the same seed picks the same channels");
            float[] after = t.toFloatArray();
            for (int col : cols) {
                double ratio = Math.abs(after[col] / before[col]);
                assertTrue(ratio >= 19.5 && ratio <= 100.5, "factor " + ratio);
                for (int r = 0; r < 16; r++) {
                    assertEquals(ratio, Math.abs(after[r * 64 + col] / before[r * 64 + col]), ratio * 1e-2);
                }
            }
            for (int c = 0; c < 64; c++) {
                if (Arrays.binarySearch(cols, c) < 0) {
                    assertEquals(before[c], after[c]);
                }
            }
            assertThrows(IllegalArgumentException.class, () -> AccuracyReport.addChannelOutliers(t, 1, 65, 20, 100));
            assertThrows(IllegalArgumentException.class, () -> AccuracyReport.addChannelOutliers(t, 1, 2, 0, 100));
            assertThrows(IllegalArgumentException.class, () -> AccuracyReport.addChannelOutliers(t, 1, 2, 50, 20));
        }
    }
}
