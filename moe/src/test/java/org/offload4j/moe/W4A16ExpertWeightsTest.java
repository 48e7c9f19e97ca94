package org.offload4j.moe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.ExpertWeights.Matrix;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;

/**
 * Int4 expert weights: {@link W4A16ExpertWeights#decode} against {@link QuantizedWeight#dequantize},
 * bit for bit, on random blocks; the factories' checks; ownership; the float64 reference. Inputs
 * are fresh random each run; failures carry the seed ({@code -Doffload.test.seed=…} replays).
 */
class W4A16ExpertWeightsTest {
    static final long BASE_SEED = Long.getLong("offload.test.seed", System.nanoTime());

    static long seed(Object... parts) {
        long h = BASE_SEED;
        for (Object p : parts) {
            h = h * 0x9E3779B97F4A7C15L + p.hashCode();
        }
        return h;
    }

    static String why(long seed, String what) {
        return what + " (seed " + seed + "; base seed " + BASE_SEED + ", replay with -Doffload.test.seed=" + BASE_SEED + ")";
    }

    /** Float weights {@code [E, d_model, 2·d_ff]} and {@code [E, d_ff, d_model]}, N(0, 1/fan-in). */
    static Tensor[] floatWeights(Arena arena, long seed, DType dtype, int experts, int dModel, int dFf) {
        return new Tensor[] {
                TensorFill.gaussian(Tensor.allocate(arena, dtype, experts, dModel, 2L * dFf), seed, 1 / Math.sqrt(dModel)),
                TensorFill.gaussian(Tensor.allocate(arena, dtype, experts, dFf, dModel), seed + 1, 1 / Math.sqrt(dFf))};
    }

    static Stream<Arguments> layouts() {
        return Stream.of(
                // E, d_model, d_ff, group size, symmetric, scale dtype
                Arguments.of(3, 96, 64, 32, false, DType.FP16),
                Arguments.of(2, 128, 64, 64, true, DType.BF16),
                Arguments.of(2, 256, 128, 128, false, DType.FP32),
                Arguments.of(3, 40, 24, -1, false, DType.FP16),
                Arguments.of(1, 8, 8, -1, true, DType.FP32));
    }

    /** Random blocks, including single rows and columns, unaligned starts and the last row and column. */
    @ParameterizedTest(name = "E={0} d_model={1} d_ff={2} g={3} sym={4} scales {5}")
    @MethodSource("layouts")
    void decodeEqualsDequantizeOnRandomBlocks(int experts, int dModel, int dFf, int g, boolean symmetric, DType scaleType) {
        long seed = seed("decode", experts, dModel, dFf, g, symmetric, scaleType);
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, seed, DType.FP32, experts, dModel, dFf);
            try (W4A16ExpertWeights q = W4A16ExpertWeights.quantize(w[0], w[1], g, symmetric, scaleType)) {
                for (Matrix m : Matrix.values()) {
                    int rows = m.rows(q);
                    int cols = m.cols(q);
                    for (int e = 0; e < experts; e++) {
                        float[] want;
                        try (Tensor d = q.weight(m, e).dequantize()) {
                            want = d.toFloatArray();
                        }
                        for (int trial = 0; trial < 24; trial++) {
                            int r0, nr, c0, nc;
                            switch (trial) {
                                case 0 -> { r0 = 0; nr = rows; c0 = 0; nc = cols; }               // whole matrix
                                case 1 -> { r0 = rows - 1; nr = 1; c0 = cols - 1; nc = 1; }       // last element
                                case 2 -> { r0 = rows - 3; nr = 3; c0 = 0; nc = cols; }           // last rows
                                case 3 -> { r0 = 5; nr = Math.min(rows - 5, 19); c0 = cols - 7; nc = 7; }
                                default -> {
                                    r0 = rnd.nextInt(rows);
                                    nr = 1 + rnd.nextInt(rows - r0);
                                    c0 = rnd.nextInt(cols);
                                    nc = 1 + rnd.nextInt(cols - c0);
                                }
                            }
                            int stride = nc + rnd.nextInt(5);
                            int offset = rnd.nextInt(4);
                            float[] dst = new float[offset + (nr - 1) * stride + nc + rnd.nextInt(3)];
                            int sentinel = 0x7FC0_1234;
                            Arrays.fill(dst, Float.intBitsToFloat(sentinel));
                            q.decode(m, e, r0, nr, c0, nc, dst, offset, stride);
                            String block = m + " of expert " + e + ", rows " + r0 + "+" + nr + ", cols " + c0 + "+" + nc
                                    + ", offset " + offset + ", stride " + stride;
                            boolean[] written = new boolean[dst.length];
                            for (int r = 0; r < nr; r++) {
                                for (int c = 0; c < nc; c++) {
                                    int at = offset + r * stride + c;
                                    written[at] = true;
                                    float expected = want[(r0 + r) * cols + c0 + c];
                                    if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(dst[at])) {
                                        assertEquals(expected, dst[at],
                                                why(seed, block + ": element (" + (r0 + r) + ", " + (c0 + c) + ")"));
                                    }
                                }
                            }
                            for (int i = 0; i < dst.length; i++) {
                                if (!written[i]) {
                                    assertEquals(sentinel, Float.floatToRawIntBits(dst[i]),
                                            why(seed, block + ": dst[" + i + "] outside the block was written"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void decodeChecksItsBlockAndThatItIsOpen() {
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, 7, DType.FP32, 2, 16, 8);
            W4A16ExpertWeights q = W4A16ExpertWeights.quantize(w[0], w[1], -1, false, DType.FP16);
            float[] dst = new float[64];
            q.decode(Matrix.GATE_UP, 1, 0, 0, 0, 16, dst, 0, 16);  // empty block: nothing to do
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.GATE_UP, 2, 0, 1, 0, 1, dst, 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.GATE_UP, -1, 0, 1, 0, 1, dst, 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.GATE_UP, 0, 15, 2, 0, 1, dst, 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.GATE_UP, 0, 0, 1, 10, 7, dst, 0, 7));
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.DOWN, 0, 0, 9, 0, 1, dst, 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.DOWN, 0, 0, 8, 0, 16, dst, 0, 16));  // dst too small
            assertThrows(IndexOutOfBoundsException.class, () -> q.decode(Matrix.DOWN, 0, 0, 1, 0, 4, dst, 61, 4));
            q.close();
            assertThrows(IllegalStateException.class, () -> q.decode(Matrix.DOWN, 0, 0, 1, 0, 1, dst, 0, 1));
        }
    }

    /** quantize = RtnQuantizer on each expert's slice, for contiguous and strided inputs alike. */
    @Test
    void quantizeQuantizesEachExpertsSlice() {
        int experts = 3, dModel = 64, dFf = 32;
        long seed = seed("slices");
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, seed, DType.BF16, experts, dModel, dFf);
            // The same values with a wider row stride.
            long stride = 2L * dFf + 24;
            Tensor strided = Tensor.wrapStrided(arena.allocate(2 * stride * experts * dModel, 64), DType.BF16, stride,
                    experts, dModel, 2L * dFf);
            strided.copyFrom(w[0].toFloatArray());
            try (W4A16ExpertWeights a = W4A16ExpertWeights.quantize(w[0], w[1], 32, false, DType.BF16);
                 W4A16ExpertWeights b = W4A16ExpertWeights.quantize(strided, w[1], 32, false, DType.BF16)) {
                assertTrue(a.ownsWeights());
                assertEquals("w4a16", a.format());
                assertEquals(experts, a.experts());
                assertEquals(dModel, a.dModel());
                assertEquals(dFf, a.dFf());
                assertEquals(32, a.groupSize(Matrix.GATE_UP));
                for (int e = 0; e < experts; e++) {
                    float[] slice = Arrays.copyOfRange(w[0].toFloatArray(), e * dModel * 2 * dFf, (e + 1) * dModel * 2 * dFf);
                    try (Tensor s = Tensor.of(DType.BF16, slice, dModel, 2L * dFf);
                         QuantizedWeight direct = RtnQuantizer.quantize(s, 32, false, DType.BF16)) {
                        assertSameWeight(direct, a.weight(Matrix.GATE_UP, e), why(seed, "w1 of expert " + e));
                        assertSameWeight(direct, b.weight(Matrix.GATE_UP, e), why(seed, "strided w1 of expert " + e));
                    }
                    assertSameWeight(a.weight(Matrix.DOWN, e), b.weight(Matrix.DOWN, e), why(seed, "w2 of expert " + e));
                    assertEquals(dFf, a.weight(Matrix.DOWN, e).k());
                    assertEquals(dModel, a.weight(Matrix.DOWN, e).n());
                }
            }
        }
    }

    static void assertSameWeight(QuantizedWeight want, QuantizedWeight got, String what) {
        assertEquals(want.toString(), got.toString(), what);
        for (int r = 0; r < want.k(); r++) {
            for (int c = 0; c < want.n(); c++) {
                if (want.q(r, c) != got.q(r, c)) {
                    assertEquals(want.q(r, c), got.q(r, c), what + ": q(" + r + ", " + c + ")");
                }
            }
        }
        for (int gi = 0; gi < want.groups(); gi++) {
            for (int c = 0; c < want.n(); c++) {
                assertEquals(want.zero(gi, c), got.zero(gi, c), what + ": zero(" + gi + ", " + c + ")");
                assertEquals(want.scale(gi, c), got.scale(gi, c), what + ": scale(" + gi + ", " + c + ")");
            }
        }
    }

    @Test
    void ownershipAndClose() {
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, 11, DType.FP32, 2, 16, 8);
            W4A16ExpertWeights owned = W4A16ExpertWeights.quantize(w[0], w[1], -1, true, DType.FP16);
            List<QuantizedWeight> w1 = List.of(owned.weight(Matrix.GATE_UP, 0), owned.weight(Matrix.GATE_UP, 1));
            List<QuantizedWeight> w2 = List.of(owned.weight(Matrix.DOWN, 0), owned.weight(Matrix.DOWN, 1));

            // Borrowed: closing the view leaves the weights open.
            W4A16ExpertWeights borrowed = W4A16ExpertWeights.of(w1, w2);
            assertFalse(borrowed.ownsWeights());
            assertSame(w2.get(1), borrowed.weight(Matrix.DOWN, 1));
            assertTrue(borrowed.isAlive());
            assertTrue(borrowed.overlaps(w1.get(1).qweight()));
            assertTrue(borrowed.overlaps(w2.get(0).scales()));
            assertFalse(borrowed.overlaps(w[0]));
            borrowed.close();
            borrowed.close();
            assertFalse(borrowed.isAlive());
            assertTrue(owned.isAlive());
            assertTrue(w1.get(0).isAlive());

            // A layer refuses weights one of which was closed under it.
            W4A16ExpertWeights again = W4A16ExpertWeights.of(w1, w2);
            Tensor wr = Tensor.allocate(arena, DType.FP32, 16, 2);
            MoeLayer layer = MoeLayer.create(new ReferenceBackend(), wr, again, MoeOptions.topK(1));

            // Owned: closing the view closes every weight, and the borrowing view sees it.
            owned.close();
            owned.close();
            assertFalse(owned.isAlive());
            for (QuantizedWeight q : w1) {
                assertFalse(q.isAlive());
            }
            assertFalse(w2.get(1).isAlive());
            assertFalse(again.isAlive());
            Tensor x = Tensor.allocate(arena, DType.BF16, 3, 16);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> layer.forward(x, Tensor.allocate(arena, DType.BF16, 3, 16)));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }

    // ---- rejected input ---------------------------------------------------------------------

    static void rejected(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call,
                "expected a rejection mentioning '" + fragment + "'");
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }

    @Test
    void ofRejectsBadWeights() {
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, 13, DType.FP32, 3, 64, 32);
            try (W4A16ExpertWeights base = W4A16ExpertWeights.quantize(w[0], w[1], 32, false, DType.FP16);
                 W4A16ExpertWeights sym = W4A16ExpertWeights.quantize(w[0], w[1], 32, true, DType.FP16);
                 W4A16ExpertWeights bf = W4A16ExpertWeights.quantize(w[0], w[1], 32, false, DType.BF16);
                 W4A16ExpertWeights perColumn = W4A16ExpertWeights.quantize(w[0], w[1], -1, false, DType.FP16)) {
                List<QuantizedWeight> w1 = list(base, Matrix.GATE_UP);
                List<QuantizedWeight> w2 = list(base, Matrix.DOWN);
                assertEquals(3, W4A16ExpertWeights.of(w1, w2).experts());

                rejected("w1 must not be null", () -> W4A16ExpertWeights.of(null, w2));
                rejected("w2 must not be null", () -> W4A16ExpertWeights.of(w1, null));
                rejected("w1 has 0 experts", () -> W4A16ExpertWeights.of(List.of(), List.of()));
                rejected("w2 has 0 experts", () -> W4A16ExpertWeights.of(w1, List.of()));
                rejected("w2 has 2 experts; expected E = 3", () -> W4A16ExpertWeights.of(w1, w2.subList(0, 2)));
                rejected("w1[1] must not be null", () -> W4A16ExpertWeights.of(Arrays.asList(w1.get(0), null, w1.get(2)), w2));
                rejected("w2[2] must not be null", () -> W4A16ExpertWeights.of(w1, Arrays.asList(w2.get(0), w2.get(1), null)));
                // Shapes: a W1 used as W2 and the other way round; a d_ff that is no multiple of 8 (W1 [16, 8]).
                rejected("w2[1] is W4[64, 64]", () -> W4A16ExpertWeights.of(w1, List.of(w2.get(0), w1.get(1), w2.get(2))));
                rejected("w1[2] is W4[32, 64]", () -> W4A16ExpertWeights.of(List.of(w1.get(0), w1.get(1), w2.get(2)), w2));
                try (QuantizedWeight odd = RtnQuantizer.quantize(Tensor.allocate(arena, DType.FP32, 16, 8), 16, false, DType.FP16)) {
                    rejected("w1[0] is W4[16, 8]", () -> W4A16ExpertWeights.of(List.of(odd), List.of(w2.get(0))));
                }
                // One layout per matrix: group size, symmetry, scale dtype.
                rejected("the layout of w1[0], W4[64, 64] g64 asym", () -> W4A16ExpertWeights.of(
                        List.of(perColumn.weight(Matrix.GATE_UP, 0), w1.get(1), w1.get(2)), w2));
                rejected("w1[1] is W4[64, 64] g32 asym", () -> W4A16ExpertWeights.of(
                        List.of(perColumn.weight(Matrix.GATE_UP, 0), w1.get(1), w1.get(2)), w2));
                rejected("w2[1] is W4[32, 64] g32 sym", () -> W4A16ExpertWeights.of(
                        w1, List.of(w2.get(0), sym.weight(Matrix.DOWN, 1), w2.get(2))));
                rejected("scales=bf16; expected the layout of w1[0]", () -> W4A16ExpertWeights.of(
                        List.of(w1.get(0), w1.get(1), bf.weight(Matrix.GATE_UP, 2)), w2));
                // Closed.
                QuantizedWeight closed = QuantizedWeight.wrap(32, 64, 32, w2.get(1).qweight(), w2.get(1).qzeros(), w2.get(1).scales());
                closed.close();
                rejected("w2[1] (W4[32, 64] g32 asym scales=fp16) is closed", () -> W4A16ExpertWeights.of(
                        w1, List.of(w2.get(0), closed, w2.get(2))));
            }
        }
    }

    static List<QuantizedWeight> list(W4A16ExpertWeights w, Matrix m) {
        List<QuantizedWeight> out = new ArrayList<>();
        for (int e = 0; e < w.experts(); e++) {
            out.add(w.weight(m, e));
        }
        return out;
    }

    @Test
    void quantizeRejectsBadInput() {
        int e = 2, d = 32, f = 16;
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, 17, DType.BF16, e, d, f);
            Tensor w1 = w[0];
            Tensor w2 = w[1];
            rejected("w1 must not be null", () -> quantize(null, w2, 32));
            rejected("w2 must not be null", () -> quantize(w1, null, 32));
            Tensor closed = Tensor.allocate(DType.BF16, e, f, d);
            closed.close();
            rejected("w2 (bf16[2, 16, 32]@host) is closed", () -> quantize(w1, closed, 32));
            rejected("w1 has dtype int32", () -> quantize(Tensor.allocate(arena, DType.INT32, e, d, 2 * f), w2, 32));
            rejected("w2 has dtype fp8_e4m3", () -> quantize(w1, Tensor.allocate(arena, DType.FP8_E4M3FN, e, f, d), 32));
            rejected("w1 has shape [64, 32]; expected rank 3", () -> quantize(bf16(arena, e * d, 2 * f), w2, 32));
            rejected("w2 has shape [32, 32]; expected rank 3", () -> quantize(w1, bf16(arena, e * f, d), 32));
            rejected("E = 0 experts", () -> quantize(bf16(arena, 0, d, 2 * f), bf16(arena, 0, f, d), 32));
            rejected("d_model = 36", () -> quantize(bf16(arena, e, 36, 2 * f), bf16(arena, e, f, 36), -1));
            rejected("last dimension 24", () -> quantize(bf16(arena, e, d, 24), bf16(arena, e, 12, d), -1));
            rejected("w2 has shape [2, 16, 40]", () -> quantize(w1, bf16(arena, e, f, 40), -1));
            rejected("w2 has shape [3, 16, 32]", () -> quantize(w1, bf16(arena, 3, f, d), -1));
            // Group sizes: not in the list, or not dividing one matrix's k (w2: k = d_ff = 16).
            rejected("groupSize = 16 is not accepted for w1 (k = d_model = 32)", () -> quantize(w1, w2, 16));
            rejected("groupSize = 32 is not accepted for w2 (k = d_ff = 16)", () -> quantize(w1, w2, 32));
            rejected("groupSize = 0", () -> quantize(w1, w2, 0));
            rejected("groupSize = -2", () -> quantize(w1, w2, -2));
            rejected("scaleType must not be null", () -> W4A16ExpertWeights.quantize(w1, w2, -1, false, null));
            rejected("scaleType = int32 is not accepted", () -> W4A16ExpertWeights.quantize(w1, w2, -1, false, DType.INT32));
            // Values: a NaN in w2's second expert; a scale that overflows fp16 in w1's first.
            Tensor nan = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, e, f, d), 3, 1);
            nan.setFloat(f + 5, 7, Float.NaN);
            rejected("w2, expert 1: w[5, 7] = NaN", () -> quantize(w1, nan, -1));
            Tensor huge = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, e, d, 2 * f), 3, 1);
            huge.setFloat(3, 1, 3e9f);
            rejected("w1, expert 0: w: group 0 of column 1", () -> quantize(huge, w2, -1));
        }
    }

    static W4A16ExpertWeights quantize(Tensor w1, Tensor w2, int groupSize) {
        return W4A16ExpertWeights.quantize(w1, w2, groupSize, false, DType.FP16);
    }

    static Tensor bf16(Arena arena, long... shape) {
        return Tensor.allocate(arena, DType.BF16, shape);
    }

    // ---- the float64 reference with int4 experts --------------------------------------------

    /** groupedGemm over W4A16 experts = the plain float64 product with QuantizedWeight.weight(). */
    @Test
    void referenceUsesTheExactDequantizedWeights() {
        int tokens = 6, experts = 3, k = 2, dModel = 16, dFf = 8;
        long seed = seed("reference");
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = floatWeights(arena, seed, DType.FP32, experts, dModel, dFf);
            try (W4A16ExpertWeights q = W4A16ExpertWeights.quantize(w[0], w[1], -1, false, DType.FP32)) {
                Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), seed + 5, 1);
                Routing r = MoeReference.routeFromLogits(TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, tokens, experts),
                        seed + 6, 1).toDoubleArray(), experts, k, true);
                double[] xp = MoeReference.permute(x, r);
                double[] h = MoeReference.groupedGemm(xp, r, q, Matrix.GATE_UP);
                for (int p = 0; p < r.copies(); p++) {
                    QuantizedWeight m = q.weight(Matrix.GATE_UP, expertOfCopy(r, p));
                    for (int c = 0; c < 2 * dFf; c++) {
                        double want = 0;
                        for (int i = 0; i < dModel; i++) {
                            want += xp[p * dModel + i] * m.weight(i, c);
                        }
                        assertEquals(want, h[p * 2 * dFf + c], 1e-12 * (1 + Math.abs(want)), why(seed, "h[" + p + ", " + c + "]"));
                    }
                }
            }
        }
    }

    static int expertOfCopy(Routing r, int p) {
        for (int e = 0; e < r.experts(); e++) {
            if (p < r.offset(e + 1)) {
                return e;
            }
        }
        throw new AssertionError("copy " + p);
    }

    @Test
    void actOrderExpertsAreRejectedBecauseTheMoeKernelsReadRowsInOrder() {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 64, 32), 1, 0.1);
             QuantizedWeight plain = RtnQuantizer.quantize(wf, 32, false, DType.FP16);
             Tensor gIdx = Tensor.allocate(DType.INT32, 64)) {
            for (int kk = 0; kk < 64; kk++) {
                gIdx.setInt(0, kk, (kk + 1) % 2); // rows alternate between the two groups
            }
            try (QuantizedWeight act = QuantizedWeight.fromGptqActOrder(64, 32, 32, plain.qweight(), plain.qzeros(), plain.scales(), gIdx);
                 Tensor w2f = TensorFill.gaussian(Tensor.allocate(DType.FP32, 16, 64), 2, 0.1);
                 QuantizedWeight w2 = RtnQuantizer.quantize(w2f, -1, false, DType.FP16)) {
                assertTrue(act.actOrder());
                var e = assertThrows(IllegalArgumentException.class, () -> W4A16ExpertWeights.of(List.of(act), List.of(w2)));
                assertTrue(e.getMessage().contains("w1[0]") && e.getMessage().contains("act-order"), e.getMessage());
            }
        }
    }
}
