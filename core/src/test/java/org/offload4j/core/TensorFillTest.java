package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class TensorFillTest {

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16", "FP8_E4M3FN", "FP8_E5M2"})
    void poisonMakesEveryElementNaN(DType t) {
        try (Tensor x = Tensor.allocate(t, 3, 7)) {
            TensorFill.gaussian(x, 11, 1.0);
            assertFalse(TensorFill.hasPoison(x));
            TensorFill.poison(x);
            float[] v = x.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                assertTrue(Float.isNaN(v[i]), t + " element " + i + " is " + v[i] + " after poison");
            }
            assertTrue(TensorFill.hasPoison(x));
            assertEquals(0, Accuracy.firstNonFinite(x));
            // one element written afterwards is found as the only finite one; the others still count
            x.setFloat(0, 0, 1f);
            assertTrue(TensorFill.hasPoison(x));
            assertEquals(1, Accuracy.firstNonFinite(x));
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16", "FP8_E4M3FN", "FP8_E5M2"})
    void poisonTouchesOnlyTheRowsOfAStridedTensor(DType t) {
        try (Arena arena = Arena.ofConfined()) {
            int rows = 3;
            int cols = 5;
            int stride = 8;
            MemorySegment seg = arena.allocate(t.byteSize(rows * stride));
            Tensor flat = Tensor.wrap(seg, t, new long[] {rows * stride});
            for (int k = 0; k < rows * stride; k++) {
                flat.setFloat(0, k, 2f);
            }
            Tensor x = Tensor.wrapStrided(seg, t, stride, new long[] {rows, cols});
            TensorFill.poison(x);
            for (int k = 0; k < rows * stride; k++) {
                float v = flat.getFloat(0, k);
                if (k % stride < cols) {
                    assertTrue(Float.isNaN(v), t + " element " + k + " not poisoned");
                } else {
                    assertEquals(2f, v, t + " gap element " + k + " was poisoned");
                }
            }
        }
    }

    @Test
    void poisonCheckNeedsAFloatTensor() {
        try (Tensor q = Tensor.allocate(DType.INT4, 4); Tensor i = Tensor.allocate(DType.INT32, 4)) {
            TensorFill.poison(i);
            assertArrayEquals(new float[] {-1, -1, -1, -1}, i.toFloatArray(), "0xFFFFFFFF");
            TensorFill.poison(q);
            assertArrayEquals(new float[] {15, 15, 15, 15}, q.toFloatArray());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TensorFill.hasPoison(q));
            assertTrue(e.getMessage().contains("int4"), e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void gaussianIsDeterministicPerSeedAndRepresentable(DType t) {
        try (Tensor a = Tensor.allocate(t, 16, 64); Tensor b = Tensor.allocate(t, 16, 64); Tensor c = Tensor.allocate(t, 16, 64)) {
            TensorFill.gaussian(a, 42, 0.5);
            TensorFill.gaussian(b, 42, 0.5);
            TensorFill.gaussian(c, 43, 0.5);
            assertArrayEquals(a.toFloatArray(), b.toFloatArray(), "same seed, same contents");
            assertFalse(Arrays.equals(a.toFloatArray(), c.toFloatArray()), "another seed, other contents");
            for (float v : a.toFloatArray()) {
                assertTrue(Float.isFinite(v));
                if (t == DType.INT4) {
                    assertTrue(v >= 0 && v <= 15, "int4 value " + v);
                }
            }
        }
    }

    @Test
    void gaussianHasTheRequestedSpread() {
        try (Tensor x = Tensor.allocate(DType.FP32, 64, 256)) {
            TensorFill.gaussian(x, 7, 3.0);
            double sum = 0;
            double sumSq = 0;
            float[] v = x.toFloatArray();
            for (float f : v) {
                sum += f;
                sumSq += (double) f * f;
            }
            double mean = sum / v.length;
            double std = Math.sqrt(sumSq / v.length - mean * mean);
            // 16384 samples: the standard error of the mean is 3/128, of the std about 3/181
            assertEquals(0.0, mean, 0.1, "mean (seed 7)");
            assertEquals(3.0, std, 0.1, "std (seed 7)");
        }
    }

    @Test
    void gaussianSampleIsStandardNormal() {
        SplittableRandom rnd = new SplittableRandom(3);
        int n = 1 << 16;
        int within1 = 0;
        int within2 = 0;
        for (int i = 0; i < n; i++) {
            double g = Math.abs(TensorFill.gaussian(rnd));
            within1 += g < 1 ? 1 : 0;
            within2 += g < 2 ? 1 : 0;
        }
        // P(|Z| < 1) = 0.6827, P(|Z| < 2) = 0.9545; 4 standard errors at n = 65536 are below 0.008
        assertEquals(0.6827, within1 / (double) n, 0.008, "seed 3");
        assertEquals(0.9545, within2 / (double) n, 0.008, "seed 3");
    }
}
