package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;

/**
 * The Vector API MoE kernel against the float64 reference, through the facade. Inputs are fresh
 * random each run; every failure message carries the seed, and {@code -Doffload.test.seed=…}
 * replays a run. Outputs are poisoned (NaN) first, so an unwritten element fails the check.
 */
class VectorMoeKernelTest {
    static final long BASE_SEED = Long.getLong("offload.test.seed", System.nanoTime());
    static final CpuBackend CPU = (CpuBackend) new CpuBackendProvider().create();
    /** The contract's tolerance for bf16 outputs. */
    static final double TOL_BF16 = 1e-2;
    /** fp32 outputs: only fp32 accumulation order and the exp differ from float64. */
    static final double TOL_FP32 = 1e-5;

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

    static void assertClose(double[] want, Tensor got, long seed, String what) {
        assertEquals(-1, Accuracy.firstNonFinite(got), why(seed, what + ": an output is non-finite (not written?)"));
        double tol = got.dtype() == DType.FP32 ? TOL_FP32 : TOL_BF16;
        double err = Accuracy.relativeL2(want, got);
        assertTrue(err <= tol, why(seed, what + ": relative L2 " + err + " > " + tol));
    }

    /** Random inputs and weights of one layer shape, scaled so that activations stay O(1). */
    static final class Layer implements AutoCloseable {
        final long seed;
        final Arena arena = Arena.ofShared();
        final Tensor x;
        final Tensor wr;
        final Tensor w1;
        final Tensor w2;
        final Bf16ExpertWeights weights;
        final MoeLayer layer;

        Layer(long seed, int tokens, int experts, int k, int dModel, int dFf, boolean renormalize, DType routerType) {
            this.seed = seed;
            x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), seed, 1);
            wr = TensorFill.gaussian(Tensor.allocate(arena, routerType, dModel, experts), seed + 1, 1 / Math.sqrt(dModel));
            w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dModel, 2L * dFf), seed + 2, 1 / Math.sqrt(dModel));
            w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dFf, dModel), seed + 3, 1 / Math.sqrt(dFf));
            weights = Bf16ExpertWeights.of(w1, w2);
            layer = MoeLayer.create(CPU, wr, weights, new MoeOptions(k, renormalize));
        }

        Tensor poisoned(DType dtype, long... shape) {
            return TensorFill.poison(Tensor.allocate(arena, dtype, shape));
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    // ---- the whole layer --------------------------------------------------------------------

    static Stream<Arguments> shapes() {
        return Stream.of(
                // name, T, E, k, d_model, d_ff, renormalize
                Arguments.of("one token", 1, 4, 2, 40, 24, true),
                Arguments.of("T and dims on no block boundary", 37, 8, 2, 37, 45, true),
                Arguments.of("k = 1, no renormalization", 13, 4, 1, 48, 40, false),
                Arguments.of("k = E", 11, 5, 5, 24, 20, true),
                Arguments.of("k = 8", 7, 10, 8, 16, 8, false),
                Arguments.of("E = 64, k = 6", 50, 64, 6, 32, 16, true),
                Arguments.of("K deeper than one panel block in both GEMMs", 9, 3, 2, 300, 260, false),
                Arguments.of("k = E = 2: 200 rows per expert, narrow panels, two k-blocks", 200, 2, 2, 264, 72, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void forwardMatchesReference(String name, int tokens, int experts, int k, int dModel, int dFf, boolean renormalize) {
        long seed = seed("forward", name);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, renormalize, DType.FP32)) {
            Routing routing = l.layer.route(l.x);
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, routing, out);
            assertClose(MoeReference.forward(l.x, routing, l.weights), out, seed, name);
            // The one-call form routes the same way and gives the same bits.
            Tensor again = l.poisoned(DType.BF16, tokens, dModel);
            assertEquals(routing, l.layer.forward(l.x, again), why(seed, name + ": routing"));
            assertArrayEquals(out.segment().toArray(ValueLayout.JAVA_SHORT), again.segment().toArray(ValueLayout.JAVA_SHORT),
                    why(seed, name + ": forward(x, out) differs from forward(x, route(x), out)"));
            if (renormalize) {
                for (int t = 0; t < tokens; t++) {
                    double sum = 0;
                    for (int j = 0; j < k; j++) {
                        sum += routing.weight(t, j);
                    }
                    assertEquals(1.0, sum, 1e-5, why(seed, name + ": renormalized weights of token " + t));
                }
            }
        }
    }

    /**
     * A decode step (no expert sees more than STREAM_ROWS rows) streams the bf16 weight rows
     * instead of packing panels. It takes the same sums in the same order, so each token alone
     * must give, bit for bit, its row of a batch whose experts (about 20 rows each, or 10 with
     * k = 1; by chance a few may have no more than STREAM_ROWS and stream too) pack panels. Each
     * GEMM streams only where its columns are whole vectors, so
     * d_model = 37 and 38 stream the first GEMM (inner dimensions 37 and 38 also run the one-row
     * steps after the eight-row trips) and pack the second; d_ff = 40 at 16 floats per vector the
     * other way round; k = 1 gives one task, which is cut into column ranges for the threads.
     */
    @ParameterizedTest(name = "d = {0}, d_ff = {1}, k = {2}")
    @org.junit.jupiter.params.provider.CsvSource({"64, 48, 2", "96, 160, 2", "48, 40, 2", "32, 1040, 2", "37, 48, 2",
        "38, 48, 1", "64, 64, 1"})
    void decodeStepsGiveTheBatchRowsBitForBit(int dModel, int dFf, int k) {
        int tokens = 40;
        int experts = 4;
        int v = VectorMoeKernel.V;
        long seed = seed("stream", dModel, dFf, k);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            Routing batch = l.layer.forward(l.x, out);
            VectorMoeKernel.Wave whole = new VectorMoeKernel.Wave(batch, 0, tokens, true);
            assertTrue(VectorMoeKernel.streamedTasks(whole, l.weights, ExpertWeights.Matrix.GATE_UP, true).length < whole.taskRows.length,
                    "the batch packs panels (for its experts of more than STREAM_ROWS rows)");
            long rowBytes = 2L * dModel;
            for (int t = 0; t < tokens; t += 3) {
                Tensor xt = Tensor.wrap(l.x.segment().asSlice(l.x.rowByteOffset(t), rowBytes), DType.BF16, 1, dModel);
                Tensor ot = l.poisoned(DType.BF16, 1, dModel);
                Routing alone = l.layer.forward(xt, ot);
                VectorMoeKernel.Wave wave = new VectorMoeKernel.Wave(alone, 0, 1, true);
                assertEquals(dFf % v == 0 ? k : 0, VectorMoeKernel.streamedTasks(wave, l.weights, ExpertWeights.Matrix.GATE_UP, true).length,
                        "GEMM1 streams");
                assertEquals(dModel % v == 0 ? k : 0, VectorMoeKernel.streamedTasks(wave, l.weights, ExpertWeights.Matrix.DOWN, false).length,
                        "GEMM2 streams");
                for (int j = 0; j < k; j++) {
                    assertEquals(batch.expert(t, j), alone.expert(0, j), why(seed, "token " + t + ": expert " + j));
                }
                assertArrayEquals(out.segment().asSlice(out.rowByteOffset(t), rowBytes).toArray(ValueLayout.JAVA_SHORT),
                        ot.segment().toArray(ValueLayout.JAVA_SHORT), why(seed, "token " + t + " alone differs from its batch row"));
            }
            assertClose(MoeReference.forward(l.x, batch, l.weights), out, seed, "the batch");
        }
    }

    /**
     * A small batch whose experts see few rows and many: expert 0 gets all 13 tokens (the panel
     * path: WIDE panels with AVX-512, where d_model = 160 makes two k-blocks and d_ff = 784 three
     * column blocks in GEMM1 and 7 k-blocks in GEMM2; NARROW with 4-row tiles; 13 rows end in an
     * aliased tile either way), experts 1 and 2 the second slots, 7 and 6 rows (streamed), in
     * one wave. Each token alone streams everything, so the fp32 expert outputs of its two copies
     * must equal those of its batch copies bit for bit: a different order of the FMAs would show
     * there (in bf16 outputs it would mostly round away).
     */
    @Test
    void wavesMixingStreamedAndPackedExpertsGiveTheRowsBitForBit() {
        int tokens = 13, experts = 3, k = 2, dModel = 160, dFf = 784;
        long seed = seed("mixed");
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            assertMixedBatchRowsBitForBit(l.layer, l.weights, l.x, l.arena, seed);
        }
    }

    /**
     * The check of {@link #wavesMixingStreamedAndPackedExpertsGiveTheRowsBitForBit} (and of the
     * int4 test alike) on a layer of 3 experts, k = 2, and at least 13 tokens in {@code x}: token
     * t's copies go to expert 0 and to expert 1 + t mod 2, so that expert 0 packs and experts 1
     * and 2 stream; the batch's fp32 expert outputs against the float64 reference, then each
     * token alone against its batch rows, bit for bit.
     */
    static void assertMixedBatchRowsBitForBit(MoeLayer layer, ExpertWeights w, Tensor x, Arena arena, long seed) {
        int tokens = 13, experts = 3, k = 2;
        int dModel = w.dModel();
        int[] ids = new int[tokens * k];
        float[] weights = new float[tokens * k];
        for (int t = 0; t < tokens; t++) {
            ids[t * k] = 0;
            ids[t * k + 1] = 1 + t % 2;
            weights[t * k] = 0.25f + t / 64f;
            weights[t * k + 1] = 0.75f - t / 64f;
        }
        Routing batch = Routing.of(experts, k, ids, weights);
        VectorMoeKernel.Wave wave = new VectorMoeKernel.Wave(batch, 0, tokens, true);
        for (ExpertWeights.Matrix m : ExpertWeights.Matrix.values()) {
            assertArrayEquals(new int[] {1, 2}, VectorMoeKernel.streamedTasks(wave, w, m, m == ExpertWeights.Matrix.GATE_UP),
                    m + ": experts 1 and 2 stream, expert 0 packs");
        }
        Tensor xp = TensorFill.poison(Tensor.allocate(arena, DType.FP32, batch.copies(), dModel));
        layer.permute(x, batch, xp);
        Tensor y = TensorFill.poison(Tensor.allocate(arena, DType.FP32, batch.copies(), dModel));
        layer.expertMlp(xp, batch, y);
        assertClose(MoeReference.expertMlp(xp.toDoubleArray(), batch, w), y, seed, "the mixed batch");
        long rowBytes = 4L * dModel;
        for (int t = 0; t < tokens; t++) {
            Routing alone = Routing.of(experts, k, new int[] {ids[t * k], ids[t * k + 1]},
                    new float[] {weights[t * k], weights[t * k + 1]});
            Tensor xt = Tensor.wrap(x.segment().asSlice(x.rowByteOffset(t), 2L * dModel), DType.BF16, 1, dModel);
            Tensor xpt = TensorFill.poison(Tensor.allocate(arena, DType.FP32, k, dModel));
            layer.permute(xt, alone, xpt);
            Tensor yt = TensorFill.poison(Tensor.allocate(arena, DType.FP32, k, dModel));
            layer.expertMlp(xpt, alone, yt);
            for (int j = 0; j < k; j++) {
                assertArrayEquals(y.segment().asSlice(y.rowByteOffset(batch.copyOf(t, j)), rowBytes).toArray(ValueLayout.JAVA_FLOAT),
                        yt.segment().asSlice(yt.rowByteOffset(alone.copyOf(0, j)), rowBytes).toArray(ValueLayout.JAVA_FLOAT),
                        why(seed, "token " + t + ", copy " + j + ": alone differs from its batch row"));
            }
        }
    }

    /**
     * Task rows and panel shapes: an expert's rows are cut into equal shares of at most TASK_ROWS,
     * so all its tasks fall on one side of STREAM_ROWS and WIDE_ROWS; both panel shapes have a
     * depth that is a multiple of 8 (int4 words) and fit the thread's kept buffers.
     */
    @Test
    void tasksShareAnExpertsRowsEquallyAndPanelsKeepTheirInvariants() {
        int most = VectorMoeKernel.TASK_ROWS;
        for (int n : new int[] {1, 4, 5, 48, 49, most - 1, most, most + 1, 800, 2 * most + 1, 5 * most - 7}) {
            int share = VectorMoeKernel.Wave.taskShare(n);
            int tasks = (n + share - 1) / share;
            assertEquals((n + most - 1) / most, tasks, "tasks of " + n + " rows");
            assertTrue(share <= most && n - (tasks - 1) * share <= share && n - (tasks - 1) * share > share - tasks,
                    "shares of " + n + " rows: " + share);
        }
        assertEquals(400, VectorMoeKernel.Wave.taskShare(800));
        int[] ids = new int[2 * 820];
        for (int t = 0; t < 820; t++) {
            ids[2 * t] = t < 800 ? 1 : 0;   // expert 1: 800 rows; expert 0: 20 + 820 rows
            ids[2 * t + 1] = t < 800 ? 0 : 2;
        }
        VectorMoeKernel.Wave wave = new VectorMoeKernel.Wave(Routing.of(3, 2, ids, new float[2 * 820]), 0, 820, true);
        assertArrayEquals(new int[] {0, 0, 1, 1, 2}, wave.taskExpert, "tasks by expert");
        assertArrayEquals(new int[] {410, 410, 400, 400, 20}, wave.taskRows, "task rows");
        assertArrayEquals(new int[] {0, 410, 820, 1220, 1620}, wave.taskRow, "first scratch row of each task");
        for (VectorMoeKernel.PanelShape shape : List.of(VectorMoeKernel.NARROW, VectorMoeKernel.WIDE)) {
            assertEquals(0, shape.kc() % 8, shape + ": depth");
            assertTrue(shape.floats() <= VectorMoeKernel.Buffers.KEEP_FLOATS, shape + ": kept between calls");
        }
        assertTrue(VectorMoeKernel.STREAM_ROWS < VectorMoeKernel.WIDE_ROWS && VectorMoeKernel.WIDE_ROWS < VectorMoeKernel.TASK_ROWS / 2);
    }

    /** Buffers: kept and handed out again up to KEEP_FLOATS; a larger one serves once and leaves the kept one in place. */
    @Test
    void buffersAreKeptUpToTheLimitAndALargerOneDoesNotEvictThem() {
        int slot = VectorMoeKernel.Buffers.ROW;
        float[] small = VectorMoeKernel.Buffers.get(slot, 1000);
        assertTrue(small.length >= 1000);
        assertTrue(small == VectorMoeKernel.Buffers.get(slot, 999), "kept");
        float[] huge = VectorMoeKernel.Buffers.get(slot, VectorMoeKernel.Buffers.KEEP_FLOATS + 1);
        assertTrue(huge != small && huge.length > VectorMoeKernel.Buffers.KEEP_FLOATS);
        assertTrue(small == VectorMoeKernel.Buffers.get(slot, 1000), "the huge one did not evict the kept one");
        assertTrue(huge != VectorMoeKernel.Buffers.get(slot, VectorMoeKernel.Buffers.KEEP_FLOATS + 1), "the huge one is not kept");
    }

    /**
     * The router's top-k and weights on logits with NaN and ±∞ mixed in: the same ids (NaN below
     * −∞, ties to the lower index) and weights as {@code MoeReference.routeFromLogits}, the order the
     * CUDA router's keys give too.
     */
    @Test
    void topKOrdersNaNBelowMinusInfinityAsTheReference() {
        float[] pool = {1f, -1f, 2.5f, 2.5f, 0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        SplittableRandom rnd = new SplittableRandom(seed("top-k extremes"));
        for (int iter = 0; iter < 2000; iter++) {
            int experts = 1 + rnd.nextInt(12);
            int k = 1 + rnd.nextInt(Math.min(8, experts));
            boolean renormalize = rnd.nextBoolean();
            float[] logits = new float[experts];
            double[] wide = new double[experts];
            for (int e = 0; e < experts; e++) {
                logits[e] = pool[rnd.nextInt(pool.length)];
                wide[e] = logits[e];
            }
            int[] ids = new int[k];
            float[] weights = new float[k];
            VectorMoeKernel.selectTopK(logits, 0, experts, k, renormalize, new float[k], new int[k], ids, weights, 0);
            Routing want = MoeReference.routeFromLogits(wide, experts, k, renormalize);
            String what = java.util.Arrays.toString(logits) + " k=" + k;
            assertArrayEquals(want.expertIds(), ids, what);
            for (int j = 0; j < k; j++) {
                assertEquals(want.weights()[j], weights[j], 1e-6, what + " weight " + j);
            }
        }
    }

    /**
     * Router logits that overflow fp32 for a finite x (the float64 reference's do not) and a token
     * whose x is NaN: routing gives the reference's ids and weights (the +∞ logit takes the whole
     * weight; the NaN token uniform weights, lowest experts first) instead of failing on NaN weights,
     * and the NaN token's output is NaN while the others are untouched by it.
     */
    @Test
    void overflowingAndNaNRouterLogitsRoute() {
        long seed = seed("router extremes");
        int tokens = 4, experts = 4, k = 2, dModel = 8, dFf = 8;
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, false, DType.FP32)) {
            l.wr.setFloat(0, 0, 2f);
            for (int e = 1; e < experts; e++) {
                l.wr.setFloat(0, e, 0.5f);
            }
            l.x.setFloat(0, 0, 3e38f);   // logit 0 of token 0 ≈ 6e38: +∞ in fp32
            for (int c = 0; c < dModel; c++) {
                l.x.setFloat(1, c, Float.NaN);
            }
            Routing got = l.layer.route(l.x);
            Routing want = MoeReference.route(l.x, l.wr, k, false);
            assertArrayEquals(want.expertIds(), got.expertIds(), why(seed, "ids"));
            assertArrayEquals(new float[] {1f, 0f}, java.util.Arrays.copyOfRange(got.weights(), 0, 2), why(seed, "token 0"));
            assertArrayEquals(new int[] {0, 1}, java.util.Arrays.copyOfRange(got.expertIds(), 2, 4), why(seed, "NaN token ids"));
            assertArrayEquals(new float[] {0.25f, 0.25f}, java.util.Arrays.copyOfRange(got.weights(), 2, 4), why(seed, "NaN token"));
            for (int i = 4; i < 8; i++) {
                assertEquals(want.weights()[i], got.weights()[i], 1e-6, why(seed, "weight " + i));
            }
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, got, out);
            for (int c = 0; c < dModel; c++) {
                assertTrue(Float.isNaN(out.getFloat(1, c)), why(seed, "NaN token output " + c));
                assertTrue(Float.isFinite(out.getFloat(2, c)) && Float.isFinite(out.getFloat(3, c)), why(seed, "other tokens " + c));
            }
        }
    }

    /**
     * Each thread keeps its row, panel and router buffers from call to call
     * ({@code VectorMoeKernel.Buffers}): a call on all-NaN tokens (every buffer row NaN) must
     * leave nothing that the next call of the same shape reads. Dims on no block boundary, so
     * partial row tiles, columns and slivers are all in play.
     */
    @Test
    void buffersLeftByAnEarlierCallLeaveNoTrace() {
        long seed = seed("buffers");
        int tokens = 37, experts = 8, k = 2, dModel = 37, dFf = 45;
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            Routing routing = l.layer.route(l.x);
            Tensor nanX = l.poisoned(DType.BF16, tokens, dModel);
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < dModel; c++) {
                    nanX.setFloat(t, c, Float.NaN);
                }
            }
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(nanX, routing, out);
            assertTrue(Float.isNaN(out.getFloat(0, 0)), why(seed, "the poisoning call made NaNs"));
            Tensor clean = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, routing, clean);
            assertClose(MoeReference.forward(l.x, routing, l.weights), clean, seed, "after an all-NaN call");
        }
    }

    /** MC is a whole number of register tiles (6 and 4 rows), so cutting a task into MC-row blocks adds no partial tile. */
    @Test
    void rowBlocksAreWholeTiles() {
        assertEquals(0, VectorMoeKernel.MC % VectorMoeKernel.MR, "MC % MR");
        assertEquals(0, VectorMoeKernel.MC % 6, "MC % 6");
        assertEquals(0, VectorMoeKernel.MC % 4, "MC % 4");
        assertEquals(Brgemm.MR, VectorMoeKernel.MR);
    }

    /**
     * The same call gives the same bits every time, while the JIT compiles the code under it:
     * with the Vector API's {@code EXP} in the SwiGLU, at {@code -XX:UseAVX=0}, call 1 of this
     * test already differed from call 0 by an ulp (checked by putting {@code EXP} back; see
     * {@link VectorMoeKernel#swish}).
     */
    @Test
    void expertMlpIsBitReproducible() {
        long seed = seed("reproducible");
        try (Layer l = new Layer(seed, 820, 4, 1, 264, 24, true, DType.FP32)) {
            Routing r = l.layer.route(l.x);
            Tensor xp = l.poisoned(DType.FP32, r.copies(), 264);
            l.layer.permute(l.x, r, xp);
            float[] first = null;
            for (int call = 0; call < 6; call++) {
                Tensor y = l.poisoned(DType.FP32, r.copies(), 264);
                l.layer.expertMlp(xp, r, y);
                float[] bits = y.toFloatArray();
                if (first == null) {
                    first = bits;
                } else {
                    assertArrayEquals(first, bits, why(seed, "expertMlp call " + call + " against call 0"));
                }
            }
        }
    }

    @Test
    void emptyBatch() {
        try (Layer l = new Layer(seed("empty"), 3, 4, 2, 16, 8, true, DType.BF16)) {
            Tensor none = Tensor.allocate(l.arena, DType.BF16, 0, 16);
            assertEquals(0, l.layer.forward(none, Tensor.allocate(l.arena, DType.BF16, 0, 16)).copies());
        }
    }

    // ---- each step alone --------------------------------------------------------------------

    @ParameterizedTest(name = "intermediates {0}")
    @EnumSource(value = DType.class, names = {"FP32", "BF16"})
    void eachStepMatchesReference(DType inter) {
        int tokens = 23, experts = 6, k = 2, dModel = 40, dFf = 36;
        long seed = seed("steps", inter);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.BF16)) {
            Routing r = l.layer.route(l.x);
            int p = r.copies();
            Tensor xp = l.poisoned(inter, p, dModel);
            l.layer.permute(l.x, r, xp);
            assertArrayEquals(MoeReference.permute(l.x, r), xp.toDoubleArray(), why(seed, "permute is an exact gather"));

            Tensor h = l.poisoned(inter, p, 2L * dFf);
            l.layer.gateUp(xp, r, h);
            assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.GATE_UP), h, seed, "gateUp");

            Tensor a = l.poisoned(inter, p, dFf);
            l.layer.swiglu(h, a);
            assertClose(MoeReference.swiglu(h.toDoubleArray(), dFf), a, seed, "swiglu");

            Tensor y = l.poisoned(inter, p, dModel);
            l.layer.down(a, r, y);
            assertClose(MoeReference.groupedGemm(a.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.DOWN), y, seed, "down");

            Tensor fused = l.poisoned(inter, p, dModel);
            l.layer.expertMlp(xp, r, fused);
            assertClose(MoeReference.expertMlp(xp.toDoubleArray(), r, l.weights), fused, seed, "expertMlp");

            for (DType outType : new DType[] {DType.BF16, DType.FP32}) {
                Tensor out = l.poisoned(outType, tokens, dModel);
                l.layer.combine(y, r, out);
                assertClose(MoeReference.combine(y.toDoubleArray(), r, dModel), out, seed, "combine to " + outType);
            }

            // The steps chained equal the whole layer (exactly the same rounding when fp32).
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.combine(fused, r, out);
            Tensor whole = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, r, whole);
            assertClose(whole.toDoubleArray(), out, seed, "steps chained vs forward");
        }
    }

    /**
     * With k = 1 and weight 1, combine's output is y rounded once: bit for bit
     * {@link Bf16#fromFloat} on ties, NaN, infinities, overflow and subnormals, vector lanes and tail.
     */
    @Test
    void bf16OutputsAreRoundedOnceToNearestEven() {
        int tokens = 9, dModel = 37;
        long seed = seed("rounding");
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, -Float.MAX_VALUE,
                Float.MIN_VALUE, -0f, 0f, Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000),
                Float.intBitsToFloat(0x7F7F8000), Float.intBitsToFloat(0x00018000), Float.intBitsToFloat(0xFFC00001)};
        try (Arena arena = Arena.ofShared();
             Tensor w1 = Tensor.allocate(DType.BF16, 2, dModel, 2);
             Tensor w2 = Tensor.allocate(DType.BF16, 2, 1, dModel)) {
            MoeLayer layer = MoeLayer.create(CPU, Tensor.allocate(arena, DType.FP32, dModel, 2), Bf16ExpertWeights.of(w1, w2),
                    new MoeOptions(1, false));
            Tensor y = Tensor.allocate(arena, DType.FP32, tokens, dModel);
            float[] values = new float[tokens * dModel];
            for (int i = 0; i < values.length; i++) {
                values[i] = i < special.length ? special[i]
                        : rnd.nextBoolean() ? Float.intBitsToFloat(rnd.nextInt())
                        : Float.intBitsToFloat((rnd.nextInt() & 0xFFFF0000) | 0x8000);  // exact ties
            }
            y.copyFrom(values);
            int[] ids = new int[tokens];
            float[] ones = new float[tokens];
            java.util.Arrays.fill(ones, 1f);
            Routing r = Routing.of(2, 1, ids, ones);
            Tensor out = TensorFill.poison(Tensor.allocate(arena, DType.BF16, tokens, dModel));
            layer.combine(y, r, out);
            short[] got = out.segment().toArray(ValueLayout.JAVA_SHORT);
            for (int i = 0; i < values.length; i++) {
                assertEquals(Bf16.fromFloat(values[i]), got[i],
                        why(seed, "element " + i + " = " + values[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(values[i])) + ")"));
            }
        }
    }

    // ---- the router -------------------------------------------------------------------------

    static Stream<Arguments> routerShapes() {
        return Stream.of(
                // T, E, k, d_model, renormalize, router dtype
                Arguments.of(64, 8, 2, 64, true, DType.FP32),
                Arguments.of(50, 64, 6, 32, false, DType.BF16),
                Arguments.of(33, 5, 5, 48, true, DType.BF16),
                Arguments.of(17, 3, 1, 100, false, DType.FP32),
                Arguments.of(1, 16, 8, 24, true, DType.FP32),
                Arguments.of(6, 1, 1, 8, true, DType.FP32));
    }

    /**
     * Top-k ids equal the float64 router's, except where the float64 logits of the two experts
     * involved are within the fp32 rounding bound of a tie; the weights agree to 1e-5.
     */
    @ParameterizedTest(name = "T={0} E={1} k={2} d={3} renormalize={4} Wr {5}")
    @MethodSource("routerShapes")
    void routerMatchesFloat64RouterExceptNearTies(int tokens, int experts, int k, int dModel, boolean renormalize, DType wrType) {
        long seed = seed("router", tokens, experts, k, dModel, renormalize, wrType);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, 8, renormalize, wrType)) {
            Routing got = l.layer.route(l.x);
            Routing want = MoeReference.route(l.x, l.wr, k, renormalize);
            double[] logits = MoeReference.logits(l.x, l.wr);
            double[] xs = l.x.toDoubleArray();
            double[] ws = l.wr.toDoubleArray();
            for (int t = 0; t < tokens; t++) {
                // γ_d · max_e Σ_i |x_i·w_ie|: a bound on the fp32 dot product error, doubled for a difference.
                double bound = 0;
                for (int e = 0; e < experts; e++) {
                    double s = 0;
                    for (int i = 0; i < dModel; i++) {
                        s += Math.abs(xs[t * dModel + i] * ws[i * experts + e]);
                    }
                    bound = Math.max(bound, s);
                }
                double eps = 2 * dModel * Math.ulp(1f) * bound;
                boolean same = true;
                for (int j = 0; j < k; j++) {
                    int ge = got.expert(t, j);
                    int we = want.expert(t, j);
                    if (ge != we) {
                        same = false;
                        double gap = Math.abs(logits[t * experts + ge] - logits[t * experts + we]);
                        assertTrue(gap <= eps, why(seed, "token " + t + " choice " + j + ": expert " + ge + " instead of " + we
                                + ", float64 logits " + gap + " apart (tie bound " + eps + ")"));
                    }
                }
                if (same) {
                    for (int j = 0; j < k; j++) {
                        assertEquals(want.weight(t, j), got.weight(t, j), 1e-5, why(seed, "weight of token " + t + " choice " + j));
                    }
                }
            }
        }
    }

    /** Identical router columns give identical fp32 logits: the lower expert index wins. */
    @Test
    void exactTiesGoToTheLowerIndex() {
        int tokens = 9, dModel = 20;
        long seed = seed("ties");
        try (Layer l = new Layer(seed, tokens, 5, 2, dModel, 8, false, DType.FP32)) {
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < dModel; i++) {
                    l.x.setFloat(t, i, (float) Math.abs(rnd.nextGaussian()) + 0.01f);  // every logit of column v: Σ x > 0
                }
            }
            for (int i = 0; i < dModel; i++) {
                float v = (float) Math.abs(rnd.nextGaussian()) + 0.01f;
                float[] row = {-v, v, v, v, -v};
                for (int e = 0; e < 5; e++) {
                    l.wr.setFloat(i, e, row[e]);
                }
            }
            Routing r = l.layer.route(l.x);
            for (int t = 0; t < tokens; t++) {
                assertEquals(1, r.expert(t, 0), why(seed, "token " + t));
                assertEquals(2, r.expert(t, 1), why(seed, "token " + t));
                assertEquals(r.weight(t, 0), r.weight(t, 1), why(seed, "tied weights"));
            }
        }
    }

    // ---- routings that stress the grouping -------------------------------------------------

    /**
     * A router that favours expert 3 for every token (a large shared input feature times a large
     * weight): with k = 1 it receives all 130 tokens (several row blocks), the others none.
     */
    @ParameterizedTest(name = "k = {0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2})
    void allTokensToOneExpert(int k) {
        int tokens = 130, experts = 6, dModel = 24, dFf = 20, favourite = 3;
        long seed = seed("one expert", k);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            for (int t = 0; t < tokens; t++) {
                l.x.setFloat(t, 0, 4f);
            }
            l.wr.setFloat(0, favourite, 10f);
            Routing r = l.layer.route(l.x);
            assertEquals(tokens, r.rowsOf(favourite), why(seed, "copies of the favoured expert"));
            for (int t = 0; t < tokens; t++) {
                assertEquals(favourite, r.expert(t, 0), why(seed, "first choice of token " + t));
            }
            if (k == 1) {
                assertEquals(1, r.activeExperts(), why(seed, "experts with copies"));
            }
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, r, out);
            assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "forward, all tokens to expert " + favourite);
        }
    }

    /** Expert weights in a format the kernel does not know: the generic decode path, counted. */
    static final class CountingWeights implements ExpertWeights {
        final ExpertWeights inner;
        final Set<Integer> decoded = ConcurrentHashMap.newKeySet();

        CountingWeights(ExpertWeights inner) {
            this.inner = inner;
        }

        @Override public int experts() { return inner.experts(); }
        @Override public int dModel() { return inner.dModel(); }
        @Override public int dFf() { return inner.dFf(); }
        @Override public String format() { return "counting " + inner.format(); }
        @Override public boolean isAlive() { return inner.isAlive(); }
        @Override public boolean overlaps(Tensor t) { return inner.overlaps(t); }

        @Override
        public void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols, float[] dst, int dstOffset, int dstStride) {
            decoded.add(expert);
            inner.decode(matrix, expert, row0, rows, col0, cols, dst, dstOffset, dstStride);
        }
    }

    /** Experts 2 and 5 get no token: their weights are never read; the rest matches the reference. */
    @Test
    void expertsWithoutTokensReadNoWeights() {
        int tokens = 29, experts = 6, k = 2, dModel = 33, dFf = 300;  // d_ff > KC: several k-blocks in GEMM2
        long seed = seed("empty experts");
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            int[] allowed = {0, 1, 3, 4};
            SplittableRandom rnd = new SplittableRandom(seed);
            int[] ids = new int[tokens * k];
            float[] w = new float[tokens * k];
            for (int t = 0; t < tokens; t++) {
                int first = rnd.nextInt(4);
                ids[t * k] = allowed[first];
                ids[t * k + 1] = allowed[(first + 1 + rnd.nextInt(3)) % 4];
                w[t * k] = (float) rnd.nextDouble();
                w[t * k + 1] = (float) -rnd.nextDouble();  // any finite weights are accepted
            }
            Routing r = Routing.of(experts, k, ids, w);
            CountingWeights counting = new CountingWeights(l.weights);
            MoeLayer generic = MoeLayer.create(CPU, l.wr, counting, MoeOptions.topK(k));
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            generic.forward(l.x, r, out);
            assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "forward through the generic decode path");
            assertEquals(Set.of(0, 1, 3, 4), counting.decoded, why(seed, "experts whose weights were read"));
            // The bf16 fast path gives the same bits.
            Tensor fast = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, r, fast);
            assertArrayEquals(fast.segment().toArray(ValueLayout.JAVA_SHORT), out.segment().toArray(ValueLayout.JAVA_SHORT),
                    why(seed, "bf16 fast path vs generic decode"));
        }
    }

    // ---- bounded scratch: several waves -----------------------------------------------------

    /** A backend around one kernel instance, for the facade's checks in front of it. */
    static Backend backendOf(MoeKernel kernel) {
        return new Backend() {
            @Override public String name() { return "cpu-test"; }
            @Override public String description() { return "CPU backend with a test kernel"; }
            @Override public List<Device> devices() { return CPU.devices(); }
            @Override public <K> Optional<K> kernels(Class<K> type) {
                return type == MoeKernel.class ? Optional.of(type.cast(kernel)) : Optional.empty();
            }
        };
    }

    /** A tiny scratch bound cuts the tokens into many waves; every result is bit-identical to one wave. */
    @Test
    void wavesGiveTheSameBits() {
        int tokens = 41, experts = 5, k = 2, dModel = 20, dFf = 28;
        long seed = seed("waves");
        VectorMoeKernel small = new VectorMoeKernel(500);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.FP32)) {
            Routing r = l.layer.route(l.x);
            assertTrue(small.plan(r, 48).size() > 5, "the bound should force several waves");
            MoeLayer waved = MoeLayer.create(backendOf(small), l.wr, l.weights, MoeOptions.topK(k));
            Tensor one = l.poisoned(DType.BF16, tokens, dModel);
            Tensor many = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, r, one);
            waved.forward(l.x, r, many);
            assertClose(MoeReference.forward(l.x, r, l.weights), many, seed, "forward in waves");
            assertArrayEquals(one.segment().toArray(ValueLayout.JAVA_SHORT), many.segment().toArray(ValueLayout.JAVA_SHORT),
                    why(seed, "forward: waves vs one wave"));

            Tensor xp = l.poisoned(DType.FP32, r.copies(), dModel);
            waved.permute(l.x, r, xp);
            Tensor y1 = l.poisoned(DType.FP32, r.copies(), dModel);
            Tensor y2 = l.poisoned(DType.FP32, r.copies(), dModel);
            l.layer.expertMlp(xp, r, y1);
            waved.expertMlp(xp, r, y2);
            assertClose(MoeReference.expertMlp(xp.toDoubleArray(), r, l.weights), y2, seed, "expertMlp in waves");
            assertArrayEquals(y1.toFloatArray(), y2.toFloatArray(), why(seed, "expertMlp: waves vs one wave"));

            Tensor h = l.poisoned(DType.FP32, r.copies(), 2L * dFf);
            waved.gateUp(xp, r, h);
            assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.GATE_UP), h, seed,
                    "gateUp in waves");
        }
    }

    // ---- memory layouts ---------------------------------------------------------------------

    /** Row strides wider than the rows, and heap segments the Vector API cannot address (scalar paths). */
    @Test
    void stridedAndHeapTensors() {
        int tokens = 19, experts = 4, k = 2, dModel = 36, dFf = 20;
        long seed = seed("layouts");
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, false, DType.BF16)) {
            Routing r = l.layer.route(l.x);
            double[] want = MoeReference.forward(l.x, r, l.weights);
            // Strided x and out.
            long stride = dModel + 12;
            Tensor xs = Tensor.wrapStrided(l.arena.allocate(2 * stride * tokens, 64), DType.BF16, stride, new long[] {tokens, dModel});
            xs.copyFrom(l.x.toFloatArray());
            Tensor outs = TensorFill.poison(Tensor.wrapStrided(l.arena.allocate(2 * stride * tokens, 64), DType.BF16, stride,
                    new long[] {tokens, dModel}));
            l.layer.forward(xs, r, outs);
            assertClose(want, outs, seed, "strided x and out");
            // Heap segments over short[]: not addressable by vector loads, scalar fallbacks. (Tensor.overlaps
            // compares segment addresses, which for heap segments are array offsets, so two heap tensors
            // look overlapping: x and w1 on the heap with a native out, then a heap out with native x.)
            Tensor xh = Tensor.wrap(MemorySegment.ofArray(new short[tokens * dModel]), DType.BF16, new long[] {tokens, dModel});
            xh.copyFrom(l.x.toFloatArray());
            Tensor w1h = Tensor.wrap(MemorySegment.ofArray(new short[(int) l.w1.elementCount()]), DType.BF16, l.w1.shape());
            w1h.copyFrom(l.w1.toFloatArray());
            MoeLayer heap = MoeLayer.create(CPU, l.wr, Bf16ExpertWeights.of(w1h, l.w2), new MoeOptions(k, false));
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            heap.forward(xh, r, out);
            assertClose(want, out, seed, "heap-segment x and w1");
            assertEquals(r, heap.route(xh), why(seed, "routing of a heap-segment x"));
            Tensor oh = TensorFill.poison(Tensor.wrap(MemorySegment.ofArray(new short[tokens * dModel]), DType.BF16,
                    new long[] {tokens, dModel}));
            l.layer.forward(l.x, r, oh);
            assertClose(want, oh, seed, "heap-segment out");
        }
    }

    // ---- rejected input, with the real kernel behind the facade ----------------------------

    @Test
    void rejectedInputLeavesTheOutputUntouched() {
        try (Layer l = new Layer(seed("bad"), 5, 4, 2, 16, 8, true, DType.FP32)) {
            Tensor out = l.poisoned(DType.BF16, 5, 16);
            byte[] before = out.segment().toArray(ValueLayout.JAVA_BYTE);
            Routing r = l.layer.route(l.x);
            assertThrows(IllegalArgumentException.class, () -> l.layer.forward(l.poisoned(DType.BF16, 5, 17), out));
            assertThrows(IllegalArgumentException.class, () -> l.layer.forward(l.x, Routing.of(4, 1, new int[5], new float[5]), l.poisoned(DType.BF16, 6, 16)));
            assertThrows(IllegalArgumentException.class, () -> l.layer.forward(l.x, l.x));
            assertThrows(IllegalArgumentException.class, () -> l.layer.combine(l.poisoned(DType.FP32, 9, 16), r, out));
            assertThrows(IllegalArgumentException.class, () -> MoeLayer.create(CPU, l.wr, l.weights, MoeOptions.topK(5)));
            assertArrayEquals(before, out.segment().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void theCpuBackendOffersTheKernel() {
        assertTrue(CPU.kernels(MoeKernel.class).orElseThrow() instanceof VectorMoeKernel);
    }
}
