package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Kernel;
import org.offload4j.w4a16.W4A16Reference;

/**
 * A prepared W4A16 weight compiles one plan per row capacity ({@link Plans#capacity}: 1, 2, 4,
 * 8, …), not one per m: m = 5 … 8 share the capacity-8 plan, m = 9 … 16 the capacity-16 one, and
 * every call matches the float64 reference, with no output row left unwritten.
 */
@Tag("tornado")
class W4A16PlansTest {
    @Test
    void rowCountsShareTheirCapacitysPlan() {
        TornadoW4A16Kernel kernel = (TornadoW4A16Kernel) TornadoTests.backend().kernels(W4A16Kernel.class).orElseThrow();
        W4A16 op = W4A16.create(TornadoTests.backend());
        int k = 256, n = 72;
        long seed = TornadoTests.seed("w4a16 plans");
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 64, false, DType.FP16);
             W4A16.Prepared p = op.prepare(qw)) {
            int before = kernel.plansBuilt();
            int[] ms = {1, 5, 8, 6, 7, 9, 16, 13, 1};
            for (int m : ms) {
                try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, k), seed + m, 1.0);
                     Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, n))) {
                    op.matmul(x, p, null, y);
                    assertFalse(TensorFill.hasPoison(y), TornadoTests.why(seed, "unwritten output, m = " + m));
                    double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, null), y);
                    assertTrue(err <= 5e-3, TornadoTests.why(seed, "rel L2 " + err + ", m = " + m));
                }
            }
            assertEquals(3, kernel.plansBuilt() - before, "capacities 1, 8 and 16");
        }
    }
}
