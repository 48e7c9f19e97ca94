package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;

/**
 * The MoE steps compile one plan per capacity of tokens (or permuted rows), not one per count:
 * calls of 5 … 8 tokens share the 8-token plan, 9 … 16 the 16-token one. Each call launches and
 * copies back only its own rows, so a shorter call after a longer one on the same plan reads
 * nothing of the longer one's rows; every call is checked against the float64 reference with its
 * outputs poisoned first. The plan counts assume that no other test asks the same kernel for
 * plans of these keys: the forward and MLP plans are keyed by a fresh weights object, and the
 * route, SwiGLU and combine plans by sizes (d_ff = 24, token capacity 16) no other MoE test uses.
 */
@Tag("tornado")
class MoePlansTest {
    private static final int EXPERTS = 6, K = 2, D_MODEL = 40, D_FF = 24;

    private static TornadoMoeKernel kernel() {
        return (TornadoMoeKernel) TornadoTests.backend().kernels(MoeKernel.class).orElseThrow();
    }

    @Test
    void forwardTokenCountsShareTheirCapacitysPlan() {
        long seed = TornadoTests.seed("moe plans forward");
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            for (int tokens : new int[] {5, 8, 6, 3, 16, 9, 13, 7}) { // capacities 8, 4, 16
                Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, tokens, D_MODEL), seed + tokens, 1);
                Routing r = MoeReference.route(x, l.wr, K, true);
                Tensor out = l.poisoned(DType.BF16, tokens, D_MODEL);
                l.layer.forward(x, r, out);
                TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed, "forward T=" + tokens);
            }
            assertEquals(3, kernel.plansBuilt() - before, "token capacities 8, 4 and 16");
        }
    }

    /**
     * Every token on experts 0 and 1 (each expert's rows span 8 row tiles at 120 tokens): the
     * grouped GEMMs of a call launch the row tiles of its copies (k per token), not of its tokens.
     */
    @Test
    void skewedForwardLaunchesEveryRowTileOfItsCopies() {
        long seed = TornadoTests.seed("moe plans skewed");
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
            for (int tokens : new int[] {120, 100}) { // one capacity (128), the shorter call second
                Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, tokens, D_MODEL), seed + tokens, 1);
                int[] ids = new int[tokens * K];
                float[] w = new float[tokens * K];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = i % K;
                    w[i] = 0.25f + (i % 7) / 10f;
                }
                Routing r = Routing.of(EXPERTS, K, ids, w);
                Tensor out = l.poisoned(DType.BF16, tokens, D_MODEL);
                l.layer.forward(x, r, out);
                TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed, "skewed forward T=" + tokens);
            }
        }
    }

    /** Every step at 13 then 9 tokens (one capacity, the shorter call second), fp32 outputs. */
    @Test
    void eachStepShrinkingWithinOnePlan() {
        long seed = TornadoTests.seed("moe plans steps");
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            for (int tokens : new int[] {13, 9}) {
                String what = "T=" + tokens;
                Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, tokens, D_MODEL), seed + tokens, 1);
                Routing r = l.layer.route(x);
                Routing want = MoeReference.route(x, l.wr, K, true);
                assertArrayEquals(want.expertIds(), r.expertIds(), TornadoTests.why(seed, "route " + what));
                assertArrayEquals(want.weights(), r.weights(), 1e-5f, TornadoTests.why(seed, "route weights " + what));
                int p = r.copies();
                Tensor xp = l.poisoned(DType.FP32, p, D_MODEL);
                l.layer.permute(x, r, xp);
                Tensor h = l.poisoned(DType.FP32, p, 2L * D_FF);
                l.layer.gateUp(xp, r, h);
                TornadoMoeTest.assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.GATE_UP),
                        h, seed, "gateUp " + what);
                Tensor a = l.poisoned(DType.FP32, p, D_FF);
                l.layer.swiglu(h, a);
                TornadoMoeTest.assertClose(MoeReference.swiglu(h.toDoubleArray(), D_FF), a, seed, "swiglu " + what);
                Tensor y = l.poisoned(DType.FP32, p, D_MODEL);
                l.layer.expertMlp(xp, r, y);
                TornadoMoeTest.assertClose(MoeReference.expertMlp(xp.toDoubleArray(), r, l.weights), y, seed, "expertMlp " + what);
                Tensor out = l.poisoned(DType.BF16, tokens, D_MODEL);
                l.layer.combine(y, r, out);
                TornadoMoeTest.assertClose(MoeReference.combine(y.toDoubleArray(), r, D_MODEL), out, seed, "combine " + what);
            }
            // route, gate/up GEMM, SwiGLU, expert MLP and combine: one plan each for both calls
            // (permute runs on the host: the SPI has no permute step).
            assertEquals(5, kernel.plansBuilt() - before, "one plan per step");
        }
    }

    /**
     * Bf16 experts are held as their 16-bit bits (host and device), strided rows included, W4A16
     * experts as their GPTQ words, zero points and fp32 scales; both give the reference's result.
     */
    @Test
    void expertsAreHeldInTheirOwnFormat() {
        long seed = TornadoTests.seed("moe weights held");
        long weightsPerMatrixPair = (long) EXPERTS * (D_MODEL * 2L * D_FF + (long) D_FF * D_MODEL);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            long stride = 2L * D_FF + 6; // w1 rows with gaps: they are copied row by row
            Tensor w1 = TensorFill.gaussian(Tensor.wrapStrided(arena.allocate(2L * EXPERTS * D_MODEL * stride), DType.BF16, stride,
                    EXPERTS, D_MODEL, 2L * D_FF), seed, 1 / Math.sqrt(D_MODEL));
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, EXPERTS, D_FF, D_MODEL), seed + 1, 1 / Math.sqrt(D_FF));
            Tensor wr = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, D_MODEL, EXPERTS), seed + 2, 1 / Math.sqrt(D_MODEL));
            Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, 11, D_MODEL), seed + 3, 1);
            org.offload4j.moe.Bf16ExpertWeights weights = org.offload4j.moe.Bf16ExpertWeights.of(w1, w2);
            org.offload4j.moe.MoeLayer layer = org.offload4j.moe.MoeLayer.create(TornadoTests.backend(), wr, weights,
                    new org.offload4j.moe.MoeOptions(K, true));
            Routing r = layer.route(x);
            Tensor out = TensorFill.poison(Tensor.allocate(arena, DType.BF16, 11, D_MODEL));
            layer.forward(x, r, out);
            TornadoMoeTest.assertClose(MoeReference.forward(x, r, weights), out, seed, "forward with strided bf16 w1");
            Tensor outDecoded = TensorFill.poison(Tensor.allocate(arena, DType.BF16, 11, D_MODEL));
            org.offload4j.moe.MoeLayer.create(TornadoTests.backend(), wr, decodedOnly(weights), new org.offload4j.moe.MoeOptions(K, true))
                    .forward(x, r, outDecoded);
            assertArrayEquals(outDecoded.toFloatArray(), out.toFloatArray(), TornadoTests.why(seed, "bf16 bits against decode()"));
            assertEquals(2 * weightsPerMatrixPair, kernel().heldWeightBytes(weights), "bf16 experts, 2 bytes a weight");
        }
        int dModel = 64; // int4 experts: groups of 32 along d_model and d_ff
        int dFf = 32;
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 5, EXPERTS, K, dModel, dFf, true, DType.BF16, true)) {
            Tensor out = l.poisoned(DType.BF16, 5, dModel);
            Routing r = l.layer.forward(l.x, out);
            TornadoMoeTest.assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "forward, int4 experts");
            int g = 32;
            long gateUp = (dModel / 8) * 2L * dFf + (dModel / g) * (2L * dFf / 8) + (dModel / g) * 2L * dFf;
            long down = (dFf / 8) * (long) dModel + (dFf / g) * (dModel / 8L) + (dFf / g) * (long) dModel;
            assertEquals(4L * EXPERTS * (gateUp + down), kernel().heldWeightBytes(l.weights),
                    "int4 experts as their words, zero points and fp32 scales");
        }
    }

    /**
     * The grouped GEMMs reading int4 experts as they are, in five layouts: symmetric or with zero
     * points, groups of 32 or 64 or one per column, fp16, bf16 or fp32 scales; fp32 outputs bit
     * for bit against the same GEMMs over the weights decoded on the host, and against the float64
     * reference (1e-4: a wrong nibble, zero or scale is far above it).
     */
    @Test
    void int4ExpertsInEveryLayout() {
        long seed = TornadoTests.seed("moe int4 layouts");
        int dModel = 128; // W1 and W2 differ in k, so g = 64 and g = -1 give them different group sizes
        int dFf = 64;
        Object[][] layouts = {{true, 32, DType.BF16}, {false, 32, DType.FP16}, {false, -1, DType.FP32}, {true, -1, DType.FP16},
                {false, 64, DType.BF16}};
        for (Object[] layout : layouts) {
            boolean symmetric = (Boolean) layout[0];
            int g = (Integer) layout[1];
            DType scaleType = (DType) layout[2];
            String what = (symmetric ? "symmetric" : "zero points") + ", g = " + g + ", " + scaleType + " scales";
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                Tensor w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, EXPERTS, dModel, 2L * dFf), seed, 0.2);
                Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, EXPERTS, dFf, dModel), seed + 1, 0.2);
                Tensor wr = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, dModel, EXPERTS), seed + 2, 0.2);
                Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, 21, dModel), seed + 3, 1);
                try (org.offload4j.moe.W4A16ExpertWeights weights = org.offload4j.moe.W4A16ExpertWeights.quantize(w1, w2, g, symmetric,
                        scaleType)) {
                    org.offload4j.moe.MoeLayer layer = org.offload4j.moe.MoeLayer.create(TornadoTests.backend(), wr, weights,
                            new org.offload4j.moe.MoeOptions(K, true));
                    Routing r = layer.route(x);
                    Tensor xp = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), dModel));
                    layer.permute(x, r, xp);
                    Tensor h = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), 2L * dFf));
                    layer.gateUp(xp, r, h);
                    TornadoMoeTest.assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, weights, ExpertWeights.Matrix.GATE_UP),
                            h, seed, "gate/up, " + what);
                    // The same GEMM over the weights decoded to fp32 on the host: the same bits.
                    Tensor hDecoded = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), 2L * dFf));
                    org.offload4j.moe.MoeLayer decoded = org.offload4j.moe.MoeLayer.create(TornadoTests.backend(), wr,
                            decodedOnly(weights), new org.offload4j.moe.MoeOptions(K, true));
                    decoded.gateUp(xp, r, hDecoded);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(hDecoded.toFloatArray(), h.toFloatArray(),
                            TornadoTests.why(seed, "int4 read in the kernel against decode(), " + what));
                    Tensor a = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), dFf));
                    layer.swiglu(h, a);
                    Tensor y = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), dModel));
                    layer.down(a, r, y);
                    TornadoMoeTest.assertClose(MoeReference.groupedGemm(a.toDoubleArray(), r, weights, ExpertWeights.Matrix.DOWN),
                            y, seed, "down, " + what);
                    Tensor yDecoded = TensorFill.poison(Tensor.allocate(arena, DType.FP32, r.copies(), dModel));
                    decoded.down(a, r, yDecoded);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(yDecoded.toFloatArray(), y.toFloatArray(),
                            TornadoTests.why(seed, "int4 down GEMM against decode(), " + what));
                }
            }
        }
    }

    /** {@code w} seen only through {@link ExpertWeights#decode}: a format the kernel decodes to fp32 on the host. */
    private static ExpertWeights decodedOnly(ExpertWeights w) {
        return new ExpertWeights() {
            public int experts() { return w.experts(); }
            public int dModel() { return w.dModel(); }
            public int dFf() { return w.dFf(); }
            public String format() { return "decoded " + w.format(); }
            public boolean isAlive() { return w.isAlive(); }
            public boolean overlaps(Tensor t) { return w.overlaps(t); }
            public void decode(Matrix m, int e, int r0, int rows, int c0, int cols, float[] dst, int at, int stride) {
                w.decode(m, e, r0, rows, c0, cols, dst, at, stride);
            }
        };
    }
    /**
     * Prepared layers keep their own plans: nine layers (more than the kernel's shared cache of 8
     * plans) called in turn for three decode steps compile one forward plan each, not one per
     * call; their results match the reference, and the unprepared layer's bit for bit.
     */
    @Test
    void preparedLayersKeepTheirPlansAcrossADecodeLoop() {
        long seed = TornadoTests.seed("moe prepared layers");
        int layers = 9;
        int dModel = 64; // every third layer has int4 experts: groups of 32 along d_model and d_ff
        int dFf = 32;
        List<TornadoMoeTest.Layer> sources = new ArrayList<>();
        List<MoeLayer> prepared = new ArrayList<>();
        try {
            for (int i = 0; i < layers; i++) {
                sources.add(new TornadoMoeTest.Layer(seed + 10L * i, 1, EXPERTS, K, dModel, dFf, true, DType.BF16, i % 3 == 2));
                prepared.add(sources.get(i).layer.prepared());
                assertTrue(prepared.get(i).ownsExpertWeights(), "layer " + i + " owns its TornadoVM copy");
            }
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < layers; i++) {
                    TornadoMoeTest.Layer l = sources.get(i);
                    Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, 1, dModel), seed + 100L * step + i, 1);
                    Routing r = MoeReference.route(x, l.wr, K, true);
                    Tensor out = l.poisoned(DType.BF16, 1, dModel);
                    prepared.get(i).forward(x, r, out);
                    TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed, "layer " + i + " step " + step);
                    if (step == 2 && i < 2) {
                        Tensor plain = l.poisoned(DType.BF16, 1, dModel);
                        l.layer.forward(x, r, plain);
                        assertArrayEquals(plain.toFloatArray(), out.toFloatArray(), TornadoTests.why(seed, "prepared against plain, layer " + i));
                        before++; // the plain layer's plan
                    }
                }
            }
            assertEquals(layers, kernel.plansBuilt() - before, "one forward plan per prepared layer");
        } finally {
            prepared.forEach(MoeLayer::close);
            sources.forEach(TornadoMoeTest.Layer::close);
        }
    }

    /**
     * A prepared layer keeps {@link TornadoExpertWeights#PLANS} plans, least recently used
     * dropped first: a decode step's plan outlives a prompt's of another capacity. Closing the
     * layer frees them and refuses later calls.
     */
    @Test
    void preparedPlansAreBoundedAndFreedOnClose() {
        long seed = TornadoTests.seed("moe prepared bound");
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
            MoeLayer layer = l.layer.prepared();
            TornadoExpertWeights copy = (TornadoExpertWeights) layer.expertWeights();
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            for (int tokens : new int[] {1, 5, 1, 16, 1}) { // capacities 1, 8, 1, 16, 1: the 8-token plan goes
                Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, tokens, D_MODEL), seed + tokens, 1);
                Routing r = MoeReference.route(x, l.wr, K, true);
                Tensor out = l.poisoned(DType.BF16, tokens, D_MODEL);
                layer.forward(x, r, out);
                TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed, "prepared forward T=" + tokens);
            }
            assertEquals(3, kernel.plansBuilt() - before, "capacities 1, 8 and 16, the decode plan kept");
            assertEquals(TornadoExpertWeights.PLANS, copy.plansHeld());
            layer.close();
            assertEquals(0, copy.plansHeld(), "close frees the plans");
            assertFalse(copy.isAlive());
            Tensor out = l.poisoned(DType.BF16, 1, D_MODEL);
            assertThrows(IllegalStateException.class, () -> layer.forward(l.x, MoeReference.route(l.x, l.wr, K, true), out));
        }
    }

    /** The prepared copy decodes to the source's values exactly (bf16 and int4 experts), and holds them in their own format. */
    @ParameterizedTest(name = "int4 = {0}")
    @ValueSource(booleans = {false, true})
    void preparedCopyDecodesAsItsSource(boolean int4) {
        long seed = TornadoTests.seed("moe prepared decode", int4);
        int dModel = 64;
        int dFf = 32;
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, dModel, dFf, true, DType.BF16, int4)) {
            try (TornadoExpertWeights copy = (TornadoExpertWeights) kernel().prepare(l.weights)) {
                assertEquals(kernel().heldWeightBytes(copy), copy.bytes());
                for (ExpertWeights.Matrix m : ExpertWeights.Matrix.values()) {
                    int rows = m.rows(l.weights);
                    int cols = m.cols(l.weights);
                    for (int e = 0; e < EXPERTS; e++) {
                        float[] want = new float[rows * cols];
                        float[] got = new float[rows * cols];
                        l.weights.decode(m, e, 0, rows, 0, cols, want, 0, cols);
                        copy.decode(m, e, 0, rows, 0, cols, got, 0, cols);
                        assertArrayEquals(want, got, TornadoTests.why(seed, m + " of expert " + e));
                    }
                    float[] block = new float[3 * 5];
                    float[] wantBlock = new float[3 * 5];
                    l.weights.decode(m, EXPERTS - 1, rows - 3, 3, cols - 5, 5, wantBlock, 0, 5);
                    copy.decode(m, EXPERTS - 1, rows - 3, 3, cols - 5, 5, block, 0, 5);
                    assertArrayEquals(wantBlock, block, TornadoTests.why(seed, m + ", last corner block"));
                }
                assertSame(copy, kernel().prepare(copy), "a prepared copy is not copied again");
            }
        }
    }
}
