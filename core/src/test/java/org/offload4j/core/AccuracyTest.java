package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AccuracyTest {

    @Test
    void relativeL2() {
        assertEquals(0.0, Accuracy.relativeL2(new double[] {3, 4}, new double[] {3, 4}));
        assertEquals(1.0, Accuracy.relativeL2(new double[] {3, 4}, new double[] {0, 0}));
        assertEquals(0.2, Accuracy.relativeL2(new double[] {3, 4}, new double[] {3, 3}), 1e-15);
        assertEquals(5.0, Accuracy.relativeL2(new double[] {0, 0}, new double[] {3, 4}), 0.0, "all-zero reference: absolute norm");
        assertTrue(Double.isNaN(Accuracy.relativeL2(new double[] {1, 2}, new double[] {1, Double.NaN})));
        assertTrue(Double.isNaN(Accuracy.relativeL2(new double[] {1, 2}, new double[] {Double.POSITIVE_INFINITY, 2})));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Accuracy.relativeL2(new double[2], new double[3]));
        assertTrue(e.getMessage().contains("2") && e.getMessage().contains("3"), e.getMessage());
    }

    @Test
    void againstATensor() {
        try (Tensor t = Tensor.of(DType.BF16, new float[] {1f, 2f, 3f, 4f}, 2, 2)) {
            assertEquals(0.0, Accuracy.relativeL2(new double[] {1, 2, 3, 4}, t));
            assertEquals(-1, Accuracy.firstNonFinite(t));
            t.setFloat(1, 0, Float.NaN);
            assertEquals(2, Accuracy.firstNonFinite(t));
            assertTrue(Double.isNaN(Accuracy.relativeL2(new double[] {1, 2, 3, 4}, t)));
        }
    }
}
