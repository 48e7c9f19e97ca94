package org.offload4j.hadamard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * {@link Hadamard#transformToFp8} against the float64 transform: the scales are amax/448 of the
 * exact rotation (to fp32 accuracy), and every element is within one E4M3 rounding of y / s.
 */
class HadamardFp8Test {
    private final HadamardFacadeTest.ReferenceBackend backend = new HadamardFacadeTest.ReferenceBackend();
    private final Hadamard hadamard = Hadamard.create(backend);

    private void check(DType dtype, long[] shape, long rowsPerScale, long seed) {
        try (Tensor x = Tensor.allocate(dtype, shape);
             Tensor q = Tensor.allocate(DType.FP8_E4M3FN, shape)) {
            TensorFill.gaussian(x, seed, 1.0);
            // An outlier channel, as in attention inputs: the case rotation is for.
            for (long r = 0; r < x.rows(); r++) {
                x.setFloat(r, 3 % x.cols(), 40f);
            }
            try (Tensor scales = Tensor.allocate(DType.FP32, x.rows() / rowsPerScale)) {
                TensorFill.poison(q);
                hadamard.transformToFp8(x, q, scales, rowsPerScale);
                assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0 / Math.sqrt(x.cols()), q, scales, rowsPerScale));
            }
        }
    }

    @Test
    void perTensorPerHeadAndPerRowScalesAgreeWithTheExactRotation() {
        check(DType.BF16, new long[] {2, 3, 5, 64}, 30, 1);
        check(DType.BF16, new long[] {2, 3, 5, 128}, 5, 2);
        check(DType.FP16, new long[] {7, 256}, 1, 3);
        check(DType.FP32, new long[] {4, 12 * 16}, 2, 4);
    }

    /** The edge-case rows of {@link HadamardReference#fillFp8Extremes}: NaN, −∞ and tiny groups. */
    @Test
    void nanInfiniteAndTinyGroupsKeepTheContract() {
        for (DType dtype : new DType[] {DType.BF16, DType.FP32}) {
            for (long rowsPerScale : new long[] {1, 2}) {
                try (Tensor x = HadamardReference.fillFp8Extremes(Tensor.allocate(dtype, 8, 64), 9);
                     Tensor q = TensorFill.poison(Tensor.allocate(DType.FP8_E4M3FN, 8, 64));
                     Tensor scales = Tensor.allocate(DType.FP32, 8 / rowsPerScale)) {
                    hadamard.transformToFp8(x, q, scales, rowsPerScale);
                    assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0 / 8, q, scales, rowsPerScale));
                    assertTrue(Float.isNaN(scales.getFloat(0, 0)), "the NaN row's group");
                    assertEquals(Float.MIN_NORMAL, scales.getFloat(0, 4 / rowsPerScale), "a tiny group");
                }
            }
        }
    }

    /**
     * The checker itself: y = x · H_2 = [448, 7.3], so s = 1 and the nearest E4M3 value to 7.3 is
     * 7.5; the other neighbour, 7.0, is a wrong rounding (the bound of |y|/16 used before accepted
     * it, and about half of all wrong neighbours), and so is 8.
     */
    @Test
    void theCheckerRefusesTheOtherNeighbour() {
        assertCheckerAcceptsOnly(227.65f, 220.35f, 7.5f, 7.0f, 8.0f);
    }

    /**
     * At the bottom of a binade: y = [448, 8.0003] (s = 1) rounds to 8; 7.5, the neighbour below
     * 2^3, is a wrong rounding although it is within half the spacing above 8 (0.5) plus the
     * checker's slack (4.5e-4) of y.
     */
    @Test
    void theCheckerRefusesTheNeighbourBelowABinade() {
        assertCheckerAcceptsOnly(228.00015f, 219.99985f, 8.0f, 7.5f, 9.0f);
    }

    /**
     * A kernel's own transform error widens the slack: y = [448, 7.251] (s = 1) lies 0.001 above the
     * midpoint 7.25, so 7.0 is refused with the CPU's slack (4.5e-4) and let through with a
     * tensor-core kernel's (1e-5 · 448 = 4.5e-3), which cannot tell it from a correct rounding of
     * a y that its error moved across the midpoint; 8 stays refused.
     */
    @Test
    void aLargerTransformErrorWidensTheSlackNearAMidpoint() {
        assertCheckerAcceptsOnly(227.6255f, 220.3745f, 7.5f, 7.0f, 8.0f);
        try (Tensor x = Tensor.allocate(DType.FP32, 1, 2);
             Tensor q = Tensor.allocate(DType.FP8_E4M3FN, 1, 2);
             Tensor scales = Tensor.allocate(DType.FP32, 1)) {
            x.setFloat(0, 0, 227.6255f);
            x.setFloat(0, 1, 220.3745f);
            scales.setFloat(0, 0, 1f);
            q.setFloat(0, 0, 448f);
            for (float code : new float[] {7.5f, 7.0f}) {
                q.setFloat(0, 1, code);
                assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0, q, scales, 1, 1e-5), "code " + code);
            }
            q.setFloat(0, 1, 8.0f);
            assertTrue(HadamardReference.fp8Mismatch(x, 1.0, q, scales, 1, 1e-5).isPresent(), "code 8 must fail");
        }
    }

    /** For x = [x0, x1] (y = [x0 + x1, x0 − x1], x0 + x1 = 448): the second code {@code right} passes, each of {@code wrong} fails. */
    private static void assertCheckerAcceptsOnly(float x0, float x1, float right, float... wrong) {
        try (Tensor x = Tensor.allocate(DType.FP32, 1, 2);
             Tensor q = Tensor.allocate(DType.FP8_E4M3FN, 1, 2);
             Tensor scales = Tensor.allocate(DType.FP32, 1)) {
            x.setFloat(0, 0, x0);
            x.setFloat(0, 1, x1);
            scales.setFloat(0, 0, (float) (((double) x0 + x1) / 448));
            q.setFloat(0, 0, 448f);
            q.setFloat(0, 1, right);
            assertEquals(Optional.empty(), HadamardReference.fp8Mismatch(x, 1.0, q, scales, 1), "code " + right);
            for (float code : wrong) {
                q.setFloat(0, 1, code);
                assertTrue(HadamardReference.fp8Mismatch(x, 1.0, q, scales, 1).isPresent(), "code " + code + " must fail");
            }
        }
    }

    @Test
    void halfUlpOfE4m3PerBinade() {
        assertEquals(0.25, HadamardReference.halfUlpE4m3(7.3));   // [4, 8): spacing 0.5
        assertEquals(0.25, HadamardReference.halfUlpE4m3(-4.0));
        assertEquals(16.0, HadamardReference.halfUlpE4m3(448));   // [256, 512): spacing 32
        assertEquals(0x1p-10, HadamardReference.halfUlpE4m3(0x1p-6)); // the smallest normal
        assertEquals(0x1p-10, HadamardReference.halfUlpE4m3(0x1p-9)); // subnormals: spacing 2^-9
        assertEquals(0x1p-10, HadamardReference.halfUlpE4m3(0));
    }

    @Test
    void anAllZeroGroupGetsScaleOneAndZeros() {
        try (Tensor x = Tensor.allocate(DType.BF16, 2, 16);
             Tensor q = Tensor.allocate(DType.FP8_E4M3FN, 2, 16);
             Tensor scales = Tensor.allocate(DType.FP32, 2)) {
            x.setFloat(1, 0, 1f);
            hadamard.transformToFp8(x, q, scales, 1);
            assertEquals(1f, scales.getFloat(0, 0));
            assertEquals(0.25f / 448, scales.getFloat(0, 1), 1e-9);
            for (int c = 0; c < 16; c++) {
                assertEquals(0f, q.getFloat(0, c));
                assertEquals(448f, q.getFloat(1, c), "every output of a unit spike is ±amax");
            }
        }
    }

    @Test
    void rejectsWhatTheContractExcludesNamingTheArgument() {
        try (Tensor x = Tensor.allocate(DType.BF16, 4, 64);
             Tensor q = Tensor.allocate(DType.FP8_E4M3FN, 4, 64);
             Tensor qWrong = Tensor.allocate(DType.BF16, 4, 64);
             Tensor s1 = Tensor.allocate(DType.FP32, 1);
             Tensor s3 = Tensor.allocate(DType.FP32, 3)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> hadamard.transformToFp8(x, qWrong, s1, 4))
                    .getMessage().contains("out"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> hadamard.transformToFp8(x, q, s1, 3))
                    .getMessage().contains("rowsPerScale"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> hadamard.transformToFp8(x, q, s3, 2))
                    .getMessage().contains("scales"));
            assertEquals(0, backend.calls.get());
        }
    }
}
