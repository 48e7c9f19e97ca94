package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VectorGemmProbeTest {

    @Test
    void multiplyMatchesANaiveProduct() {
        SplittableRandom rnd = new SplittableRandom(9);
        int n = 2 * VectorGemmProbe.columnMultiple();
        for (int[] mk : new int[][] {{1, 1}, {7, 300}, {101, 17}}) { // row tails, k beyond one slice, m beyond one block
            int m = mk[0];
            int k = mk[1];
            float[] a = new float[m * k];
            float[] b = new float[k * n];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) rnd.nextGaussian();
            }
            float[] c = new float[m * n];
            VectorGemmProbe.multiply(a, b, c, m, n, k);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int kk = 0; kk < k; kk++) {
                        s += (double) a[i * k + kk] * b[kk * n + j];
                    }
                    assertEquals(s, c[i * n + j], 1e-4 * Math.sqrt(k) * 4, "m=" + m + " k=" + k + " (" + i + ", " + j + ")");
                }
            }
        }
    }

    @Test
    void rateIsPositiveAndBadSizesAreRejected() {
        assertTrue(VectorGemmProbe.flopsPerSecond(2 * VectorGemmProbe.columnMultiple(), 0, 1) > 0);
        assertThrows(IllegalArgumentException.class, () -> VectorGemmProbe.multiply(new float[4], new float[4], new float[4], 2, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> VectorGemmProbe.flopsPerSecond(64, 0, 0));
    }
}
