package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Optional;
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
                    assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0 / Math.sqrt(d), q, scales, 4),
                            dtype + " d=" + d);
                }
            }
        }
    }

    /**
     * d = 2 (the one accepted size that is not a multiple of 4) with contiguous rows, and output
     * row strides that are not multiples of 4: the composite path takes any stride (the facade
     * once refused these, though no backend needed it to).
     */
    @Test
    void anyOutputRowStride() {
        for (int d : new int[] {2, 12, 64}) {
            for (long outStride : new long[] {d, d + 1, d + 3}) {
                int rows = 6;
                try (Arena arena = Arena.ofConfined()) {
                    Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, rows, d), d, 1.0);
                    Tensor q = TensorFill.poison(Tensor.wrapStrided(arena.allocate((rows - 1) * outStride + d), DType.FP8_E4M3FN,
                            outStride, rows, d));
                    Tensor scales = Tensor.allocate(arena, DType.FP32, 3);
                    hadamard.transformToFp8(x, q, scales, 2);
                    assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0 / Math.sqrt(d), q, scales, 2),
                            "d=" + d + " out stride " + outStride);
                }
            }
        }
    }

    /**
     * The rows of {@link HadamardReference#fillFp8Extremes} (a NaN, −∞, two rows of normal values
     * near 3e-37, none subnormal) through the Vector API transform: NaN scale for the NaN group,
     * non-finite for the −∞ one, the {@code Float.MIN_NORMAL} floor for the tiny ones
     * ({@link HadamardReference#fp8Mismatch}).
     */
    @Test
    void nanInfiniteAndTinyGroupsKeepTheContract() {
        for (DType dtype : new DType[] {DType.BF16, DType.FP32}) {
            for (int d : new int[] {64, 1024}) {
                for (long rowsPerScale : new long[] {1, 2}) {
                    try (Arena arena = Arena.ofConfined()) {
                        Tensor x = HadamardReference.fillFp8Extremes(Tensor.allocate(arena, dtype, 8, d), d);
                        Tensor q = TensorFill.poison(Tensor.allocate(arena, DType.FP8_E4M3FN, 8, d));
                        Tensor scales = Tensor.allocate(arena, DType.FP32, 8 / rowsPerScale);
                        hadamard.transformToFp8(x, q, scales, rowsPerScale);
                        String what = dtype + " d=" + d + " rows per scale " + rowsPerScale;
                        assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0 / Math.sqrt(d), q, scales, rowsPerScale),
                                what);
                        assertTrue(Float.isNaN(scales.getFloat(0, 0)), what + ": the NaN row's group");
                        assertEquals(Float.MIN_NORMAL, scales.getFloat(0, 4 / rowsPerScale), what + ": a tiny group");
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
