package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Reference;

/**
 * The CUDA W4A16 kernels through the facade against the float64 reference: odd m, n not a
 * multiple of the 128-column tile, every group size, symmetric and asymmetric, every scale dtype,
 * bias none / fp32 / x's dtype, bf16 and fp16; plus a split-heavy decode shape and a
 * bit-for-bit determinism check. Skipped, with the reason, where no CUDA backend comes up.
 */
class CudaW4A16KernelTest {
    static final double TOLERANCE = 5e-3;

    private static void check(W4A16 op, int m, int n, int k, int g, boolean sym, DType scaleType, DType dtype, int biasMode,
                              long seed) {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, g, sym, scaleType);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, k), seed + 1, 1.0);
             Tensor bias = biasMode == 0 ? null
                     : TensorFill.gaussian(Tensor.allocate(biasMode == 1 ? DType.FP32 : dtype, n), seed + 2, 0.5);
             Tensor y = TensorFill.poison(Tensor.allocate(dtype, m, n))) {
            op.matmul(x, p, bias, y);
            String ctx = "m=" + m + " n=" + n + " k=" + k + " g=" + g + (sym ? " sym" : " asym") + " scales=" + scaleType
                    + " " + dtype + " bias=" + (bias == null ? "none" : bias.dtype()) + " seed=" + seed
                    + " (simple kernels' plan, where they run: " + SplitKPlan.plan(m, n, k, g, GpuAvailable.backend().device().smCount()) + ")";
            assertFalse(TensorFill.hasPoison(y), "unwritten or non-finite output: " + ctx);
            double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, bias), y);
            assertTrue(err <= TOLERANCE, "rel L2 " + err + ": " + ctx);
        }
    }

    @GpuTest
    void shapesGroupSizesBiasAndDtypes() {
        W4A16 op = W4A16.create(GpuAvailable.backend());
        int[][] shapes = {{1, 8, 128}, {7, 136, 384}, {33, 264, 256}, {129, 200, 512}, {3, 1000, 1024}};
        long seed = 100;
        int variant = 0;
        for (int[] s : shapes) {
            for (int g0 : new int[] {32, 64, 128, -1}) {
                int g = g0 == -1 ? s[2] : g0;
                if (s[2] % g != 0) {
                    continue;
                }
                for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
                    for (boolean sym : new boolean[] {false, true}) {
                        DType scaleType = new DType[] {DType.FP16, DType.BF16, DType.FP32}[variant % 3];
                        // bias mode from variant / 3: every pairing of scale dtype and bias mode comes round
                        check(op, s[0], s[1], s[2], g, sym, scaleType, dtype, (variant / 3) % 3, seed += 3);
                        variant++;
                    }
                }
            }
        }
    }

    @GpuTest
    void decodeShapeUsesManySplits() {
        W4A16 op = W4A16.create(GpuAvailable.backend());
        for (int m : new int[] {1, 5}) {
            check(op, m, 264, 4096, 128, false, DType.FP16, DType.BF16, 1, 900 + m);
            check(op, m, 264, 4096, 4096, true, DType.BF16, DType.FP16, 2, 950 + m);
        }
    }

    @GpuTest
    void resultsAreBitIdenticalAcrossRuns() {
        W4A16 op = W4A16.create(GpuAvailable.backend());
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 2048, 264), 5, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 128, false, DType.FP16);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 3, 2048), 6, 1.0);
             Tensor y1 = Tensor.allocate(DType.BF16, 3, 264);
             Tensor y2 = Tensor.allocate(DType.BF16, 3, 264)) {
            op.matmul(x, p, null, y1);
            op.matmul(x, p, null, y2);
            assertArrayEquals(y1.toFloatArray(), y2.toFloatArray());
        }
    }
}
