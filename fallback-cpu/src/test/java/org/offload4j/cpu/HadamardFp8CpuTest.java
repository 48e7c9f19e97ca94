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

    /**
     * Finite fp32 rows so small that amax / 448 underflows: the scale stops at
     * {@code Float.MIN_NORMAL} (not 0, which gave NaN codes), and every code is a number.
     */
    @Test
    void tinyFp32GroupsGetTheSmallestNormalScale() {
        try (Tensor in = Tensor.of(DType.FP32, new float[] {1e-44f, 1e-44f, 0f, 0f, 3e-39f, -2e-39f, 1e-39f, 0f}, 2, 4);
             Tensor q = TensorFill.poison(Tensor.allocate(DType.FP8_E4M3FN, 2, 4));
             Tensor scales = Tensor.allocate(DType.FP32, 2)) {
            hadamard.transformToFp8(in, q, scales, 1);
            double[] y = HadamardReference.compute(in, HadamardSize.of(4), 0.5, false, null, null);
            for (int r = 0; r < 2; r++) {
                float s = scales.getFloat(0, r);
                assertEquals(Float.MIN_NORMAL, s, "row " + r + " scale");
                for (int c = 0; c < 4; c++) {
                    float code = q.getFloat(r, c);
                    assertTrue(Float.isFinite(code), "row " + r + " code " + c + " = " + code);
                    // One E4M3 rounding of y / s: at most half the subnormal step (2^-10) or 2^-4 relative.
                    double want = y[r * 4 + c] / s;
                    assertTrue(Math.abs(code - want) <= Math.max(0x1p-10, Math.abs(want) * 0x1p-4),
                            "row " + r + " code " + c + " = " + code + ", want " + want);
                }
            }
        }
    }
}
