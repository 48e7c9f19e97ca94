package org.offload4j.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;

class Fp8QuantizerTest {

    @Test
    void perTensorScaleIsAmaxOver448AndAmaxMapsTo448() {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 3, 5, 64), 1, 2.0)) {
            x.setFloat(17, 9, -37.5f); // the amax, negative
            try (Fp8Tensor q = Fp8Quantizer.quantize(x, ScaleGranularity.PER_TENSOR)) {
                assertEquals(ScaleGranularity.PER_TENSOR, q.granularity());
                float scale = q.scale(0, 0);
                assertEquals(37.5f / 448f, scale);
                assertEquals(-448f, q.data().getFloat(17, 9));
                checkRoundTrip(x, q);
            }
        }
    }

    @Test
    void perHeadScalesAreIndependent() {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 3, 4, 64), 2, 1.0)) {
            int loud = 4; // (b, h) = (1, 1): rows 16..19
            for (long r = loud * 4L; r < loud * 4L + 4; r++) {
                for (long c = 0; c < 64; c++) {
                    x.setFloat(r, c, x.getFloat(r, c) * 1000);
                }
            }
            try (Fp8Tensor q = Fp8Quantizer.quantize(x, ScaleGranularity.PER_HEAD)) {
                assertEquals(ScaleGranularity.PER_HEAD, q.granularity());
                assertEquals(2, q.scales().dim(0));
                assertEquals(3, q.scales().dim(1));
                for (int g = 0; g < 6; g++) {
                    float amax = 0;
                    for (long r = g * 4L; r < g * 4L + 4; r++) {
                        for (long c = 0; c < 64; c++) {
                            amax = Math.max(amax, Math.abs(x.getFloat(r, c)));
                        }
                    }
                    assertEquals(amax / 448f, q.scale(g / 3, g % 3), "group " + g);
                }
                assertTrue(q.scale(1, 1) > 100 * q.scale(0, 0));
                checkRoundTrip(x, q);
            }
        }
    }

    @Test
    void perHeadWithOneHeadStillHasShapeBH() {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 1, 3, 64), 3, 1.0);
             Fp8Tensor q = Fp8Quantizer.quantize(x, ScaleGranularity.PER_HEAD)) {
            assertEquals(2, q.scales().rank());
        }
    }

    @Test
    void allZeroGroupGetsScaleOneAndZeroCodes() {
        try (Tensor x = Tensor.allocate(DType.BF16, 1, 2, 3, 64)) {
            for (long c = 0; c < 64; c++) {
                x.setFloat(4, c, 1f); // head 1 only
            }
            try (Fp8Tensor q = Fp8Quantizer.quantize(x, ScaleGranularity.PER_HEAD)) {
                assertEquals(1f, q.scale(0, 0));
                assertEquals(1f / 448f, q.scale(0, 1));
                for (long r = 0; r < 3; r++) {
                    for (long c = 0; c < 64; c++) {
                        assertEquals(0, q.data().segment().get(ValueLayout.JAVA_BYTE, r * 64 + c));
                    }
                }
            }
        }
        assertEquals(1f, Fp8Quantizer.amaxScale(0f));
        // amax / 448 underflows to 0 below ~6e-43; the scale stops at the smallest normal float.
        assertEquals(Float.MIN_NORMAL, Fp8Quantizer.amaxScale(1e-44f));
        assertEquals(Float.MIN_NORMAL, Fp8Quantizer.amaxScale(Float.MIN_VALUE));
        assertEquals(Float.MIN_NORMAL * 4, Fp8Quantizer.amaxScale(448 * Float.MIN_NORMAL * 4));
        assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.amaxScale(-1f));
        assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.amaxScale(Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.amaxScale(Float.POSITIVE_INFINITY));
    }

    /**
     * The rotation hook: a signed permutation (orthonormal) is applied before quantization, so the
     * codes are those of the rotated rows; the caller's tensor is not modified.
     */
    @Test
    void rotationIsAppliedBeforeQuantization() {
        QkRotation reverseAndNegate = (in, out) -> {
            for (long r = 0; r < in.rows(); r++) {
                for (long c = 0; c < in.cols(); c++) {
                    out.setFloat(r, c, -in.getFloat(r, in.cols() - 1 - c));
                }
            }
        };
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 3, 64), 4, 1.0)) {
            float[] before = x.toFloatArray();
            try (Fp8Tensor plain = Fp8Quantizer.quantize(x, ScaleGranularity.PER_TENSOR);
                 Fp8Tensor rotated = Fp8Quantizer.quantize(x, ScaleGranularity.PER_TENSOR, reverseAndNegate)) {
                assertEquals(plain.scale(0, 0), rotated.scale(0, 0)); // a signed permutation keeps amax
                for (long r = 0; r < x.rows(); r++) {
                    for (long c = 0; c < 64; c++) {
                        assertEquals(-plain.data().getFloat(r, 63 - c), rotated.data().getFloat(r, c));
                    }
                }
            }
            assertEquals(java.util.Arrays.toString(before), java.util.Arrays.toString(x.toFloatArray()));
        }
    }

    @Test
    void rejectsBadInput() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fp8Quantizer.quantize(null, ScaleGranularity.PER_TENSOR));
        assertTrue(e.getMessage().contains("x must not be null"));
        try (Tensor f = Tensor.allocate(DType.FP32, 1, 1, 1, 64);
             Tensor r3 = Tensor.allocate(DType.BF16, 1, 1, 64);
             Tensor nan = Tensor.allocate(DType.BF16, 1, 2, 2, 64)) {
            e = assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantize(f, ScaleGranularity.PER_TENSOR));
            assertTrue(e.getMessage().contains("x has dtype fp32; expected bf16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantize(r3, ScaleGranularity.PER_TENSOR));
            assertTrue(e.getMessage().contains("rank 4"), e.getMessage());
            nan.setFloat(3, 5, Float.POSITIVE_INFINITY);
            e = assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantize(nan, ScaleGranularity.PER_HEAD));
            assertTrue(e.getMessage().contains("x holds a non-finite value, Infinity, at [0, 1, 1, 5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantize(r3, null));
            assertTrue(e.getMessage().contains("rank 4") || e.getMessage().contains("granularity"), e.getMessage());
        }
        Tensor closed = Tensor.allocate(DType.BF16, 1, 1, 1, 64);
        closed.close();
        e = assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantize(closed, ScaleGranularity.PER_TENSOR));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
    }

    /** Each element dequantizes within E4M3's half ulp: 2^-4 relative, or half the smallest subnormal step. */
    private static void checkRoundTrip(Tensor x, Fp8Tensor q) {
        int heads = (int) x.dim(1);
        long seq = x.dim(2);
        for (long r = 0; r < x.rows(); r++) {
            long g = r / seq;
            float scale = q.scale((int) (g / heads), (int) (g % heads));
            for (long c = 0; c < x.cols(); c++) {
                float orig = Bf16.round(x.getFloat(r, c));
                float back = Fp8.e4m3ToFloat(q.data().segment().get(ValueLayout.JAVA_BYTE, q.data().rowByteOffset(r) + c)) * scale;
                double tol = Math.abs(orig) / 16 + scale * Math.scalb(1.0, -10) + 1e-30;
                assertTrue(Math.abs(back - orig) <= tol, "element (" + r + ", " + c + "): " + orig + " → " + back);
            }
        }
    }
}
