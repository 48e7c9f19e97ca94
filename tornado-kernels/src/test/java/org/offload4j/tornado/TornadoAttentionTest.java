package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * The TornadoVM FP8 attention kernel against the float64 reference on the dequantized inputs
 * (relative L2 3e-2 overall, 1e-2 per row, lse within 1e-4 relative): every head dimension, GQA
 * and MQA, causal with Sq &lt; Skv and Sq &gt; Skv (rows with no visible key), several key blocks,
 * decode (Sq = 1), no keys at all, per-tensor and per-head scales.
 */
@Tag("tornado")
class TornadoAttentionTest {
    private static final ScaleGranularity PT = ScaleGranularity.PER_TENSOR;
    private static final ScaleGranularity PH = ScaleGranularity.PER_HEAD;

    static Stream<Arguments> cases() {
        return Stream.of(
                // B, Hq, Hkv, Sq, Skv, D, causal, granularity
                Arguments.of(1, 1, 1, 1, 1, 64, true, PH),
                Arguments.of(1, 4, 2, 1, 77, 128, true, PH),      // decode, GQA
                Arguments.of(1, 2, 1, 77, 1, 64, true, PT),       // Sq > Skv, causal: most rows see no key
                Arguments.of(2, 3, 1, 50, 130, 256, true, PH),    // MQA, Sq < Skv
                Arguments.of(1, 2, 1, 64, 200, 64, false, PT),    // several key blocks
                Arguments.of(1, 8, 2, 33, 100, 128, true, PT),    // GQA, causal, bottom-right
                Arguments.of(1, 2, 2, 5, 0, 128, false, PT),      // no keys at all
                // Key splits with 4096 groups forced (matchesReferenceWithManyKeySplits); on PoCL's
                // default 8 groups: 2, 1 and 1 split
                Arguments.of(1, 4, 2, 1, 1000, 64, false, PH),    // decode over 16 splits, the last one partial
                Arguments.of(1, 8, 2, 2, 777, 128, true, PT),     // two decode positions, 7 splits
                Arguments.of(1, 1, 1, 200, 260, 64, true, PH));   // 5 splits of 64 keys, empty for the early rows
    }

    @ParameterizedTest(name = "B={0} Hq={1} Hkv={2} Sq={3} Skv={4} D={5} causal={6} {7}")
    @MethodSource("cases")
    void matchesReference(int b, int hq, int hkv, int sq, int skv, int d, boolean causal, ScaleGranularity g) {
        run(b, hq, hkv, sq, skv, d, causal, g);
    }

    /**
     * The same cases with the first pass aiming at 4096 work-groups, as on a large GPU: on PoCL's
     * 2 compute units the default keeps one split per row for most of them. Every case with more
     * than one D-key block then splits, with empty splits for the early rows of causal ones.
     */
    @ParameterizedTest(name = "B={0} Hq={1} Hkv={2} Sq={3} Skv={4} D={5} causal={6} {7}")
    @MethodSource("cases")
    void matchesReferenceWithManyKeySplits(int b, int hq, int hkv, int sq, int skv, int d, boolean causal, ScaleGranularity g) {
        TornadoTests.withProperty(GROUPS, "4096", () -> run(b, hq, hkv, sq, skv, d, causal, g));
    }

    private static final String GROUPS = "offload.tornado.attention.groups";

    static Stream<Arguments> nanCases() {
        return Stream.of(
                // Hq, Hkv, Sq, Skv, D, forced work-groups (0: the device's default, 2 splits for the first
                // case on PoCL; 1: one split per row everywhere, the first pass writes the output)
                Arguments.of(4, 1, 1, 300, 64, 1),
                Arguments.of(2, 1, 3, 200, 128, 1),
                Arguments.of(4, 1, 1, 300, 64, 0),
                Arguments.of(4, 1, 1, 300, 64, 4096),   // 8 key splits (capacity 512), the last 3 empty
                Arguments.of(2, 1, 3, 200, 128, 0),
                Arguments.of(2, 1, 3, 200, 128, 4096),  // 2 key splits, causal offsets
                Arguments.of(1, 1, 70, 70, 64, 0));
    }

    /**
     * As the float64 reference (and the CPU and CUDA backends): a NaN code in K at key jk makes out
     * and lse NaN for every query that sees jk; one in V at (jv, cv) makes column cv NaN for the
     * queries that see jv; one in a Q row makes that row NaN (its running max stays −∞, and the
     * row must not pass for one that saw no key). Causal, so some rows cannot see the keys and stay
     * finite.
     */
    @ParameterizedTest(name = "Hq={0} Hkv={1} Sq={2} Skv={3} D={4} groups={5}")
    @MethodSource("nanCases")
    void nanCodesReachExactlyTheRowsThatSeeThem(int hq, int hkv, int sq, int skv, int d, int groups) {
        String before = System.getProperty(GROUPS);
        if (groups > 0) {
            System.setProperty(GROUPS, Integer.toString(groups));
        }
        try {
            Attention attention = Attention.create(TornadoTests.backend());
            int jk = skv - 1;
            int jv = skv - 2;
            int cv = d - 3;
            int qRow = Math.min(1, hq * sq - 1); // stacked row (head 0, position 1) or (head 1, position 0)
            for (int where = 0; where < 3; where++) { // K, V, Q
                try (Fp8Tensor q = fp8(11, PH, 1, hq, sq, d);
                     Fp8Tensor k = fp8(12, PH, 1, hkv, skv, d);
                     Fp8Tensor v = fp8(13, PH, 1, hkv, skv, d);
                     Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
                     Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
                    if (where == 0) {
                        k.data().segment().set(ValueLayout.JAVA_BYTE, (long) jk * d + 7, (byte) 0x7F);
                    } else if (where == 1) {
                        v.data().segment().set(ValueLayout.JAVA_BYTE, (long) jv * d + cv, (byte) 0xFF);
                    } else {
                        q.data().segment().set(ValueLayout.JAVA_BYTE, (long) qRow * d + 5, (byte) 0x7F);
                    }
                    attention.forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
                    for (int h = 0; h < hq; h++) {
                        for (int i = 0; i < sq; i++) {
                            int last = i + skv - sq;
                            String at = new String[] {"K", "V", "Q"}[where] + " NaN, head " + h + " row " + i + ", groups " + groups;
                            boolean rowNan = where == 0 && last >= jk || where == 2 && h * sq + i == qRow;
                            boolean colNan = where == 1 && last >= jv;
                            assertEquals(!rowNan, Float.isFinite(lse.getFloat(h, i)), "lse, " + at);
                            for (int c = 0; c < d; c++) {
                                boolean nan = rowNan || colNan && c == cv;
                                assertEquals(!nan, Float.isFinite(out.getFloat((long) h * sq + i, c)), "out col " + c + ", " + at);
                            }
                        }
                    }
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(GROUPS);
            } else {
                System.setProperty(GROUPS, before);
            }
        }
    }

    static Stream<Arguments> cacheCases() {
        return Stream.of(
                // B, Hq, Hkv, Sq, capacity, D, causal, forced work-groups (0: the device's default)
                Arguments.of(1, 8, 2, 1, 150, 128, true, 0),
                Arguments.of(2, 4, 1, 1, 150, 64, false, 4096),    // key splits, the last ones partial or empty
                Arguments.of(1, 2, 2, 3, 70, 64, true, 0));        // three query rows per step, causal offsets
    }

    /**
     * A decode loop over FP8 KV caches of a fixed capacity whose free slots hold NaN codes (one
     * that reached a result would make it NaN): key lengths 0, 1, 2, 63 … 65, 129 and the full cache,
     * each against the float64 reference over the filled keys. Each call copies only the filled
     * keys of every head into the plan's arrays, whatever the cache's capacity.
     */
    @ParameterizedTest(name = "B={0} Hq={1} Hkv={2} Sq={3} C={4} D={5} causal={6} groups={7}")
    @MethodSource("cacheCases")
    void kvCacheFilledToEachLength(int b, int hq, int hkv, int sq, int capacity, int d, boolean causal, int groups) {
        String before = System.getProperty(GROUPS);
        if (groups > 0) {
            System.setProperty(GROUPS, Integer.toString(groups));
        }
        Attention attention = Attention.create(TornadoTests.backend());
        long seed = TornadoTests.seed("kv cache", b, hq, hkv, sq, capacity, d, causal, groups);
        AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
        try (Fp8Tensor q = fp8(seed, PH, b, hq, sq, d);
             Fp8Tensor kCache = fp8(seed + 1, PH, b, hkv, capacity, d);
             Fp8Tensor vCache = fp8(seed + 2, PH, b, hkv, capacity, d);
             Tensor out = Tensor.allocate(DType.BF16, b, hq, sq, d);
             Tensor lse = Tensor.allocate(DType.FP32, b, hq, sq)) {
            for (int kvLen : new int[] {0, 1, 2, 63, 64, 65, 129, capacity}) {
                if (kvLen > capacity) {
                    continue;
                }
                for (Tensor t : new Tensor[] {kCache.data(), vCache.data()}) { // free slots: NaN codes
                    for (long h = 0; h < (long) b * hkv; h++) {
                        for (long j = kvLen; j < capacity; j++) {
                            t.segment().asSlice(t.rowByteOffset(h * capacity + j), d).fill((byte) 0x7F);
                        }
                    }
                }
                String where = TornadoTests.why(seed, "kvLen=" + kvLen + " of C=" + capacity + ", B=" + b + " Hq=" + hq
                        + " Hkv=" + hkv + " Sq=" + sq + " D=" + d + " causal=" + causal + " groups=" + groups);
                TensorFill.poison(out);
                TensorFill.poison(lse);
                attention.forward(q, kCache, vCache, kvLen, opts, out, lse);
                check(AttentionReference.forward(q, kCache, vCache, kvLen, opts), out, lse, d, where);
                // The next, longer step finds its keys where the generator put them: refill the cache.
                try (Fp8Tensor kFresh = fp8(seed + 1, PH, b, hkv, capacity, d);
                     Fp8Tensor vFresh = fp8(seed + 2, PH, b, hkv, capacity, d)) {
                    MemorySegment.copy(kFresh.data().segment(), 0, kCache.data().segment(), 0, kCache.data().spanBytes());
                    MemorySegment.copy(vFresh.data().segment(), 0, vCache.data().segment(), 0, vCache.data().spanBytes());
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(GROUPS);
            } else {
                System.setProperty(GROUPS, before);
            }
        }
    }

    private static void run(int b, int hq, int hkv, int sq, int skv, int d, boolean causal, ScaleGranularity g) {
        Attention attention = Attention.create(TornadoTests.backend());
        long seed = TornadoTests.seed(b, hq, hkv, sq, skv, d, causal, g);
        String where = TornadoTests.why(seed, "B=" + b + " Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " Skv=" + skv + " D=" + d
                + " causal=" + causal + " " + g);
        AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
        try (Fp8Tensor q = fp8(seed, g, b, hq, sq, d);
             Fp8Tensor k = fp8(seed + 1, g, b, hkv, skv, d);
             Fp8Tensor v = fp8(seed + 2, g, b, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq))) {
            attention.forward(q, k, v, opts, out, lse);
            check(AttentionReference.forward(q, k, v, opts), out, lse, d, where);
        }
    }

    /** N(0, 64²) fp8 values with scales in [0.01, 0.03]: real values near N(0, 1.3²). */
    static Fp8Tensor fp8(long seed, ScaleGranularity g, int b, int h, int s, int d) {
        Tensor data = TensorFill.gaussian(Tensor.allocate(DType.FP8_E4M3FN, b, h, s, d), seed, 64);
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5CA1E5L);
        Tensor scales = g == PH ? Tensor.allocate(DType.FP32, b, h) : Tensor.allocate(DType.FP32, 1);
        for (long r = 0; r < scales.rows(); r++) {
            for (long c = 0; c < scales.cols(); c++) {
                scales.setFloat(r, c, (float) (0.01 + 0.02 * rnd.nextDouble()));
            }
        }
        return new Fp8Tensor(data, scales);
    }

    static void check(AttentionReference.Result ref, Tensor out, Tensor lse, int d, String where) {
        assertEquals(-1, Accuracy.firstNonFinite(out), "non-finite (unwritten?) output element, " + where);
        double[] got = out.toDoubleArray();
        if (got.length > 0) {
            double err = Accuracy.relativeL2(ref.out(), got);
            assertTrue(err <= 3e-2 || Double.isNaN(err), "relative L2 " + err + " > 3e-2, " + where);
        }
        double[] gotLse = lse.toDoubleArray();
        for (int row = 0; row < ref.lse().length; row++) {
            if (ref.lse()[row] == Double.NEGATIVE_INFINITY) {
                assertEquals(Double.NEGATIVE_INFINITY, gotLse[row], "lse of row " + row + " (no visible key), " + where);
                for (int c = 0; c < d; c++) {
                    if (Double.doubleToRawLongBits(got[row * d + c]) != 0) {
                        fail("row " + row + " sees no key but out[" + c + "] = " + got[row * d + c] + ", " + where);
                    }
                }
                continue;
            }
            double num = 0;
            double den = 0;
            for (int c = 0; c < d; c++) {
                double e = got[row * d + c] - ref.out()[row * d + c];
                num += e * e;
                den += ref.out()[row * d + c] * ref.out()[row * d + c];
            }
            double rowErr = Math.sqrt(num / Math.max(den, 1e-30));
            assertTrue(rowErr <= 1e-2, "row " + row + ": relative L2 " + rowErr + " > 1e-2, " + where);
            double lseErr = Math.abs(gotLse[row] - ref.lse()[row]);
            assertTrue(lseErr <= 1e-4 * Math.max(1, Math.abs(ref.lse()[row])),
                    "row " + row + ": lse " + gotLse[row] + " vs " + ref.lse()[row] + ", " + where);
        }
    }
}
