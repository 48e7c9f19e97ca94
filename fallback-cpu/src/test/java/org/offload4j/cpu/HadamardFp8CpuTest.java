package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;

/**
 * {@link Hadamard#transformToFp8} on the CPU backend (no fused kernel: the composite widens, runs
 * the Vector API transform in fp32, and quantizes) against the float64 rotation, for every input
 * dtype and strided rows: each scale is amax/448 of the exact rotation, each element within one
 * E4M3 rounding of y / s.
 */
class HadamardFp8CpuTest {
    private final Hadamard hadamard = Hadamard.create(CpuBackend.create());

    @Test
    void everyDtypeAndStridedRowsWithinOneE4m3Rounding() {
        for (DType dtype : new DType[] {DType.BF16, DType.FP16, DType.FP32}) {
            for (int d : new int[] {64, 128, 1024, 12 * 32}) {
                int rows = 12;
                long stride = d + 8;
                try (Arena arena = Arena.ofConfined()) {
                    Tensor x = Tensor.wrapStrided(arena.allocate(dtype.byteSize((rows - 1) * stride + d), 64), dtype, stride,
                            rows, d);
                    TensorFill.gaussian(x, d * 7L + dtype.ordinal(), 1.0);
                    Tensor q = TensorFill.poison(Tensor.allocate(arena, DType.FP8_E4M3FN, rows, d));
                    Tensor scales = Tensor.allocate(arena, DType.FP32, 3);
                    hadamard.transformToFp8(x, q, scales, 4);
                    double[] y = HadamardReference.compute(x, HadamardSize.of(d), 1.0 / Math.sqrt(d), false, null, null);
                    for (int g = 0; g < 3; g++) {
                        double amax = 0;
                        for (int i = g * 4 * d; i < (g + 1) * 4 * d; i++) {
                            amax = Math.max(amax, Math.abs(y[i]));
                        }
                        float s = scales.getFloat(0, g);
                        assertEquals(amax / 448, s, 1e-5 * amax / 448, dtype + " d=" + d + " scale " + g);
                        for (int i = g * 4 * d; i < (g + 1) * 4 * d; i++) {
                            double got = (double) q.getFloat(i / d, i % d) * s;
                            double bound = Math.max(Math.abs(y[i]) / 16, s * Math.pow(2, -10)) * 1.001 + 1e-6 * amax;
                            int at = i;
                            assertTrue(Math.abs(got - y[i]) <= bound,
                                    () -> dtype + " d=" + d + " element " + at + ": " + got + " vs " + y[at]);
                        }
                    }
                }
            }
        }
    }
}
