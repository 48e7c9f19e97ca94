package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;

/**
 * The Hadamard op compiles one plan per row capacity ({@link Plans#capacity}), not one per row
 * count: each call launches only its rows and copies only its rows back, and a shorter call after
 * a longer one on the same plan reads nothing of the longer one's rows. Every call is checked
 * against the float64 reference, with its output poisoned first. The kernel is shared by every
 * test in the JVM, so the plan counts use (dtype, d) pairs no other test uses: bf16 at d = 128,
 * fp16 at d = 64, fp32 at d = 12·16, and for the rows form bf16 at d = 512, fp32 at d = 40·8.
 */
@Tag("tornado")
class HadamardPlansTest {
    /** Capacities 8, 4, 16, 1, 2 (in that order of first use). */
    private static final int[] ROWS = {5, 8, 6, 7, 3, 9, 16, 13, 1, 2, 7};

    @Test
    void aCapacityFallsBackToTheExactCountWhereThePowerOfTwoWouldNotFit() {
        assertEquals(8, Plans.capacity(5, 32768));
        assertEquals(1 << 15, Plans.capacity((1 << 14) + 1, 32768));
        int rows = (1 << 15) + 1; // (2^15 + 1) · 2^15 elements fit an int array; the capacity's 2^16 · 2^15 = 2^31 do not
        assertEquals(rows, Plans.capacity(rows, 32768));
    }

    @Test
    void fusedRowCountsShareTheirCapacitysPlan() {
        TornadoHadamardTest.withForm("fused", () -> rowCounts(DType.BF16, 128, false));
    }

    @Test
    void passesRowCountsShareTheirCapacitysPlan() {
        TornadoHadamardTest.withForm("passes", () -> rowCounts(DType.FP16, 64, false));
    }

    /**
     * The rows form walks the rows with a fixed set of work-items and reads the call's row count
     * from the device: a stale count would leave rows of a longer call untransformed.
     */
    @Test
    void rowsRowCountsShareTheirCapacitysPlan() {
        TornadoHadamardTest.withForm("rows", () -> rowCounts(DType.BF16, 512, false));
    }

    /** The rows form at its smallest block (n = 8: no vector stage) with m = 40, fp32, in place. */
    @Test
    void rowsSmallestBlockInPlaceRowCounts() {
        TornadoHadamardTest.withForm("rows", () -> rowCounts(DType.FP32, 40 * 8, true));
    }

    /** m·2^k through the passes' second buffer, fp32, in place. */
    @Test
    void blockFamilyInPlaceRowCounts() {
        TornadoHadamardTest.withForm("passes", () -> rowCounts(DType.FP32, 12 * 16, true));
    }

    private static void rowCounts(DType dtype, int d, boolean inPlace) {
        TornadoHadamardKernel kernel = (TornadoHadamardKernel) TornadoTests.backend().kernels(HadamardKernel.class).orElseThrow();
        Hadamard hadamard = Hadamard.create(TornadoTests.backend());
        HadamardSize size = HadamardSize.of(d);
        int before = kernel.plansBuilt();
        for (int rows : ROWS) {
            long seed = TornadoTests.seed("hadamard plans", dtype, d, rows, inPlace);
            String what = dtype + " d=" + d + " rows=" + rows + (inPlace ? " in place" : "");
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), seed, 1.0);
                 Tensor y = inPlace ? null : TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                double[] want = HadamardReference.compute(x, size, Hadamard.defaultScale(d), false, null, null);
                Tensor out = inPlace ? x : y;
                hadamard.transform(x, out);
                TornadoTests.assertClose(want, out, TornadoHadamardTest.tolerance(dtype), seed, what);
            }
        }
        assertEquals(5, kernel.plansBuilt() - before, "row capacities 8, 4, 16, 1 and 2");
    }
}
