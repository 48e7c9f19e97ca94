package org.offload4j.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** The reference against hand-computed values and against a direct per-token formula. */
class MoeReferenceTest {

    @Test
    void logitsAreTheProduct() {
        try (Tensor x = Tensor.of(DType.BF16, new float[] {1, 2, -1, 0.5f}, 2, 2);
             Tensor wr = Tensor.of(DType.FP32, new float[] {1, 0, 3, 0, 1, -2}, 2, 3)) {
            assertArrayEquals(new double[] {1, 2, -1, -1, 0.5, -4}, MoeReference.logits(x, wr));
        }
    }

    @Test
    void topKTakesTheLargestAndBreaksTiesTowardTheLowerIndex() {
        double[] logits = {1, 3, 3, 2};
        Routing r = MoeReference.routeFromLogits(logits, 4, 2, false);
        assertArrayEquals(new int[] {1, 2}, r.expertIds());
        double sum = Math.exp(-2) + 1 + 1 + Math.exp(-1);
        assertEquals((float) (1 / sum), r.weight(0, 0));
        assertEquals((float) (1 / sum), r.weight(0, 1));
        Routing renormalized = MoeReference.routeFromLogits(logits, 4, 3, true);
        assertArrayEquals(new int[] {1, 2, 3}, renormalized.expertIds());
        double chosen = 2 + Math.exp(-1);
        assertEquals((float) (Math.exp(-1) / chosen), renormalized.weight(0, 2));
        assertEquals(1.0, renormalized.weight(0, 0) + renormalized.weight(0, 1) + renormalized.weight(0, 2), 1e-6);
        // All equal: the first k in index order.
        assertArrayEquals(new int[] {0, 1, 2}, MoeReference.routeFromLogits(new double[5], 5, 3, true).expertIds());
        // Large logits: the max is subtracted before exp.
        Routing big = MoeReference.routeFromLogits(new double[] {1000, 999}, 2, 1, false);
        assertEquals((float) (1 / (1 + Math.exp(-1))), big.weight(0, 0));
    }

    /** Infinite and NaN logits: +∞ ones share the weight, NaN ranks last with weight 0, no number at all gives uniform weights. */
    @Test
    void infiniteAndNaNLogitsGiveWeightsNotNaN() {
        double inf = Double.POSITIVE_INFINITY;
        double nan = Double.NaN;
        Routing r = MoeReference.routeFromLogits(new double[] {1, inf, 2, inf}, 4, 3, false);
        assertArrayEquals(new int[] {1, 3, 2}, r.expertIds());
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f}, r.weights());
        r = MoeReference.routeFromLogits(new double[] {nan, 1, nan, 1}, 4, 3, false);
        assertArrayEquals(new int[] {1, 3, 0}, r.expertIds(), "NaN after every number, lower index first");
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f}, r.weights());
        r = MoeReference.routeFromLogits(new double[] {nan, nan, nan, nan}, 4, 2, false);
        assertArrayEquals(new int[] {0, 1}, r.expertIds());
        assertArrayEquals(new float[] {0.25f, 0.25f}, r.weights(), "a NaN row: uniform over E");
        r = MoeReference.routeFromLogits(new double[] {nan, nan, nan, nan}, 4, 2, true);
        assertArrayEquals(new float[] {0.5f, 0.5f}, r.weights(), "renormalized over k");
        r = MoeReference.routeFromLogits(new double[] {-inf, nan, -inf}, 3, 2, false);
        assertArrayEquals(new int[] {0, 2}, r.expertIds());
    }

    @Test
    void swigluIsSiluOfGateTimesUp() {
        double[] h = {0, 1, -2, /* up */ 3, 4, 5};
        double[] a = MoeReference.swiglu(h, 3);
        assertArrayEquals(new double[] {0, 4 / (1 + Math.exp(-1)), -2 / (1 + Math.exp(2)) * 5}, a, 1e-15);
    }

    /** forward = Σ_j w · MLP_e(x_t), each MLP computed straight from the tensors, token by token. */
    @Test
    void forwardMatchesTheDirectFormula() {
        int tokens = 7, experts = 5, k = 3, dModel = 6, dFf = 4;
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, tokens, dModel), 1, 1);
             Tensor wr = TensorFill.gaussian(Tensor.allocate(DType.FP32, dModel, experts), 2, 1);
             Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dModel, 2 * dFf), 3, 0.5);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dFf, dModel), 4, 0.5)) {
            ExpertWeights w = Bf16ExpertWeights.of(w1, w2);
            Routing r = MoeReference.route(x, wr, k, true);
            double[] got = MoeReference.forward(x, r, w);
            for (int t = 0; t < tokens; t++) {
                double[] want = new double[dModel];
                for (int j = 0; j < k; j++) {
                    int e = r.expert(t, j);
                    double[] a = new double[dFf];
                    for (int f = 0; f < dFf; f++) {
                        double g = 0, u = 0;
                        for (int i = 0; i < dModel; i++) {
                            g += x.getFloat(t, i) * (double) w1.getFloat((long) e * dModel + i, f);
                            u += x.getFloat(t, i) * (double) w1.getFloat((long) e * dModel + i, dFf + f);
                        }
                        a[f] = g / (1 + Math.exp(-g)) * u;
                    }
                    for (int c = 0; c < dModel; c++) {
                        double y = 0;
                        for (int f = 0; f < dFf; f++) {
                            y += a[f] * w2.getFloat((long) e * dFf + f, c);
                        }
                        want[c] += r.weight(t, j) * y;
                    }
                }
                for (int c = 0; c < dModel; c++) {
                    assertEquals(want[c], got[t * dModel + c], 1e-12 * (1 + Math.abs(want[c])), "token " + t + ", column " + c);
                }
            }
        }
    }

    @Test
    void bf16WeightsDecodeExactlyAndCheckTheirBlock() {
        try (Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 3, 4), 5, 1);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 2, 3), 6, 1)) {
            Bf16ExpertWeights w = Bf16ExpertWeights.of(w1, w2);
            assertEquals(2, w.experts());
            assertEquals(3, w.dModel());
            assertEquals(2, w.dFf());
            assertEquals("bf16", w.format());
            float[] dst = new float[10];
            w.decode(ExpertWeights.Matrix.GATE_UP, 1, 1, 2, 1, 3, dst, 1, 4);
            for (int r = 0; r < 2; r++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(w1.getFloat(3 + 1 + r, 1 + c), dst[1 + r * 4 + c]);
                }
            }
            assertEquals(0f, dst[0]);
            assertEquals(0f, dst[4]);
            w.decode(ExpertWeights.Matrix.DOWN, 0, 0, 2, 0, 3, dst, 0, 3);
            assertEquals(w2.getFloat(1, 2), dst[5]);
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class,
                    () -> w.decode(ExpertWeights.Matrix.DOWN, 2, 0, 1, 0, 1, dst, 0, 1));
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class,
                    () -> w.decode(ExpertWeights.Matrix.GATE_UP, 0, 2, 2, 0, 1, dst, 0, 1));
            org.junit.jupiter.api.Assertions.assertThrows(IndexOutOfBoundsException.class,
                    () -> w.decode(ExpertWeights.Matrix.GATE_UP, 0, 0, 3, 0, 4, dst, 0, 4));
        }
    }
}
