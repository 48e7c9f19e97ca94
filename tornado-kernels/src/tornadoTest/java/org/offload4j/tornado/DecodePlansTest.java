package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
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

    /** The same with many key splits forced (up to 2 here; the shrinking tests below have empty ones). */
    @Test
    void aDecodeLoopWithManyKeySplits() {
        decodeLoop(4096);
    }

    /**
     * A plan's K and V hold its capacity, and the partial results of its splits stay on the
     * device between calls: a shorter call after a longer one on the same plan must read none of
     * what the longer one left. The longer call has a NaN code in its last K key and V key, so a
     * leak would turn the shorter call's output non-finite. Cases: decode in one capacity (64),
     * causal and not; many splits with the shorter call's last splits empty (capacity 1024, 16
     * splits, 9 used); causal prefill where the shorter call has rows that see no key (combine
     * pass, empty splits); and no keys at all after one key.
     */
    @Test
    void aShorterCallAfterALongerOneOnTheSamePlanSeesNothingOfIt() {
        shrink(0, 4, 2, 1, 64, true, 60, 40, 33);
        shrink(0, 4, 2, 3, 128, false, 60, 33);
        shrink(4096, 4, 1, 1, 64, false, 1000, 513, 600);
        shrink(4096, 1, 1, 200, 64, true, 250, 150);
        shrink(4096, 8, 1, 8, 64, true, 120, 70);
        shrink(0, 2, 1, 2, 64, true, 1, 0);
    }

    /**
     * Causal prefills of 8, 5, 7 and 6 tokens over a cache of 120 earlier keys share the plan of 8
     * query rows and 128 key slots, the longest first, so that the shorter calls run on arrays a
     * longer one filled; 3 tokens take the plan of 4 rows. Each call matches the reference. Once
     * as the device's split count gives, once with many work-groups forced, so that the keys are
     * split and the combine pass is relaunched for each call's rows too.
     */
    @Test
    void promptLengthsWithinOneCapacityShareAPlan() {
        promptLengths(0);
        promptLengths(4096);
    }

    private static void promptLengths(int groups) {
        withGroups(groups, () -> {
            TornadoAttentionKernel kernel = (TornadoAttentionKernel) TornadoTests.backend().kernels(AttentionKernel.class).orElseThrow();
            Attention attention = Attention.create(TornadoTests.backend());
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
            int hq = 4, hkv = 2, d = 64, earlier = 120;
            int built = kernel.plansBuilt();
            int[] lengths = {8, 5, 7, 6, 3};
            for (int sq : lengths) {
                int skv = earlier + sq;
                long seed = TornadoTests.seed("prefill", sq, groups);
                String where = TornadoTests.why(seed, "causal prefill Sq=" + sq + " Skv=" + skv + " after "
                        + java.util.Arrays.toString(lengths) + " groups=" + groups);
                try (Fp8Tensor q = TornadoAttentionTest.fp8(seed, ScaleGranularity.PER_HEAD, 1, hq, sq, d);
                     Fp8Tensor k = TornadoAttentionTest.fp8(seed + 1, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Fp8Tensor v = TornadoAttentionTest.fp8(seed + 2, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
                     Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
                    attention.forward(q, k, v, opts, out, lse);
                    TornadoAttentionTest.check(AttentionReference.forward(q, k, v, opts), out, lse, d, where);
                }
            }
            assertEquals(2, kernel.plansBuilt() - built, "query capacities 8 and 4, key capacity 128 (groups=" + groups + ")");
        });
    }

    private static void shrink(int groups, int hq, int hkv, int sq, int d, boolean causal, int... kvLens) {
        withGroups(groups, () -> {
            Attention attention = Attention.create(TornadoTests.backend());
            AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
            for (int call = 0; call < kvLens.length; call++) {
                int skv = kvLens[call];
                long seed = TornadoTests.seed("shrink", groups, hq, sq, d, skv);
                String where = TornadoTests.why(seed, "Skv=" + skv + " after " + java.util.Arrays.toString(kvLens)
                        + ", Hq=" + hq + " Sq=" + sq + " D=" + d + " causal=" + causal + " groups=" + groups);
                try (Fp8Tensor q = TornadoAttentionTest.fp8(seed, ScaleGranularity.PER_HEAD, 1, hq, sq, d);
                     Fp8Tensor k = TornadoAttentionTest.fp8(seed + 1, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Fp8Tensor v = TornadoAttentionTest.fp8(seed + 2, ScaleGranularity.PER_HEAD, 1, hkv, skv, d);
                     Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
                     Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
                    if (call == 0) { // NaN codes in the last key of K and of V: what a shorter call must never read
                        for (int g = 0; g < hkv; g++) {
                            long last = ((long) g * skv + skv - 1) * d;
                            k.data().segment().set(ValueLayout.JAVA_BYTE, last + 3, (byte) 0x7F);
                            v.data().segment().set(ValueLayout.JAVA_BYTE, last + 5, (byte) 0x7F);
                        }
                        attention.forward(q, k, v, opts, out, lse);
                        assertTrue(Float.isNaN(lse.getFloat(0, sq - 1)), "the longer call saw its NaN key, " + where);
                    } else {
                        attention.forward(q, k, v, opts, out, lse);
                        TornadoAttentionTest.check(AttentionReference.forward(q, k, v, opts), out, lse, d, where);
                    }
                }
            }
        });
    }

    private static void decodeLoop(int groups) {
        withGroups(groups, () -> {
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
        });
    }

    /** Runs {@code body} with {@code -Doffload.tornado.attention.groups} set to {@code groups} (0: as it was), then restores it. */
    private static void withGroups(int groups, Runnable body) {
        TornadoTests.withProperty(GROUPS, groups > 0 ? Integer.toString(groups) : null, body);
    }
}
