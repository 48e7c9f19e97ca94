package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;

/**
 * {@link TcW4A16Kernel#fp16WeightsFaithful}: which weights the tensor-core kernel's fp16
 * dequantization carries (the others go to the simple kernels at prepack).
 */
class TcFp16WeightsTest {

    /** An RTN weight (g = 32) of gaussian values with standard deviation {@code std}: scales about {@code std / 4}. */
    private static QuantizedWeight rtn(int k, int n, double std, DType scaleType, long seed) {
        try (Tensor w = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, std)) {
            return RtnQuantizer.quantize(w, 32, false, scaleType);
        }
    }

    @Test
    void realisticScalesInEveryDtypePass() {
        for (DType scaleType : new DType[] {DType.FP16, DType.BF16, DType.FP32}) {
            for (double std : new double[] {0.005, 0.05, 1.0}) {
                try (QuantizedWeight w = rtn(256, 64, std, scaleType, 1)) {
                    assertTrue(TcW4A16Kernel.fp16WeightsFaithful(w), scaleType + " std " + std);
                }
            }
        }
    }

    @Test
    void scalesWhoseFp16WeightsOverflowFail() {
        // Scales near 3e4, within fp16's range, but weights up to 2.5e5 and codes 0 and 15 past 65504.
        try (QuantizedWeight w = rtn(256, 64, 1e5, DType.FP32, 2)) {
            assertFalse(TcW4A16Kernel.fp16WeightsFaithful(w));
        }
        // Above fp16's range altogether: the scale itself rounds to infinity.
        try (QuantizedWeight w = rtn(256, 64, 1e6, DType.FP32, 3)) {
            assertFalse(TcW4A16Kernel.fp16WeightsFaithful(w));
        }
    }

    @Test
    void subnormalFp16WeightsFail() {
        // Scales about 5e-6: every fp16 weight subnormal, steps of 6e-8 on values near 1e-5.
        try (QuantizedWeight w = rtn(256, 64, 1e-5, DType.FP32, 4)) {
            assertFalse(TcW4A16Kernel.fp16WeightsFaithful(w));
        }
        // bf16 scales the same: the loss is in the fp16 products, not in the scales' own dtype.
        try (QuantizedWeight w = rtn(256, 64, 1e-5, DType.BF16, 5)) {
            assertFalse(TcW4A16Kernel.fp16WeightsFaithful(w));
        }
    }

    @Test
    void aFewTinyGroupsAmongNormalOnesPass() {
        try (Tensor t = TensorFill.gaussian(Tensor.allocate(DType.FP32, 256, 64), 6, 0.05)) {
            for (int r = 0; r < 32; r++) { // the first group of rows: values near 1e-6
                for (int c = 0; c < 64; c++) {
                    t.setFloat(r, c, t.getFloat(r, c) * 2e-5f);
                }
            }
            try (QuantizedWeight w = RtnQuantizer.quantize(t, 32, false, DType.FP32)) {
                assertTrue(TcW4A16Kernel.fp16WeightsFaithful(w), "their error is small against the whole weight's norm");
            }
        }
    }
}
