package org.offload4j.cuda.hadamard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;

/**
 * The tensor-core kernels against the accuracy targets (one rounding: relative L2 ≤ 2.0e-3
 * for bf16 and ≤ 3e-4 for fp16 on normal inputs, every d), on device tensors (no staging), and the
 * fused FP8 path against the float64 rotation. Skipped, with the reason, where no GPU exists.
 */
class CudaHadaCoreGpuTest {

    @GpuTest
    void oneRoundingForEveryPowerOfTwoAndEveryMSize() {
        Hadamard op = Hadamard.create(GpuAvailable.backend());
        int[] sizes = {2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
            12, 12 * 64, 12 * 1024, 20, 28 * 16, 28 * 512, 40, 40 * 128, 40 * 512};
        long seed = 42;
        for (int d : sizes) {
            if (4L * (d + 1600) > GpuAvailable.backend().device().maxSharedPerBlockOptin() && d > 2048) {
                continue;
            }
            for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
                int rows = Math.max(1, (1 << 18) / d); // ≥ 256 K elements: the average of one rounding
                try (Tensor in = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), ++seed, 1.0);
                     Tensor out = TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                    op.transform(in, out);
                    double[] ref = HadamardReference.compute(in, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null);
                    assertFalse(TensorFill.hasPoison(out), d + " " + dtype);
                    double err = Accuracy.relativeL2(ref, out);
                    double target = dtype == DType.BF16 ? 2.0e-3 : 3e-4;
                    assertTrue(err <= target, "d = " + d + " " + dtype + ": rel L2 " + err + " > " + target);
                }
            }
        }
    }

    @GpuTest
    void deviceTensorsInPlaceMatchHostTensors() {
        var device = GpuAvailable.backend().device();
        Hadamard op = Hadamard.create(GpuAvailable.backend());
        for (int d : new int[] {64, 1024, 4096, 32768, 12 * 256}) {
            int rows = 33;
            try (Tensor host = TensorFill.gaussian(Tensor.allocate(DType.BF16, rows, d), d, 1.0);
                 Tensor expected = Tensor.allocate(DType.BF16, rows, d);
                 Tensor onDevice = device.allocateTensor(DType.BF16, rows, d);
                 Tensor back = Tensor.allocate(DType.BF16, rows, d)) {
                op.transform(host, expected);
                device.copy(host, onDevice);
                op.transform(onDevice, onDevice);
                device.copy(onDevice, back);
                assertEquals(0.0, Accuracy.relativeL2(expected.toDoubleArray(), back), "d = " + d);
            }
        }
    }

    @GpuTest
    void fusedFp8MatchesTheRotationWithinOneE4m3Rounding() {
        Hadamard op = Hadamard.create(GpuAvailable.backend());
        long[][] shapes = {{2, 4, 33, 128}, {1, 8, 100, 64}, {1, 2, 17, 256}, {3, 4096}, {2, 16384}};
        for (long[] shape : shapes) {
            for (boolean perHead : new boolean[] {false, true}) {
                try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, shape), shape.length * 7L, 1.0);
                     Tensor q = TensorFill.poison(Tensor.allocate(DType.FP8_E4M3FN, shape))) {
                    long rows = x.rows();
                    long rowsPerScale = perHead && shape.length == 4 ? shape[2] : rows;
                    int d = (int) x.cols();
                    try (Tensor scales = Tensor.allocate(DType.FP32, rows / rowsPerScale)) {
                        op.transformToFp8(x, q, scales, rowsPerScale);
                        double[] y = HadamardReference.compute(x, HadamardSize.of(d), 1.0 / Math.sqrt(d), false, null, null);
                        for (long g = 0; g < rows / rowsPerScale; g++) {
                            double amax = 0;
                            for (long i = g * rowsPerScale * d; i < (g + 1) * rowsPerScale * d; i++) {
                                amax = Math.max(amax, Math.abs(y[(int) i]));
                            }
                            float s = scales.getFloat(0, g);
                            assertEquals(amax / 448, s, 1e-5 * amax / 448, "scale " + g);
                            for (long i = g * rowsPerScale * d; i < (g + 1) * rowsPerScale * d; i++) {
                                double got = (double) q.getFloat(i / d, i % d) * s;
                                double bound = Math.max(Math.abs(y[(int) i]) / 16, s * Math.pow(2, -10)) * 1.001 + 1e-6 * amax;
                                assertTrue(Math.abs(got - y[(int) i]) <= bound, "element " + i + ": " + got + " vs " + y[(int) i]);
                            }
                        }
                    }
                }
            }
        }
    }
}
