package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * A decode loop (Sq = 1, the key length growing by one per step) compiles a plan only when the
 * key length passes a power of two ({@link Plans#capacity}), and every step matches the
 * float64 reference: the key length is data, and a plan's K and V hold its capacity.
 */
@Tag("tornado")
class DecodePlansTest {
    private static final String GROUPS = "offload.tornado.attention.groups";

    @Test
    void capacityIsTheNextPowerOfTwo() {
        assertEquals(1, Plans.capacity(0));
        assertEquals(1, Plans.capacity(1));
        assertEquals(2, Plans.capacity(2));
        assertEquals(4, Plans.capacity(3));
        assertEquals(4096, Plans.capacity(4096));
        assertEquals(8192, Plans.capacity(4097));
        assertEquals(1 << 30, Plans.capacity((1 << 30) - 5));
        assertEquals((1 << 30) + 1, Plans.capacity((1 << 30) + 1), "no power of two above 2^30 fits an int");
        for (int skv = 0; skv < 5000; skv += 7) {
            for (int d : new int[] {64, 128, 256}) {
                int splits = AttentionKernels.splits(8, Plans.capacity(skv), d, 528);
                int chunk = AttentionKernels.chunk(skv, d, splits);
                assertTrue((long) splits * chunk >= skv, "a plan's splits cover every key of a shorter call: Skv " + skv);
            }
        }
    }

    @Test
    void aDecodeLoopCompilesOnePlanPerPowerOfTwo() {
        decodeLoop(0);
    }

    /** The same with many key splits forced: a short call leaves the plan's last splits empty. */
    @Test
    void aDecodeLoopWithManyKeySplits() {
        decodeLoop(4096);
    }

    private static void decodeLoop(int groups) {
        String before = System.getProperty(GROUPS);
        if (groups > 0) {
            System.setProperty(GROUPS, Integer.toString(groups));
        }
        try {
            TornadoAttentionKernel kernel = (TornadoAttentionKernel) TornadoTests.backend().kernels(AttentionKernel.class).orElseThrow();
            Attention attention = Attention.create(TornadoTests.backend());
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
            int hq = 4, hkv = 2, d = 64;
            int built = kernel.plansBuilt();
            for (int skv = 1; skv <= 70; skv++) {
                long seed = TornadoTests.seed("decode", skv, groups);
                try (Fp8Tensor q = TornadoAttentionTest.fp8(seed, ScaleGranularity.PER_HEAD, 1, hq, 1, d);
                     Fp8Tensor k = TornadoAttentionTest.fp8(seed + 1, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Fp8Tensor v = TornadoAttentionTest.fp8(seed + 2, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, 1, d));
                     Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, 1))) {
                    attention.forward(q, k, v, opts, out, lse);
                    TornadoAttentionTest.check(AttentionReference.forward(q, k, v, opts), out, lse, d,
                            TornadoTests.why(seed, "decode step Skv=" + skv + " groups=" + groups));
                }
            }
            int compiled = kernel.plansBuilt() - built;
            assertTrue(compiled <= 8, compiled + " plans for Skv = 1 … 70; capacities 1, 2, 4, …, 128 make 8");
        } finally {
            if (before == null) {
                System.clearProperty(GROUPS);
            } else {
                System.setProperty(GROUPS, before);
            }
        }
    }
}
