package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp64;

class W4A16ReferenceTest {

    /** A 2×16 · 16×8 product worked by hand: one group, W[kk, j] = (kk mod 16 - z_j)·s_j. */
    @Test
    void smallProductByHand() {
        try (Tensor qweight = Tensor.allocate(DType.INT32, 2, 8);
             Tensor qzeros = Tensor.allocate(DType.INT32, 1, 1);
             Tensor scales = Tensor.allocate(DType.FP32, 1, 8);
             Tensor x = Tensor.allocate(DType.BF16, 2, 16);
             Tensor bias = Tensor.allocate(DType.FP32, 8)) {
            for (int j = 0; j < 8; j++) {
                qweight.setInt(0, j, 0x76543210);
                qweight.setInt(1, j, 0xFEDCBA98);
                scales.setFloat(0, j, 0.25f * (j + 1));
                bias.setFloat(0, j, j);
            }
            qzeros.setInt(0, 0, 0x76543210); // z_j = j
            for (int kk = 0; kk < 16; kk++) {
                x.setFloat(0, kk, 1);
                x.setFloat(1, kk, kk == 3 ? 2 : 0);
            }
            QuantizedWeight w = QuantizedWeight.wrap(16, 8, 16, qweight, qzeros, scales);
            double[] p = W4A16Reference.product(x, w, bias);
            for (int j = 0; j < 8; j++) {
                double s = 0.25 * (j + 1);
                // row 0: sum over kk of (kk - j)·s = (120 - 16 j)·s; row 1: 2·(3 - j)·s
                assertEquals((120 - 16 * j) * s + j, p[j], 0.0);
                assertEquals(2 * (3 - j) * s + j, p[8 + j], 0.0);
            }
            p = W4A16Reference.product(x, w, null);
            assertEquals(120 * 0.25, p[0], 0.0);
        }
    }

    /** Rounding to bf16 happens once: a value just above a bf16 midpoint rounds up, not to even. */
    @Test
    void roundsOnceNotTwice() {
        double v = 1 + 0x1p-8 + 0x1p-30; // float rounding alone would make this an exact tie
        float f = Fp64.toFloatRoundedToOdd(v);
        assertEquals(1 + 0x1p-7, Bf16.round(f), 0.0);
        assertEquals(1.0f, Bf16.round((float) v), 0.0, "the double rounding this avoids");
        assertEquals(0.5f, Fp64.toFloatRoundedToOdd(0.5), 0.0);
        assertEquals(Float.MAX_VALUE, Fp64.toFloatRoundedToOdd(1e300), 0.0);
        assertEquals(Float.NEGATIVE_INFINITY, Fp64.toFloatRoundedToOdd(Double.NEGATIVE_INFINITY), 0.0);
    }

    @Test
    void matmulWritesRoundedProduct() {
        try (QuantizedWeight w = TestWeights.random(64, 16, 32, false, DType.FP16, 5);
             Tensor x = org.offload4j.core.TensorFill.gaussian(Tensor.allocate(DType.FP16, 3, 64), 6, 1);
             Tensor y = Tensor.allocate(DType.FP16, 3, 16)) {
            W4A16Reference.matmul(x, w, null, y);
            double[] p = W4A16Reference.product(x, w, null);
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 16; j++) {
                    assertEquals(org.offload4j.core.numerics.Fp16.round((float) p[i * 16 + j]), y.getFloat(i, j), 1e-3 * Math.abs(p[i * 16 + j]));
                }
            }
        }
    }
}
