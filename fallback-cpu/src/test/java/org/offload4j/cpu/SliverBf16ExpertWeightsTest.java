package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.ExpertWeights.Matrix;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * The CPU backend's prepared bf16 experts ({@link SliverBf16ExpertWeights}, through
 * {@link MoeLayer#prepared()}): the layout holds every value of the source, and every call on a
 * prepared layer gives the bits of the same call on the unprepared one, on the streamed path
 * (few rows per expert), both panel shapes, partial slivers and partial 128-row blocks.
 * Inputs are fresh random (seeds as in {@link VectorMoeKernelTest}); outputs poisoned first.
 */
class SliverBf16ExpertWeightsTest {
    @Test
    void panelDepthsAreWholeBlocks() {
        // packSlivers and fusedHead assume a k-block never starts inside a 128-row block.
        assertEquals(0, VectorMoeKernel.KC % SliverBf16ExpertWeights.BLOCK_ROWS, "NARROW depth");
        assertEquals(0, VectorMoeKernel.WIDE.kc() % SliverBf16ExpertWeights.BLOCK_ROWS, "WIDE depth");
    }

    /**
     * Every element decodes to the source's value, and the storage, walked in the order of the
     * layout's diagram (not through the class's index functions), holds each source value where
     * the diagram puts it and zero in the padding.
     */
    @ParameterizedTest(name = "E = {0}, d = {1}, d_ff = {2}")
    @CsvSource({"1, 1, 1", "3, 37, 45", "2, 300, 260", "2, 129, 16", "1, 64, 1040"})
    void holdsEveryValueOfTheSource(int experts, int dModel, int dFf) {
        long seed = VectorMoeKernelTest.seed("sliver layout", experts, dModel, dFf);
        try (Arena arena = Arena.ofConfined()) {
            Bf16ExpertWeights source = weights(arena, seed, experts, dModel, dFf);
            try (SliverBf16ExpertWeights copy = SliverBf16ExpertWeights.copyOf(source)) {
                assertEquals(experts, copy.experts());
                assertEquals(dModel, copy.dModel());
                assertEquals(dFf, copy.dFf());
                for (Matrix m : Matrix.values()) {
                    int rows = m.rows(source);
                    int cols = m.cols(source);
                    float[] want = new float[rows * cols];
                    float[] got = new float[rows * cols];
                    for (int e = 0; e < experts; e++) {
                        source.decode(m, e, 0, rows, 0, cols, want, 0, cols);
                        Arrays.fill(got, Float.NaN);
                        copy.decode(m, e, 0, rows, 0, cols, got, 0, cols);
                        assertArrayEquals(want, got, VectorMoeKernelTest.why(seed, m + " of expert " + e));
                    }
                    // A block in the middle, at an odd offset into dst.
                    if (rows > 2 && cols > 2) {
                        float[] part = new float[3 + (rows - 2) * (cols + 1)];
                        Arrays.fill(part, Float.NaN);
                        copy.decode(m, experts - 1, 1, rows - 2, 1, cols - 2, part, 3, cols + 1);
                        source.decode(m, experts - 1, 0, rows, 0, cols, want, 0, cols);
                        for (int r = 0; r < rows - 2; r++) {
                            for (int c = 0; c < cols - 2; c++) {
                                assertEquals(want[(r + 1) * cols + c + 1], part[3 + r * (cols + 1) + c], m + " block (" + r + ", " + c + ")");
                            }
                            assertTrue(Float.isNaN(part[3 + r * (cols + 1) + cols - 2]), "decode wrote outside its block");
                        }
                    }
                    assertLayout(copy, source, m);
                }
            }
        }
    }

    /** [e][block][sliver][row][2V]: W1's lanes V gate | V up columns of sliver s, W2's 2V consecutive ones. */
    private static void assertLayout(SliverBf16ExpertWeights copy, Bf16ExpertWeights source, Matrix m) {
        short[] all = copy.tensor(m).segment().toArray(ValueLayout.JAVA_SHORT);
        int v = VectorMoeKernel.V;
        int k = m.rows(copy);
        int slivers = m == Matrix.GATE_UP ? (copy.dFf() + v - 1) / v : (copy.dModel() + 2 * v - 1) / (2 * v);
        assertEquals((long) copy.experts() * k * slivers * 2 * v, all.length, m + ": storage size");
        Tensor t = source.tensor(m);
        int at = 0;
        for (int e = 0; e < copy.experts(); e++) {
            for (int b0 = 0; b0 < k; b0 += 128) {
                int depth = Math.min(128, k - b0);
                for (int s = 0; s < slivers; s++) {
                    for (int r = 0; r < depth; r++) {
                        for (int lane = 0; lane < 2 * v; lane++, at++) {
                            int col;
                            boolean real;
                            if (m == Matrix.GATE_UP) {
                                int j = s * v + lane % v;
                                real = j < copy.dFf();
                                col = (lane < v ? 0 : copy.dFf()) + j;
                            } else {
                                col = s * 2 * v + lane;
                                real = col < copy.dModel();
                            }
                            float want = real ? t.getFloat((long) e * k + b0 + r, col) : 0f;
                            float got = Float.intBitsToFloat((all[at] & 0xFFFF) << 16);
                            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got)) {
                                throw new AssertionError(m + ": expert " + e + ", block " + b0 + ", sliver " + s + ", row " + r
                                        + ", lane " + lane + ": " + got + ", expected " + want + (real ? "" : " (padding)"));
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * A prepared layer gives the unprepared layer's bits for forward and expertMlp (fp32 and
     * bf16 outputs) and the grouped GEMMs, gateUp included (W1 read as plain vectors, or through
     * decode where V does not divide d_ff). Paths, with AVX-512 on two threads (V = 16): every
     * expert streams at T = 1 (with k = 1 one task in two column chunks, so that a chunk of W2
     * starts on an odd vector: d = 48 splits its 3 vectors 1 + 2, d = 160 its 10 as 5 + 5);
     * T = 3 at d = 37, d_ff = 45 (no whole vectors) packs partial slivers with an odd count in a
     * fused task; T = 40, E = 2, k = 1 (about 20 rows per expert) takes WIDE panels with odd
     * sliver counts (GATE_UP 25 = 22 + 3, DOWN 5); T = 12, E = 4 at d = 300 (partial blocks and
     * slivers) packs every expert; T = 120, E = 2 (K = 264 for W1) and T = 100, E = 2, k = 1
     * (K = 400 for W2, about 50 rows per expert) take NARROW panels with two blocks per k-block;
     * T = 50, E = 64 mixes streamed and packed one-sliver tasks. The fused first
     * tile is 6 × 4 vectors with AVX-512 and 4 × 2 in the AVX2 and SSE runs of this class.
     */
    @ParameterizedTest(name = "T = {0}, E = {1}, k = {2}, d = {3}, d_ff = {4}")
    @CsvSource({"1, 8, 2, 64, 48", "1, 4, 1, 48, 48", "1, 4, 1, 160, 64", "3, 4, 2, 37, 45", "40, 2, 1, 160, 400",
        "12, 4, 2, 300, 100", "120, 2, 2, 264, 72", "100, 2, 1, 48, 400", "50, 64, 6, 32, 16"})
    void preparedLayersGiveTheSameBits(int tokens, int experts, int k, int dModel, int dFf) {
        long seed = VectorMoeKernelTest.seed("prepared", tokens, experts, k, dModel, dFf);
        try (VectorMoeKernelTest.Layer l = new VectorMoeKernelTest.Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32);
             MoeLayer prepared = l.layer.prepared()) {
            assertInstanceOf(SliverBf16ExpertWeights.class, prepared.expertWeights());
            Routing routing = l.layer.route(l.x);
            assertEquals(routing, prepared.route(l.x), "routing");
            for (DType dtype : new DType[] {DType.BF16, DType.FP32}) {
                Tensor want = l.poisoned(dtype, tokens, dModel);
                Tensor got = l.poisoned(dtype, tokens, dModel);
                l.layer.forward(l.x, routing, want);
                prepared.forward(l.x, routing, got);
                assertSameBits(want, got, seed, "forward, " + dtype);
            }
            int copies = routing.copies();
            Tensor xp = l.poisoned(DType.FP32, copies, dModel);
            l.layer.permute(l.x, routing, xp);
            Tensor y = l.poisoned(DType.FP32, copies, dModel);
            prepared.expertMlp(xp, routing, y);
            Tensor yWant = l.poisoned(DType.FP32, copies, dModel);
            l.layer.expertMlp(xp, routing, yWant);
            assertSameBits(yWant, y, seed, "expertMlp");
            VectorMoeKernelTest.assertClose(MoeReference.expertMlp(xp.toDoubleArray(), routing, l.weights), y, seed, "expertMlp");
            // The grouped GEMMs one by one: W1 without the SwiGLU pairing is read as plain vectors
            // (through decode where V does not divide d_ff).
            Tensor h = l.poisoned(DType.FP32, copies, 2L * dFf);
            Tensor hWant = l.poisoned(DType.FP32, copies, 2L * dFf);
            prepared.gateUp(xp, routing, h);
            l.layer.gateUp(xp, routing, hWant);
            assertSameBits(hWant, h, seed, "gateUp");
            Tensor a = l.poisoned(DType.FP32, copies, dFf);
            l.layer.swiglu(h, a);
            Tensor down = l.poisoned(DType.FP32, copies, dModel);
            Tensor downWant = l.poisoned(DType.FP32, copies, dModel);
            prepared.down(a, routing, down);
            l.layer.down(a, routing, downWant);
            assertSameBits(downWant, down, seed, "down");
        }
    }

    /** The mixed wave of the row-major test (expert 0 packs, experts 1 and 2 stream) on prepared weights. */
    @Test
    void wavesMixingStreamedAndPackedExpertsGiveTheRowsBitForBit() {
        long seed = VectorMoeKernelTest.seed("prepared mixed");
        try (VectorMoeKernelTest.Layer l = new VectorMoeKernelTest.Layer(seed, 13, 3, 2, 160, 784, true, DType.FP32);
             MoeLayer prepared = l.layer.prepared()) {
            VectorMoeKernelTest.assertMixedBatchRowsBitForBit(prepared, prepared.expertWeights(), l.x, l.arena, seed);
        }
    }

    @Test
    void theCopyOutlivesTheSourceAndCloseFreesIt() {
        long seed = VectorMoeKernelTest.seed("prepared ownership");
        int tokens = 9, dModel = 48, dFf = 32;
        try (VectorMoeKernelTest.Layer l = new VectorMoeKernelTest.Layer(seed, tokens, 4, 2, dModel, dFf, true, DType.FP32)) {
            Routing routing = l.layer.route(l.x);
            Tensor want = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, routing, want);
            // The source lives in its own arena here, so it can be closed before the layer.
            Arena sourceArena = Arena.ofShared();
            Tensor w1 = Tensor.allocate(sourceArena, DType.BF16, 4, dModel, 2L * dFf);
            Tensor w2 = Tensor.allocate(sourceArena, DType.BF16, 4, dFf, dModel);
            w1.segment().copyFrom(l.w1.segment());
            w2.segment().copyFrom(l.w2.segment());
            MoeLayer prepared = MoeLayer.create(VectorMoeKernelTest.CPU, l.wr, Bf16ExpertWeights.of(w1, w2), new MoeOptions(2, true))
                    .prepared();
            assertTrue(prepared.ownsExpertWeights());
            sourceArena.close();
            Tensor got = l.poisoned(DType.BF16, tokens, dModel);
            prepared.forward(l.x, routing, got);
            assertSameBits(want, got, seed, "forward after the source was closed");
            prepared.close();
            assertFalse(prepared.expertWeights().isAlive(), "closed copy");
            assertThrows(IllegalStateException.class, () -> prepared.forward(l.x, routing, l.poisoned(DType.BF16, tokens, dModel)));
            prepared.close(); // idempotent
        }
    }

    @Test
    void int4ExpertsAreKeptAsTheyAre() {
        long seed = VectorMoeKernelTest.seed("prepared int4");
        try (Arena arena = Arena.ofConfined();
             W4A16ExpertWeights q = W4A16ExpertWeights.quantize(weightsTensor(arena, seed, 2, 32, 64), weightsTensor(arena, seed + 1, 2, 32, 32), 32, false, DType.BF16)) {
            assertSame(q, new VectorMoeKernel().prepare(q));
            Tensor wr = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, 32, 2), seed, 1);
            MoeLayer layer = MoeLayer.create(VectorMoeKernelTest.CPU, wr, q, new MoeOptions(1, false));
            try (MoeLayer prepared = layer.prepared()) {
                assertNotSame(layer, prepared);
                assertSame(q, prepared.expertWeights());
                assertFalse(prepared.ownsExpertWeights());
            }
            assertTrue(q.isAlive(), "closing the prepared layer left the caller's int4 weights open");
        }
    }

    private static Tensor weightsTensor(Arena arena, long seed, long e, long rows, long cols) {
        return TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, e, rows, cols), seed, 1 / Math.sqrt(rows));
    }

    private static Bf16ExpertWeights weights(Arena arena, long seed, int experts, int dModel, int dFf) {
        return Bf16ExpertWeights.of(weightsTensor(arena, seed, experts, dModel, 2L * dFf), weightsTensor(arena, seed + 1, experts, dFf, dModel));
    }

    private static void assertSameBits(Tensor want, Tensor got, long seed, String what) {
        assertArrayEquals(want.segment().toArray(ValueLayout.JAVA_BYTE), got.segment().toArray(ValueLayout.JAVA_BYTE),
                VectorMoeKernelTest.why(seed, what + ": the prepared layer differs from the unprepared one"));
    }
}
