package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.offload4j.cpu.VectorMoeKernelTest.CPU;
import static org.offload4j.cpu.VectorMoeKernelTest.assertClose;
import static org.offload4j.cpu.VectorMoeKernelTest.seed;
import static org.offload4j.cpu.VectorMoeKernelTest.why;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * The MoE layer on the CPU with int4 (W4A16) experts against the float64 reference over the same
 * int4 weights. Tasks of whole slivers take the kernel's vector int4 path ({@code packInt4}), a
 * task whose last sliver is partial the generic {@link ExpertWeights#decode}, and a task of at
 * most {@code STREAM_ROWS} rows whose columns are whole vectors streams the words
 * ({@code streamInt4Rows}); the shapes give all three, and
 * {@link #int4PackingMatchesDecodeBitForBit} and {@link #streamedInt4ExpertsGiveThePanelPathsBits}
 * check that they give the same fp32 results bit for bit. Seeds and poisoned outputs as in
 * {@link VectorMoeKernelTest}.
 */
class VectorMoeW4A16Test {

    /** Random bf16 activations and router, fp32 expert weights quantized to int4. */
    static final class Layer implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final Tensor x;
        final Tensor wr;
        final W4A16ExpertWeights weights;
        final MoeLayer layer;

        Layer(long seed, int tokens, int experts, int k, int dModel, int dFf, int groupSize, boolean symmetric, DType scaleType) {
            x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), seed, 1);
            wr = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, dModel, experts), seed + 1, 1 / Math.sqrt(dModel));
            Tensor w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, experts, dModel, 2L * dFf), seed + 2, 1 / Math.sqrt(dModel));
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, experts, dFf, dModel), seed + 3, 1 / Math.sqrt(dFf));
            weights = W4A16ExpertWeights.quantize(w1, w2, groupSize, symmetric, scaleType);
            layer = MoeLayer.create(CPU, wr, weights, new MoeOptions(k, true));
        }

        Tensor poisoned(DType dtype, long... shape) {
            return TensorFill.poison(Tensor.allocate(arena, dtype, shape));
        }

        @Override
        public void close() {
            weights.close();
            arena.close();
        }
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                // name, T, E, k, d_model, d_ff, group size, symmetric, scale dtype
                Arguments.of("g32 asymmetric", 37, 8, 2, 64, 96, 32, false, DType.FP16),
                Arguments.of("g32 symmetric", 23, 6, 2, 96, 64, 32, true, DType.BF16),
                Arguments.of("g128 symmetric, d_model > KC", 29, 4, 2, 384, 128, 128, true, DType.FP16),
                Arguments.of("g128 asymmetric, fp32 scales", 17, 4, 2, 128, 128, 128, false, DType.FP32),
                Arguments.of("g = k asymmetric", 21, 6, 2, 48, 40, -1, false, DType.FP16),
                Arguments.of("g = k symmetric, d_ff > KC", 9, 3, 2, 56, 264, -1, true, DType.BF16),
                Arguments.of("one token", 1, 4, 2, 32, 32, 32, false, DType.FP16),
                Arguments.of("E = 64, k = 6", 50, 64, 6, 32, 32, 32, false, DType.FP16));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void forwardMatchesReference(String name, int tokens, int experts, int k, int dModel, int dFf, int g, boolean symmetric,
                                 DType scaleType) {
        long seed = seed("w4a16 forward", name);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, g, symmetric, scaleType)) {
            Routing routing = l.layer.route(l.x);
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, routing, out);
            assertClose(MoeReference.forward(l.x, routing, l.weights), out, seed, name);
            // The fused MLP to fp32: only fp32 sums (and, for fp32 scales, one rounding of each weight) differ.
            Tensor xp = l.poisoned(DType.FP32, routing.copies(), dModel);
            l.layer.permute(l.x, routing, xp);
            Tensor y = l.poisoned(DType.FP32, routing.copies(), dModel);
            l.layer.expertMlp(xp, routing, y);
            assertClose(MoeReference.expertMlp(xp.toDoubleArray(), routing, l.weights), y, seed, name + ", expertMlp to fp32");
            Tensor h = l.poisoned(DType.FP32, routing.copies(), 2L * dFf);
            l.layer.gateUp(xp, routing, h);
            assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), routing, l.weights, ExpertWeights.Matrix.GATE_UP), h, seed,
                    name + ", gateUp to fp32");
        }
    }

    /**
     * The vector int4 packing against the generic decode, bit for bit on fp32 results: whole
     * slivers at every vector width (d_model = 320, d_ff = 96), two k-blocks in GEMM1 (the second
     * starting at row 256), several groups per k-block (g = 32), both GEMMs. The counting wrapper
     * hides the int4 type, so the counted layer decodes every panel. Compared on fp32 GEMM
     * outputs, where a one-ulp difference in a panel shows, rather than on bf16 layer outputs. An
     * expert that the random routing gives at most STREAM_ROWS rows streams its words in the
     * uncounted layer, which must give the same bits as well.
     */
    @Test
    void int4PackingMatchesDecodeBitForBit() {
        int tokens = 40, experts = 4, dModel = 320, dFf = 96;
        long seed = seed("w4a16 packing");
        try (Layer l = new Layer(seed, tokens, experts, 2, dModel, dFf, 32, false, DType.FP16)) {
            MoeLayer decoded = MoeLayer.create(CPU, l.wr, new CountingWeights(l.weights), new MoeOptions(2, true));
            Routing r = l.layer.route(l.x);
            Tensor h = assertSameGateUp(l, decoded, r, seed, "gateUp, packed vs decoded");
            Tensor a = l.poisoned(DType.FP32, r.copies(), dFf);
            l.layer.swiglu(h, a);
            Tensor y = l.poisoned(DType.FP32, r.copies(), dModel);
            Tensor yDecoded = l.poisoned(DType.FP32, r.copies(), dModel);
            l.layer.down(a, r, y);
            decoded.down(a, r, yDecoded);
            assertArrayEquals(yDecoded.segment().toArray(ValueLayout.JAVA_FLOAT), y.segment().toArray(ValueLayout.JAVA_FLOAT),
                    why(seed, "down, packed vs decoded"));
        }
    }

    /**
     * Int4 experts with few rows stream their words ({@code streamInt4Rows}) instead of packing
     * panels, with the panel path's weights and order of sums. Expert 0 gets all 13 tokens (panels),
     * experts 1 and 2 the second slots, 7 and 6 rows (streamed, several rows per trip); each token
     * alone streams everything with one row (two column vectors at a time). The fp32 expert
     * outputs of every token alone must equal its batch rows bit for bit. Group sizes 32 and 64
     * (zeros and scales re-read per group), one group per column with d_model = 272 and d_ff = 400
     * (an odd number of vectors at 16 floats per vector, so there the one-row loop has a last
     * single vector), every scale dtype, symmetric and not. Column ranges that start inside a
     * zero word are {@link #groupParamsMatchTheAccessors}' part.
     */
    @ParameterizedTest(name = "d = {0}, d_ff = {1}, g = {2}, symmetric = {3}, scales {4}")
    @org.junit.jupiter.params.provider.CsvSource({"256, 384, 32, false, FP16", "272, 400, -1, true, BF16",
        "256, 384, 64, false, FP32", "272, 400, -1, false, FP16"})
    void streamedInt4ExpertsGiveThePanelPathsBits(int dModel, int dFf, int g, boolean symmetric, DType scaleType) {
        long seed = seed("w4a16 streamed", dModel, g, symmetric, scaleType);
        try (Layer l = new Layer(seed, 13, 3, 2, dModel, dFf, g, symmetric, scaleType)) {
            VectorMoeKernelTest.assertMixedBatchRowsBitForBit(l.layer, l.weights, l.x, l.arena, seed);
        }
    }

    /**
     * The streamed path's group zeros and scales against {@link QuantizedWeight#zero} and
     * {@link QuantizedWeight#scale}, for column ranges starting at and between the 8-column zero
     * words (a range starts at 4 mod 8 only with 4-float vectors and several threads otherwise),
     * every scale dtype, symmetric and not, every group.
     */
    @Test
    void groupParamsMatchTheAccessors() {
        int v = VectorMoeKernel.V;
        int k = 256, n = 96, g = 32;
        float[] params = new float[2 * 2 * v];
        for (DType scaleType : new DType[] {DType.FP16, DType.BF16, DType.FP32}) {
            for (boolean symmetric : new boolean[] {false, true}) {
                try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), 5, 0.05);
                     org.offload4j.w4a16.QuantizedWeight q = org.offload4j.w4a16.RtnQuantizer.quantize(wf, g, symmetric, scaleType)) {
                    for (int col0 : new int[] {0, 4, 8, 20, n - 2 * v}) {
                        for (int gi = 0; gi < k / g; gi++) {
                            int width = 2 * v;
                            VectorMoeKernel.groupParams(q, gi, col0, width, params);
                            for (int c = 0; c < width; c++) {
                                String at = scaleType + (symmetric ? " sym" : " asym") + ", group " + gi + ", column " + (col0 + c);
                                assertEquals(q.zero(gi, col0 + c), params[c], "zero, " + at);
                                assertEquals(Float.floatToRawIntBits(q.scale(gi, col0 + c)), Float.floatToRawIntBits(params[width + c]),
                                        "scale, " + at);
                            }
                        }
                    }
                }
            }
        }
    }

    /** The vector fp16 widening of the streamed int4 path against {@link Float#float16ToFloat}, every finite half. */
    @Test
    void fp16ScalesWidenExactly() {
        int v = VectorMoeKernel.V;
        short[] halves = new short[v];
        float[] got = new float[v];
        for (int start = 0; start < 1 << 16; start += v) {
            for (int i = 0; i < v; i++) {
                int h = start + i;
                // Infinities and NaN (exponent 31) are outside the contract: scales are finite.
                halves[i] = (short) ((h & 0x7C00) == 0x7C00 ? 0x3C00 : h);
            }
            VectorMoeKernel.widenFp16(jdk.incubator.vector.ShortVector.fromArray(VectorMoeKernel.S, halves, 0)).intoArray(got, 0);
            for (int i = 0; i < v; i++) {
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(halves[i])), Float.floatToRawIntBits(got[i]),
                        "fp16 bits 0x" + Integer.toHexString(halves[i] & 0xFFFF));
            }
        }
    }

    /** The fp32 gate/up GEMM of {@code l.layer} and of {@code other} on the permuted x: the same bits. Returns l's. */
    private static Tensor assertSameGateUp(Layer l, MoeLayer other, Routing r, long seed, String what) {
        int dModel = l.weights.dModel();
        long cols = 2L * l.weights.dFf();
        Tensor xp = l.poisoned(DType.FP32, r.copies(), dModel);
        l.layer.permute(l.x, r, xp);
        Tensor h = l.poisoned(DType.FP32, r.copies(), cols);
        Tensor hOther = l.poisoned(DType.FP32, r.copies(), cols);
        l.layer.gateUp(xp, r, h);
        other.gateUp(xp, r, hOther);
        assertArrayEquals(h.segment().toArray(ValueLayout.JAVA_FLOAT), hOther.segment().toArray(ValueLayout.JAVA_FLOAT), why(seed, what));
        return h;
    }

    /** Counts {@link #decode} calls per (matrix, expert, first row, first column) of the block. */
    static final class CountingWeights implements ExpertWeights {
        final ExpertWeights inner;
        final Map<List<Integer>, AtomicInteger> calls = new ConcurrentHashMap<>();

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
            calls.computeIfAbsent(List.of(matrix.ordinal(), expert, row0, col0), key -> new AtomicInteger()).incrementAndGet();
            inner.decode(matrix, expert, row0, rows, col0, cols, dst, dstOffset, dstStride);
        }
    }

    /**
     * One expert with {@code hot} rows, one with 20, two with none. Each weight panel is decoded
     * once per task, and a task covers up to {@link VectorMoeKernel#TASK_ROWS} rows of an expert
     * (so once per call below that, twice for a few rows more); experts without rows are never
     * decoded; the result matches the reference, and the gate/up GEMM of the counted layer (every
     * panel decoded) matches the uncounted one (int4 packing where slivers are whole) bit for bit.
     * (This compared whole forward passes until the int4 packing: with the SwiGLU on the Vector
     * API's {@code EXP}, the layer's bits changed from call to call at {@code -XX:UseAVX=0}, and
     * two different code paths made it show; see {@code VectorMoeKernelTest.expertMlpIsBitReproducible}.)
     */
    @ParameterizedTest(name = "{0} rows on one expert")
    @ValueSource(ints = {130, VectorMoeKernel.TASK_ROWS + 32})
    void eachPanelIsDecodedOncePerTask(int hot) {
        int tokens = hot + 20, experts = 4, dModel = 264, dFf = 24;  // d_model > KC: two k-blocks in GEMM1
        long seed = seed("w4a16 decodes", hot);
        try (Layer l = new Layer(seed, tokens, experts, 1, dModel, dFf, -1, false, DType.FP16)) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int[] ids = new int[tokens];
            float[] w = new float[tokens];
            for (int t = 0; t < tokens; t++) {
                ids[t] = t % 7 == 3 && t / 7 < 20 ? 3 : 1;
                w[t] = (float) (0.5 + rnd.nextDouble());
            }
            Routing r = Routing.of(experts, 1, ids, w);
            assertEquals(hot, r.rowsOf(1));
            CountingWeights counting = new CountingWeights(l.weights);
            MoeLayer counted = MoeLayer.create(CPU, l.wr, counting, MoeOptions.topK(1));
            assertSameGateUp(l, counted, r, seed, "counted vs plain gate/up GEMM");

            counting.calls.clear();
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            counted.forward(l.x, r, out);
            assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "forward, " + hot + " rows on expert 1");

            Map<Integer, TreeSet<Integer>> countsByExpert = new HashMap<>();
            counting.calls.forEach((key, n) -> countsByExpert.computeIfAbsent(key.get(1), e -> new TreeSet<>()).add(n.get()));
            assertEquals(Set.of(1, 3), countsByExpert.keySet(), why(seed, "experts whose weights were decoded"));
            int tasksOfHot = (hot + VectorMoeKernel.TASK_ROWS - 1) / VectorMoeKernel.TASK_ROWS;
            assertEquals(new TreeSet<>(List.of(tasksOfHot)), countsByExpert.get(1),
                    why(seed, "decodes of each panel block of expert 1 (" + hot + " rows)"));
            assertEquals(new TreeSet<>(List.of(1)), countsByExpert.get(3), why(seed, "decodes of each panel block of expert 3"));
        }
    }
}
