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
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.W4A16ExpertWeights;
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
            for (int tokens : new int[] {5, 8, 6, 3, 7, 16, 9, 13}) { // capacities 8, 4, 8 again, 16 (two kept per weights)
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
     * The grouped GEMMs' row tiles folded into the grid's z, as a launch of over 65535 tiles does on
     * a GPU: with the fold limit forced down to 3 groups in y, 100 tokens and then 70 on the same
     * plan (capacity 128: 22 tile slots, y = 3, z = 8; the calls launch 19 tiles, y = 3, z = 7, and
     * 15, y = 3, z = 5), against the float64 reference. A kernel that took its tile from y alone
     * would leave most rows unwritten.
     */
    @Test
    void rowTilesFoldedIntoZ() {
        long seed = TornadoTests.seed("moe plans folded tiles");
        TornadoTests.withProperty("offload.tornado.gridYz", "3", () -> {
            try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
                for (int tokens : new int[] {100, 70}) {
                    Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, tokens, D_MODEL), seed + tokens, 1);
                    Routing r = MoeReference.route(x, l.wr, K, true);
                    Tensor out = l.poisoned(DType.BF16, tokens, D_MODEL);
                    l.layer.forward(x, r, out);
                    TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed,
                            "forward T=" + tokens + ", tiles folded");
                }
            }
        });
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
     * A decode loop over nine layers (more than the kernel's shared cache of 8 plans held when
     * all layers shared it), as given and prepared, three steps: one forward plan per layer, not
     * one per call. Every result matches the reference; the prepared layers match the plain ones
     * bit for bit (bf16 and int4 experts).
     */
    @ParameterizedTest(name = "prepared = {0}")
    @ValueSource(booleans = {false, true})
    void layersKeepTheirPlansAcrossADecodeLoop(boolean prepare) {
        long seed = TornadoTests.seed("moe layers decode loop", prepare);
        int layers = 9;
        int dModel = 64; // every third layer has int4 experts: groups of 32 along d_model and d_ff
        int dFf = 32;
        List<TornadoMoeTest.Layer> sources = new ArrayList<>();
        List<MoeLayer> used = new ArrayList<>();
        try {
            for (int i = 0; i < layers; i++) {
                sources.add(new TornadoMoeTest.Layer(seed + 10L * i, 1, EXPERTS, K, dModel, dFf, true, DType.BF16, i % 3 == 2));
                used.add(prepare ? sources.get(i).layer.prepared() : sources.get(i).layer);
                assertEquals(prepare, used.get(i).ownsExpertWeights(), "layer " + i + " owns a TornadoVM copy");
            }
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            for (int step = 0; step < 3; step++) {
                for (int i = 0; i < layers; i++) {
                    TornadoMoeTest.Layer l = sources.get(i);
                    Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, 1, dModel), seed + 100L * step + i, 1);
                    Routing r = MoeReference.route(x, l.wr, K, true);
                    Tensor out = l.poisoned(DType.BF16, 1, dModel);
                    used.get(i).forward(x, r, out);
                    TornadoMoeTest.assertClose(MoeReference.forward(x, r, l.weights), out, seed, "layer " + i + " step " + step);
                    if (prepare && step == 2 && i < 3) {
                        Tensor plain = l.poisoned(DType.BF16, 1, dModel);
                        l.layer.forward(x, r, plain);
                        assertArrayEquals(plain.toFloatArray(), out.toFloatArray(), TornadoTests.why(seed, "prepared against plain, layer " + i));
                        before++; // the plain layer's plan
                    }
                }
            }
            assertEquals(layers, kernel.plansBuilt() - before, "one forward plan per layer");
        } finally {
            used.forEach(MoeLayer::close);
            sources.forEach(TornadoMoeTest.Layer::close);
        }
    }

    /**
     * The grouped GEMMs of weights as given keep the plans of their two most recently used
     * capacities, both matrices of each: a decode step's plans outlive prompts of two other
     * capacities, and a third capacity drops the least recently used one.
     */
    @Test
    void stepPlansAreKeptPerCapacity() {
        long seed = TornadoTests.seed("moe step plans");
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 1, EXPERTS, K, D_MODEL, D_FF, true, DType.BF16, false)) {
            TornadoMoeKernel kernel = kernel();
            int before = kernel.plansBuilt();
            // copies 2, 32, 2, 10, 2: capacities 2, 32, 2, 16 (drops 32), 2
            int[] tokens = {1, 16, 1, 5, 1};
            int[] built = {2, 4, 4, 6, 6};
            for (int c = 0; c < tokens.length; c++) {
                int t = tokens[c];
                Tensor x = TensorFill.gaussian(Tensor.allocate(l.arena, DType.BF16, t, D_MODEL), seed + c, 1);
                Routing r = MoeReference.route(x, l.wr, K, true);
                Tensor xp = TensorFill.gaussian(Tensor.allocate(l.arena, DType.FP32, r.copies(), D_MODEL), seed + 10 + c, 1);
                Tensor h = l.poisoned(DType.FP32, r.copies(), 2L * D_FF);
                l.layer.gateUp(xp, r, h);
                TornadoMoeTest.assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.GATE_UP),
                        h, seed, "gateUp T=" + t);
                Tensor a = TensorFill.gaussian(Tensor.allocate(l.arena, DType.FP32, r.copies(), D_FF), seed + 20 + c, 1);
                Tensor y = l.poisoned(DType.FP32, r.copies(), D_MODEL);
                l.layer.down(a, r, y);
                TornadoMoeTest.assertClose(MoeReference.groupedGemm(a.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.DOWN),
                        y, seed, "down T=" + t);
                assertEquals(built[c], kernel.plansBuilt() - before, "plans built after call " + c + " (T=" + t + ")");
                assertEquals(Math.min(4, built[c]), kernel.plansHeld(l.weights), "plans held after call " + c);
            }
        }
    }

    /** Weights as given that are closed have their plans and host copy freed at the next call of the kernel. */
    @Test
    void closedWeightsAreFreed() throws Exception {
        long seed = TornadoTests.seed("moe closed weights");
        int dModel = 64;
        int dFf = 32;
        try (TornadoMoeTest.Layer l = new TornadoMoeTest.Layer(seed, 3, EXPERTS, K, dModel, dFf, true, DType.BF16, true)) {
            TornadoMoeKernel kernel = kernel();
            Tensor out = l.poisoned(DType.BF16, 3, dModel);
            Routing r = l.layer.forward(l.x, out);
            TornadoMoeTest.assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "forward, int4 experts");
            assertEquals(1, kernel.plansHeld(l.weights));
            ((AutoCloseable) l.weights).close(); // W4A16ExpertWeights.quantize owns its tensors
            kernel.weightsHeld(); // frees the entries of closed weights, as every call does first
            assertEquals(0, kernel.plansHeld(l.weights), "the closed weights' entry is gone");
            assertEquals(0, kernel.heldWeightBytes(l.weights));
        }
    }

    /**
     * A prepared layer keeps the plans of its two most recently used capacities: a decode step's
     * plan outlives a prompt's of another capacity. Closing the layer frees them; the kernel
     * refuses the closed copy even when called directly.
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
            assertEquals(ExpertPlans.CAPACITIES, copy.plansHeld());
            layer.close();
            assertEquals(0, copy.plansHeld(), "close frees the plans");
            assertFalse(copy.isAlive());
            Routing r = MoeReference.route(l.x, l.wr, K, true);
            Tensor out = l.poisoned(DType.BF16, 1, D_MODEL);
            assertThrows(IllegalStateException.class, () -> layer.forward(l.x, r, out));
            assertThrows(IllegalStateException.class, () -> kernel.forward(l.x, r, copy, out));
        }
    }

    /**
     * The prepared copy holds every value in the experts' own format: with its source closed it
     * decodes to the source's values exactly and runs forward as the source did, bit for bit
     * (bf16, and int4 with and without zero points, with fp16, bf16 and fp32 scales). Another
     * kernel given the copy prepares one of its own and gives the same bits.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"bf16", "int4 asymmetric fp16", "int4 symmetric bf16", "int4 asymmetric fp32"})
    void preparedCopyHoldsItsSourcesValues(String format) throws Exception {
        long seed = TornadoTests.seed("moe prepared copy", format);
        int dModel = 64;
        int dFf = 32;
        int tokens = 5;
        boolean int4 = format.startsWith("int4");
        java.lang.foreign.Arena weightsArena = java.lang.foreign.Arena.ofShared();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            Tensor w1 = TensorFill.gaussian(Tensor.allocate(weightsArena, DType.BF16, EXPERTS, dModel, 2L * dFf), seed, 1 / Math.sqrt(dModel));
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(weightsArena, DType.BF16, EXPERTS, dFf, dModel), seed + 1, 1 / Math.sqrt(dFf));
            Tensor wr = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, dModel, EXPERTS), seed + 2, 1 / Math.sqrt(dModel));
            Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), seed + 3, 1);
            DType scales = format.endsWith("fp16") ? DType.FP16 : format.endsWith("bf16") ? DType.BF16 : DType.FP32;
            ExpertWeights source = int4 ? W4A16ExpertWeights.quantize(w1, w2, 32, format.contains(" symmetric"), scales)
                    : Bf16ExpertWeights.of(w1, w2);
            Routing r = MoeReference.route(x, wr, K, true);
            double[] want = MoeReference.forward(x, r, source);
            Tensor plainOut = TensorFill.poison(Tensor.allocate(arena, DType.BF16, tokens, dModel));
            MoeLayer.create(TornadoTests.backend(), wr, source, new MoeOptions(K, true)).forward(x, r, plainOut);
            float[][][] values = new float[2][EXPERTS][];
            for (ExpertWeights.Matrix m : ExpertWeights.Matrix.values()) {
                for (int e = 0; e < EXPERTS; e++) {
                    values[m.ordinal()][e] = new float[m.rows(source) * m.cols(source)];
                    source.decode(m, e, 0, m.rows(source), 0, m.cols(source), values[m.ordinal()][e], 0, m.cols(source));
                }
            }
            long sourceBytes = heldBytes(source, dModel, dFf);
            TornadoExpertWeights copy = (TornadoExpertWeights) kernel().prepare(source);
            TornadoMoeKernel other = new TornadoMoeKernel(kernel().device());
            try {
                if (source instanceof AutoCloseable owned) {
                    owned.close();
                }
                weightsArena.close(); // the source's tensors are gone: the copy holds every value
                assertEquals(sourceBytes, copy.bytes(), "held in the source's own format");
                for (ExpertWeights.Matrix m : ExpertWeights.Matrix.values()) {
                    int rows = m.rows(copy);
                    int cols = m.cols(copy);
                    for (int e = 0; e < EXPERTS; e++) {
                        float[] got = new float[rows * cols];
                        copy.decode(m, e, 0, rows, 0, cols, got, 0, cols);
                        assertArrayEquals(values[m.ordinal()][e], got, TornadoTests.why(seed, m + " of expert " + e));
                    }
                    float[] corner = new float[3 * 5];
                    copy.decode(m, EXPERTS - 1, rows - 3, 3, cols - 5, 5, corner, 0, 5);
                    for (int i = 0; i < 15; i++) {
                        assertEquals(values[m.ordinal()][EXPERTS - 1][(rows - 3 + i / 5) * cols + cols - 5 + i % 5], corner[i],
                                TornadoTests.why(seed, m + ", last corner block, element " + i));
                    }
                }
                MoeLayer layer = MoeLayer.create(TornadoTests.backend(), wr, copy, new MoeOptions(K, true));
                Tensor out = TensorFill.poison(Tensor.allocate(arena, DType.BF16, tokens, dModel));
                layer.forward(x, r, out);
                TornadoMoeTest.assertClose(want, out, seed, "forward on the copy");
                assertArrayEquals(plainOut.toFloatArray(), out.toFloatArray(), TornadoTests.why(seed, "copy against source"));
                assertSame(copy, kernel().prepare(copy), "a kernel's own copy is not copied again");

                try (TornadoExpertWeights second = (TornadoExpertWeights) other.prepare(copy)) {
                    assertTrue(second != copy && second.ownedBy(other) && !copy.ownedBy(other), "another kernel prepares its own copy");
                    Tensor otherOut = TensorFill.poison(Tensor.allocate(arena, DType.BF16, tokens, dModel));
                    other.forward(x, r, copy, otherOut); // the first kernel's copy, run by the other kernel's own plans
                    assertArrayEquals(out.toFloatArray(), otherOut.toFloatArray(), TornadoTests.why(seed, "another kernel"));
                    assertEquals(1, other.plansBuilt());
                    assertEquals(0, other.plansHeld(second));
                    assertEquals(1, other.plansHeld(copy), "the other kernel's plan for the copy it did not make");
                }
            } finally {
                copy.close();
            }
            assertFalse(copy.isAlive());
            assertThrows(IllegalStateException.class, () -> copy.decode(ExpertWeights.Matrix.DOWN, 0, 0, 1, 0, 1, new float[1], 0, 1));
            assertThrows(IllegalStateException.class, () -> other.prepare(copy), "a closed copy");
            assertEquals(0, other.weightsHeld(), "the other kernel frees its entry for the closed copy");
        } finally {
            if (weightsArena.scope().isAlive()) {
                weightsArena.close();
            }
        }
    }

    /** Bytes of the experts in their own format (bf16 bits, or int4 words, zero points unless symmetric, fp32 scales at g = 32). */
    private static long heldBytes(ExpertWeights w, int dModel, int dFf) {
        if (!(w instanceof W4A16ExpertWeights q)) {
            return 2L * EXPERTS * (dModel * 2L * dFf + (long) dFf * dModel);
        }
        boolean zeros = !q.weight(ExpertWeights.Matrix.GATE_UP, 0).symmetric();
        int g = 32;
        long gateUp = (dModel / 8) * 2L * dFf + (zeros ? (dModel / g) * (2L * dFf / 8) : 0) + (dModel / g) * 2L * dFf;
        long down = (dFf / 8) * (long) dModel + (zeros ? (dFf / g) * (dModel / 8L) : 0) + (dFf / g) * (long) dModel;
        return 4L * EXPERTS * (gateUp + down);
    }
}
