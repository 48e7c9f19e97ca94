package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * The TornadoVM MoE steps against the float64 reference with the same routing (relative L2 1e-2
 * for bf16 outputs, 1e-4 for fp32): the whole layer on odd shapes, k = 1 … 8, k = E, bf16 and
 * W4A16 experts; every step alone with fp32 and bf16 intermediates; the router's top-k against
 * the float64 router except at fp32 near-ties.
 */
@Tag("tornado")
class TornadoMoeTest {

    static void assertClose(double[] want, Tensor got, long seed, String what) {
        TornadoTests.assertClose(want, got, got.dtype() == DType.FP32 ? 1e-4 : 1e-2, seed, what);
    }

    static final class Layer implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final Tensor x;
        final Tensor wr;
        final ExpertWeights weights;
        final MoeLayer layer;

        Layer(long seed, int tokens, int experts, int k, int dModel, int dFf, boolean renormalize, DType routerType, boolean int4) {
            x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), seed, 1);
            wr = TensorFill.gaussian(Tensor.allocate(arena, routerType, dModel, experts), seed + 1, 1 / Math.sqrt(dModel));
            Tensor w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dModel, 2L * dFf), seed + 2, 1 / Math.sqrt(dModel));
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dFf, dModel), seed + 3, 1 / Math.sqrt(dFf));
            weights = int4 ? W4A16ExpertWeights.quantize(w1, w2, 32, false, DType.FP16) : Bf16ExpertWeights.of(w1, w2);
            layer = MoeLayer.create(TornadoTests.backend(), wr, weights, new MoeOptions(k, renormalize));
        }

        Tensor poisoned(DType dtype, long... shape) {
            return TensorFill.poison(Tensor.allocate(arena, dtype, shape));
        }

        @Override
        public void close() {
            if (weights instanceof W4A16ExpertWeights q) {
                q.close();
            }
            arena.close();
        }
    }

    static Stream<Arguments> shapes() {
        return Stream.of(
                // name, T, E, k, d_model, d_ff, renormalize, int4 experts
                Arguments.of("one token", 1, 4, 2, 40, 24, true, false),
                Arguments.of("odd T and dims", 37, 8, 2, 37, 45, true, false),
                Arguments.of("k = E", 11, 5, 5, 24, 20, true, false),
                Arguments.of("k = 8", 7, 10, 8, 16, 8, false, false),
                Arguments.of("W4A16 experts", 19, 6, 2, 64, 96, true, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void forwardMatchesReference(String name, int tokens, int experts, int k, int dModel, int dFf, boolean renormalize,
                                 boolean int4) {
        long seed = TornadoTests.seed("forward", name);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, renormalize, DType.BF16, int4)) {
            Routing routing = MoeReference.route(l.x, l.wr, k, renormalize);
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, routing, out);
            assertClose(MoeReference.forward(l.x, routing, l.weights), out, seed, name);
        }
    }

    @ParameterizedTest(name = "intermediates {0}")
    @EnumSource(value = DType.class, names = {"FP32", "BF16"})
    void eachStepMatchesReference(DType inter) {
        int tokens = 23, experts = 6, k = 2, dModel = 40, dFf = 36;
        long seed = TornadoTests.seed("steps", inter);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, true, DType.BF16, false)) {
            Routing r = MoeReference.route(l.x, l.wr, k, true);
            int p = r.copies();
            Tensor xp = l.poisoned(inter, p, dModel);
            l.layer.permute(l.x, r, xp);
            assertArrayEquals(MoeReference.permute(l.x, r), xp.toDoubleArray(), "permute is an exact gather");

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
        }
    }

    /**
     * A skewed routing: 50 rows on one expert (four row tiles of the grouped GEMM, the last
     * partial), 10 on another, none on two; the layer and the gate/up GEMM against the reference.
     */
    @Test
    void skewedRoutingSpansSeveralRowTiles() {
        int tokens = 60, experts = 4, dModel = 40, dFf = 24;
        long seed = TornadoTests.seed("skewed");
        try (Layer l = new Layer(seed, tokens, experts, 1, dModel, dFf, true, DType.BF16, false)) {
            SplittableRandom rnd = new SplittableRandom(seed);
            int[] ids = new int[tokens];
            float[] w = new float[tokens];
            for (int t = 0; t < tokens; t++) {
                ids[t] = t % 6 == 5 ? 3 : 1;
                w[t] = (float) (0.5 + rnd.nextDouble());
            }
            Routing r = Routing.of(experts, 1, ids, w);
            assertEquals(50, r.rowsOf(1));
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, r, out);
            assertClose(MoeReference.forward(l.x, r, l.weights), out, seed, "skewed forward");
            Tensor xp = l.poisoned(DType.FP32, r.copies(), dModel);
            l.layer.permute(l.x, r, xp);
            Tensor h = l.poisoned(DType.FP32, r.copies(), 2L * dFf);
            l.layer.gateUp(xp, r, h);
            assertClose(MoeReference.groupedGemm(xp.toDoubleArray(), r, l.weights, ExpertWeights.Matrix.GATE_UP), h, seed,
                    "skewed gateUp");
        }
    }

    /**
     * Non-finite router logits, routed as the contract says (docs/ops/moe.md) instead of NaN
     * weights that fail {@code Routing.of}: token 0's logits 0 and 1 overflow fp32 to +∞ (they
     * share the weight, 0.5 each), token 1's x is NaN (every logit NaN: uniform weights on experts
     * 0, 1), token 2's logits 0 and 1 overflow to −∞, and expert 3's logit is NaN for every token
     * (a NaN in the router weights: it ranks last with weight 0). The float64 reference's logits
     * stay finite (±6e38), so the ids and the other weights are compared with it. Ids and weights as the float64 router's; the
     * NaN token's output is NaN, an ordinary token's finite.
     */
    @Test
    void nonFiniteRouterLogitsRouteAsTheReference() {
        int tokens = 4, experts = 4, k = 2, dModel = 8, dFf = 8;
        long seed = TornadoTests.seed("router extremes", tokens, experts, k);
        try (Layer l = new Layer(seed, tokens, experts, k, dModel, dFf, false, DType.FP32, false)) {
            l.wr.setFloat(0, 0, 2f);
            l.wr.setFloat(0, 1, 2f);
            l.wr.setFloat(0, 2, 0.5f);
            l.wr.setFloat(0, 3, 0.5f);
            l.wr.setFloat(5, 3, Float.NaN);
            l.x.setFloat(0, 0, 3e38f);    // logits 0 and 1 of token 0 ≈ 6e38: +∞ in fp32
            l.x.setFloat(2, 0, -3e38f);   // logits 0 and 1 of token 2: −∞ in fp32
            for (int c = 0; c < dModel; c++) {
                l.x.setFloat(1, c, Float.NaN);
            }
            Routing got = l.layer.route(l.x);
            Routing want = MoeReference.route(l.x, l.wr, k, false);
            assertArrayEquals(want.expertIds(), got.expertIds(), TornadoTests.why(seed, "ids"));
            assertArrayEquals(new int[] {0, 1}, java.util.Arrays.copyOfRange(got.expertIds(), 0, 2), TornadoTests.why(seed, "+∞ token"));
            assertArrayEquals(new float[] {0.5f, 0.5f}, java.util.Arrays.copyOfRange(got.weights(), 0, 2),
                    TornadoTests.why(seed, "token 0: the two +∞ logits share the weight"));
            assertArrayEquals(new int[] {0, 1}, java.util.Arrays.copyOfRange(got.expertIds(), 2, 4), TornadoTests.why(seed, "NaN token"));
            assertArrayEquals(new float[] {0.25f, 0.25f}, java.util.Arrays.copyOfRange(got.weights(), 2, 4),
                    TornadoTests.why(seed, "NaN token: uniform weights"));
            for (int i = 4; i < 8; i++) {
                assertEquals(want.weights()[i], got.weights()[i], 1e-6, TornadoTests.why(seed, "weight " + i));
            }
            Tensor out = l.poisoned(DType.BF16, tokens, dModel);
            l.layer.forward(l.x, got, out);
            for (int c = 0; c < dModel; c++) {
                assertTrue(Float.isNaN(out.getFloat(1, c)), TornadoTests.why(seed, "NaN token output " + c));
                assertTrue(Float.isFinite(out.getFloat(3, c)), TornadoTests.why(seed, "an ordinary token " + c));
            }
        }
    }

    /** Top-k equals the float64 router's except within the fp32 rounding bound of a tie; weights to 1e-5. */
    @Test
    void routerMatchesFloat64RouterExceptNearTies() {
        int[][] shapes = {{64, 8, 2, 64}, {33, 5, 5, 48}, {1, 16, 8, 24}, {6, 1, 1, 8}};
        for (int[] sh : shapes) {
            int tokens = sh[0], experts = sh[1], k = sh[2], dModel = sh[3];
            boolean renormalize = tokens % 2 == 1;
            DType wrType = experts % 2 == 0 ? DType.FP32 : DType.BF16;
            long seed = TornadoTests.seed("router", tokens, experts, k);
            try (Layer l = new Layer(seed, tokens, experts, k, dModel, 8, renormalize, wrType, false)) {
                Routing got = l.layer.route(l.x);
                Routing want = MoeReference.route(l.x, l.wr, k, renormalize);
                double[] logits = MoeReference.logits(l.x, l.wr);
                double[] xs = l.x.toDoubleArray();
                double[] ws = l.wr.toDoubleArray();
                for (int t = 0; t < tokens; t++) {
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
                            assertTrue(gap <= eps, TornadoTests.why(seed, "T=" + tokens + " token " + t + " choice " + j + ": expert "
                                    + ge + " instead of " + we + ", logits " + gap + " apart (tie bound " + eps + ")"));
                        }
                    }
                    if (same) {
                        for (int j = 0; j < k; j++) {
                            assertEquals(want.weight(t, j), got.weight(t, j), 1e-5,
                                    TornadoTests.why(seed, "weight of token " + t + " choice " + j));
                        }
                    }
                }
            }
        }
    }
}
