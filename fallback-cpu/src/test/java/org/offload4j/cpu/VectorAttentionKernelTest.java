package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Fp8;

/** The Vector API kernel against the float64 reference on fresh random inputs. */
class VectorAttentionKernelTest {
    private static final ScaleGranularity PT = ScaleGranularity.PER_TENSOR;
    private static final ScaleGranularity PH = ScaleGranularity.PER_HEAD;
    private static final Attention ATTENTION = Attention.create(CpuBackend.create());

    static Stream<Arguments> cases() {
        return Stream.of(
                // B, Hq, Hkv, Sq, Skv, D, causal, granularity
                Arguments.of(1, 1, 1, 1, 1, 64, false, PT),
                Arguments.of(1, 1, 1, 1, 1, 64, true, PH),
                Arguments.of(1, 4, 2, 1, 77, 128, true, PH),      // decode, GQA
                Arguments.of(2, 8, 2, 1, 300, 128, true, PH),     // decode, G = 4: the fused 4-row QKᵀ
                Arguments.of(1, 3, 1, 1, 65, 64, false, PT),      // decode, G = 3 (an aliased row)
                Arguments.of(1, 6, 1, 1, 70, 256, true, PH),      // decode, G = 6, D = 256: the fused 8-row QKᵀ (AVX-512: 4 + 2 rows)
                Arguments.of(1, 1, 1, 69, 80, 128, true, PH),     // 64 + 5 rows: a 5-row item, so AVX-512 runs the fused 8-row QKᵀ too
                Arguments.of(1, 8, 2, 2, 131, 128, true, PT),     // two decode positions, G = 4: 8 rows, causal offsets
                Arguments.of(1, 2, 1, 2, 100, 128, true, PH),     // 4 rows, causal offsets: key-major scores, row mask
                Arguments.of(1, 1, 1, 4, 33, 64, true, PT),       // the same at D = 64: one partial key vector per row
                Arguments.of(1, 9, 1, 1, 40, 64, false, PH),      // 9 rows: past the fused path (AVX-512: 4 + 4 + 1 rows)
                Arguments.of(1, 4, 1, 3, 90, 128, true, PT),      // 12 rows, causal offsets (AVX-512: 3 items of 4)
                Arguments.of(2, 16, 2, 1, 129, 128, true, PH),    // G = 8 decode (AVX-512: two 4-row items)
                Arguments.of(1, 8, 2, 2, 4166, 64, true, PH),     // G = 4, two positions: a second pass of 70 keys, causal offsets in its last tile (AVX-512: 4-row items)
                Arguments.of(1, 2, 1, 2, 4166, 64, true, PH),     // the same in 4 rows, so every width runs it in the fused passes
                Arguments.of(1, 4, 1, 1, 8200, 128, false, PT),   // decode, G = 4: passes of 4096, 4096 and 8 keys
                Arguments.of(1, 8, 1, 2, 70, 64, true, PT),       // 16 rows, the most AVX-512 splits (SPLIT_ROWS)
                Arguments.of(1, 17, 1, 1, 70, 64, false, PH),     // 17 rows: one blocked item everywhere
                Arguments.of(1, 2, 1, 77, 1, 64, true, PT),       // Sq > Skv, causal: most rows see no key
                Arguments.of(1, 2, 1, 77, 1, 64, false, PT),
                Arguments.of(2, 3, 1, 50, 130, 256, true, PH),    // MQA, Sq < Skv
                Arguments.of(2, 3, 1, 50, 130, 256, false, PT),
                Arguments.of(1, 2, 2, 130, 50, 64, true, PH),     // Sq > Skv over several query tiles
                Arguments.of(2, 4, 4, 97, 97, 128, true, PT),
                Arguments.of(1, 8, 2, 100, 100, 128, false, PH),  // GQA
                Arguments.of(1, 2, 1, 64, 200, 64, true, PT),     // several key tiles
                Arguments.of(1, 1, 1, 130, 33, 256, false, PH),   // several query tiles at D = 256
                Arguments.of(1, 2, 2, 5, 0, 128, false, PT));     // no keys at all
    }

    @ParameterizedTest(name = "B={0} Hq={1} Hkv={2} Sq={3} Skv={4} D={5} causal={6} {7}")
    @MethodSource("cases")
    void matchesReference(int b, int hq, int hkv, int sq, int skv, int d, boolean causal, ScaleGranularity g) {
        long seed = AttentionInputs.seed();
        String where = "B=" + b + " Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " Skv=" + skv + " D=" + d + " causal=" + causal
                + " " + g + ", seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
        AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
        try (Fp8Tensor q = AttentionInputs.fp8(seed, g, b, hq, sq, d);
             Fp8Tensor k = AttentionInputs.fp8(seed + 1, g, b, hkv, skv, d);
             Fp8Tensor v = AttentionInputs.fp8(seed + 2, g, b, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq))) {
            ATTENTION.forward(q, k, v, opts, out, lse);
            AttentionReference.Result ref = AttentionReference.forward(q, k, v, opts);
            check(ref, out, lse, d, where);
        }
    }

    @Test
    void peakedSoftmaxWithLargeLogits() {
        // Scales ×8: real values near N(0, 10²), logits in the hundreds; the running max matters.
        long seed = AttentionInputs.seed();
        String where = "seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
        for (boolean causal : new boolean[] {false, true}) {
            AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
            try (Fp8Tensor q = AttentionInputs.fp8(seed, PH, 1, 2, 70, 128, 8);
                 Fp8Tensor k = AttentionInputs.fp8(seed + 1, PH, 1, 1, 90, 128, 8);
                 Fp8Tensor v = AttentionInputs.fp8(seed + 2, PH, 1, 1, 90, 128);
                 Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, 2, 70, 128));
                 Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, 2, 70))) {
                ATTENTION.forward(q, k, v, opts, out, lse);
                check(AttentionReference.forward(q, k, v, opts), out, lse, 128, where + " causal=" + causal);
            }
        }
    }

    @Test
    void stridedTensors() {
        // q, k, v, out and lse with padded rows; only the rows' elements are read or written.
        long seed = AttentionInputs.seed();
        int b = 1, hq = 4, hkv = 2, sq = 70, skv = 45, d = 64;
        try (Arena arena = Arena.ofConfined();
             Fp8Tensor qd = AttentionInputs.fp8(seed, PH, b, hq, sq, d);
             Fp8Tensor kd = AttentionInputs.fp8(seed + 1, PT, b, hkv, skv, d);
             Fp8Tensor vd = AttentionInputs.fp8(seed + 2, PH, b, hkv, skv, d)) {
            Fp8Tensor q = new Fp8Tensor(strided(arena, qd.data(), d + 32), qd.scales());
            Fp8Tensor k = new Fp8Tensor(strided(arena, kd.data(), d + 1), kd.scales());
            Fp8Tensor v = new Fp8Tensor(strided(arena, vd.data(), d + 7), vd.scales());
            Tensor out = TensorFill.poison(Tensor.wrapStrided(arena.allocate(2L * (b * hq * sq) * (d + 8)), DType.BF16, d + 8,
                    new long[] {b, hq, sq, d}));
            Tensor lse = TensorFill.poison(Tensor.wrapStrided(arena.allocate(4L * (b * hq) * (sq + 3)), DType.FP32, sq + 3,
                    new long[] {b, hq, sq}));
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
            ATTENTION.forward(q, k, v, opts, out, lse);
            check(AttentionReference.forward(qd, kd, vd, opts), out, lse, d, "strided, seed " + seed);
        }
    }

    /** A copy of {@code t} in rows of {@code stride} elements (the gaps hold NaN codes). */
    private static Tensor strided(Arena arena, Tensor t, long stride) {
        MemorySegment seg = arena.allocate(t.dtype().byteSize((t.rows() - 1) * stride + t.cols()));
        seg.fill((byte) 0x7F);
        Tensor s = Tensor.wrapStrided(seg, t.dtype(), stride, t.shape());
        for (long r = 0; r < t.rows(); r++) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(r), seg, s.rowByteOffset(r), t.dtype().byteSize(t.cols()));
        }
        return s;
    }

    @Test
    void bf16EntryEqualsQuantizeThenFp8Entry() {
        long seed = AttentionInputs.seed();
        int b = 2, hq = 4, hkv = 2, sq = 33, skv = 40, d = 64;
        AttentionOptions opts = AttentionOptions.defaults().withCausal(true).withGranularity(PH).withRotation(new SylvesterRotation(d));
        try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.BF16, b, hq, sq, d), seed, 1);
             Tensor k = TensorFill.gaussian(Tensor.allocate(DType.BF16, b, hkv, skv, d), seed + 1, 1);
             Tensor v = TensorFill.gaussian(Tensor.allocate(DType.BF16, b, hkv, skv, d), seed + 2, 1);
             Tensor out1 = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor out2 = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor lse1 = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq));
             Tensor lse2 = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq));
             Fp8Tensor q8 = Fp8Quantizer.quantize(q, PH, opts.rotation());
             Fp8Tensor k8 = Fp8Quantizer.quantize(k, PH, opts.rotation());
             Fp8Tensor v8 = Fp8Quantizer.quantize(v, PH)) {
            ATTENTION.forward(q, k, v, opts, out1, lse1);
            ATTENTION.forward(q8, k8, v8, opts, out2, lse2);
            assertArrayEquals(out2.toFloatArray(), out1.toFloatArray(), "seed " + seed);
            assertArrayEquals(lse2.toFloatArray(), lse1.toFloatArray(), "seed " + seed);
            check(AttentionReference.forward(q8, k8, v8, opts), out1, lse1, d, "bf16 entry, seed " + seed);
        }
    }

    @Test
    void nanCodesPropagateToTheRowsTheyReach() {
        // A NaN code in key 2: causal rows 0 and 1 cannot see it and stay finite; rows 2.. become NaN.
        try (Fp8Tensor q = AttentionInputs.fp8(1, PT, 1, 1, 8, 64);
             Fp8Tensor k = AttentionInputs.fp8(2, PT, 1, 1, 8, 64);
             Fp8Tensor v = AttentionInputs.fp8(3, PT, 1, 1, 8, 64);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, 1, 8, 64));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, 1, 8))) {
            k.data().segment().set(ValueLayout.JAVA_BYTE, 2 * 64 + 5, Fp8.CANONICAL_NAN);
            ATTENTION.forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
            for (int i = 0; i < 8; i++) {
                assertEquals(i < 2, Float.isFinite(lse.getFloat(0, i)), "lse row " + i);
                for (int c = 0; c < 64; c++) {
                    assertEquals(i < 2, Float.isFinite(out.getFloat(i, c)), "out row " + i + " col " + c);
                }
            }
        }
    }

    static Stream<Arguments> nanCases() {
        return Stream.of(
                // Hq, Hkv, Sq, Skv, D: the fused 4-row QKᵀ and PV (decode, G = 4), the fused
                // 8-row QKᵀ (G = 8; with AVX-512 two 4-row items, and 64 + 5 rows for the 8-row
                // kernel), two decode positions (causal offsets inside one item), prefill
                Arguments.of(4, 1, 1, 70, 128),
                Arguments.of(4, 1, 1, 4160, 64),        // the NaN codes in the fused path's second pass (PASS_KEYS)
                Arguments.of(8, 1, 1, 40, 64),
                Arguments.of(2, 1, 2, 33, 64),
                Arguments.of(4, 1, 2, 40, 64),          // 8 rows with causal offsets, a blind row
                Arguments.of(1, 1, 69, 80, 128),        // 64 + 5 rows: the 5-row item takes the fused 8-row QKᵀ everywhere
                Arguments.of(1, 1, 4, 50, 128),
                Arguments.of(1, 1, 70, 70, 64));
    }

    /**
     * A NaN code in K row {@code jk} makes the scores of every row that sees key {@code jk} NaN; one
     * in V at (jv, cv) makes column cv NaN for exactly the rows that see key jv, as in the float64
     * reference. Causal, so some rows of each work item cannot see the poisoned keys and stay finite.
     */
    @ParameterizedTest(name = "Hq={0} Hkv={1} Sq={2} Skv={3} D={4}")
    @MethodSource("nanCases")
    void nanCodesReachExactlyTheRowsThatSeeThem(int hq, int hkv, int sq, int skv, int d) {
        int jk = skv - 1;
        int jv = skv - 2;
        int cv = d - 3;
        for (boolean inK : new boolean[] {true, false}) {
            try (Fp8Tensor q = AttentionInputs.fp8(11, PH, 1, hq, sq, d);
                 Fp8Tensor k = AttentionInputs.fp8(12, PH, 1, hkv, skv, d);
                 Fp8Tensor v = AttentionInputs.fp8(13, PH, 1, hkv, skv, d);
                 Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
                 Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
                if (inK) {
                    k.data().segment().set(ValueLayout.JAVA_BYTE, (long) jk * d + 7, Fp8.CANONICAL_NAN);
                } else {
                    v.data().segment().set(ValueLayout.JAVA_BYTE, (long) jv * d + cv, (byte) 0xFF);
                }
                ATTENTION.forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
                for (int h = 0; h < hq; h++) {
                    for (int i = 0; i < sq; i++) {
                        int last = i + skv - sq;
                        String where = (inK ? "K" : "V") + " NaN, head " + h + " row " + i;
                        boolean seesK = inK && last >= jk;
                        boolean seesV = !inK && last >= jv;
                        assertEquals(!seesK, Float.isFinite(lse.getFloat(h, i)), "lse, " + where);
                        for (int c = 0; c < d; c++) {
                            boolean nan = seesK || (seesV && c == cv);
                            assertEquals(!nan, Float.isFinite(out.getFloat((long) h * sq + i, c)), "out col " + c + ", " + where);
                        }
                    }
                }
            }
        }
    }

    /** Groups of up to SPLIT_ROWS rows run as 4-row items with AVX-512 only, and only where the fused kernels take D. */
    @Test
    void smallGroupsSplitIntoFourRowItemsWithAvx512Only() {
        boolean split = VectorAttentionKernel.L >= 16;
        for (long rows : new long[] {1, 5, 8, 12, VectorAttentionKernel.SPLIT_ROWS}) {
            assertEquals(split ? 4 : VectorAttentionKernel.BQ, VectorAttentionKernel.itemRows(rows, 128), rows + " rows");
        }
        assertEquals(VectorAttentionKernel.BQ, VectorAttentionKernel.itemRows(VectorAttentionKernel.SPLIT_ROWS + 1, 128));
        assertEquals(VectorAttentionKernel.BQ, VectorAttentionKernel.itemRows(8, 80), "D = 80 is not a whole number of quad groups");
    }

    /**
     * Each thread keeps its scratch arrays from call to call, one set per head dimension: a call
     * whose K and V are all NaN codes (every score, probability and accumulator NaN) must leave
     * nothing that a later call reads, whether it has the same shape or another one (decode steps
     * on the fused kernels (4-row items; 8-row ones where the vectors are narrower than 512
     * bits), prefills on the tiled path, D = 64, 128, 256).
     */
    @Test
    void scratchLeftByAnEarlierCallLeavesNoTrace() {
        long seed = AttentionInputs.seed();
        // Hq, Hkv, Sq, Skv, D
        int[][] shapes = {{8, 2, 1, 300, 128}, {6, 1, 1, 70, 256}, {4, 2, 97, 97, 64}, {4, 1, 1, 90, 64},
            {2, 2, 70, 140, 128}, {8, 1, 1, 50, 64}};
        AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
        for (int i = 0; i < shapes.length; i++) {
            runAllNan(shapes[i], seed, opts);
            for (int[] next : new int[][] {shapes[i], shapes[(i + 1) % shapes.length]}) {
                int hq = next[0], hkv = next[1], sq = next[2], skv = next[3], d = next[4];
                String where = "Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " Skv=" + skv + " D=" + d
                        + " after an all-NaN call of shape " + Arrays.toString(shapes[i]) + ", seed " + seed;
                try (Fp8Tensor q = AttentionInputs.fp8(seed, PH, 1, hq, sq, d);
                     Fp8Tensor k = AttentionInputs.fp8(seed + 1, PH, 1, hkv, skv, d);
                     Fp8Tensor v = AttentionInputs.fp8(seed + 2, PH, 1, hkv, skv, d);
                     Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
                     Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
                    ATTENTION.forward(q, k, v, opts, out, lse);
                    check(AttentionReference.forward(q, k, v, opts), out, lse, d, where);
                }
            }
        }
    }

    private static void runAllNan(int[] shape, long seed, AttentionOptions opts) {
        int hq = shape[0], hkv = shape[1], sq = shape[2], skv = shape[3], d = shape[4];
        try (Fp8Tensor q = AttentionInputs.fp8(seed, PH, 1, hq, sq, d);
             Fp8Tensor k = AttentionInputs.fp8(seed + 1, PH, 1, hkv, skv, d);
             Fp8Tensor v = AttentionInputs.fp8(seed + 2, PH, 1, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
            k.data().segment().fill(Fp8.CANONICAL_NAN);
            v.data().segment().fill(Fp8.CANONICAL_NAN);
            ATTENTION.forward(q, k, v, opts, out, lse);
            assertTrue(Float.isNaN(out.getFloat(0, 0)), "the poisoning call made NaNs, shape " + Arrays.toString(shape));
        }
    }

    /**
     * Scales so large that the fused QKᵀ's Q rows (× 2^60, see loadQRows) would overflow: such
     * items take the tiled path, and the result still matches the reference.
     */
    @Test
    void hugeScalesTakeTheTiledPathAndStayCorrect() {
        long seed = AttentionInputs.seed();
        int hq = 4, hkv = 1, sq = 1, skv = 90, d = 128;
        try (Fp8Tensor q = AttentionInputs.fp8(seed, PH, 1, hq, sq, d, 1e12);
             Fp8Tensor k = AttentionInputs.fp8(seed + 1, PH, 1, hkv, skv, d, 1e12);
             Fp8Tensor v = AttentionInputs.fp8(seed + 2, PH, 1, hkv, skv, d);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, 1, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, 1, hq, sq))) {
            AttentionOptions opts = AttentionOptions.defaults();
            ATTENTION.forward(q, k, v, opts, out, lse);
            check(AttentionReference.forward(q, k, v, opts), out, lse, d, "huge scales, seed " + seed);
        }
    }

    @Test
    void defaultFacadeRunsOnTheCpuBackend() {
        assertEquals("cpu", Attention.create().backend().name());
    }

    /** Every element written, the contract's 3e-2 overall, 1e-2 per row, exact zeros and −∞ for rows that see no key, lse close. */
    static void check(AttentionReference.Result ref, Tensor out, Tensor lse, int d, String where) {
        assertEquals(-1, Accuracy.firstNonFinite(out), "non-finite (unwritten?) output element, " + where);
        double[] got = out.toDoubleArray();
        double err = Accuracy.relativeL2(ref.out(), got);
        assertTrue(err <= 3e-2, "relative L2 " + err + " > 3e-2, " + where);
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
