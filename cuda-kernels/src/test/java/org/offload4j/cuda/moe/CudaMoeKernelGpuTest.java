package org.offload4j.cuda.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * The CUDA MoE kernels through the {@link MoeLayer} facade against {@link MoeReference} with the
 * same routing: bf16 and W4A16 experts, k = 1 and 2, T = 1, 7, 33; plus the router against the
 * float64 router. Skipped (with the reason) where no CUDA backend comes up.
 */
class CudaMoeKernelGpuTest {
    private static final int E = 6;
    private static final int D_MODEL = 64;
    private static final int D_FF = 40;

    private static Tensor random(Random rnd, double sd, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (sd * rnd.nextGaussian());
        }
        return Tensor.of(DType.BF16, v, shape);
    }

    private static double relL2(float[] got, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < got.length; i++) {
            assertTrue(Float.isFinite(got[i]), "out[" + i + "] = " + got[i]);
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    @GpuTest
    void forwardAndStepsMatchTheReference() {
        long seed = 4242;
        for (boolean int4 : new boolean[] {false, true}) {
            for (int k : new int[] {1, 2}) {
                for (int tokens : new int[] {1, 7, 33}) {
                    Random rnd = new Random(++seed);
                    String what = "seed " + seed + (int4 ? " w4a16" : " bf16") + " k=" + k + " T=" + tokens;
                    try (Tensor wr = random(rnd, 0.3, D_MODEL, E);
                         Tensor w1 = random(rnd, 0.15, E, D_MODEL, 2 * D_FF);
                         Tensor w2 = random(rnd, 0.15, E, D_FF, D_MODEL);
                         Tensor x = random(rnd, 1.0, tokens, D_MODEL);
                         Tensor out = Tensor.allocate(DType.BF16, tokens, D_MODEL)) {
                        ExpertWeights experts = int4 ? W4A16ExpertWeights.quantize(w1, w2, -1, false, DType.FP16)  // d_ff = 40: g = 32 does not divide it
                                : Bf16ExpertWeights.of(w1, w2);
                        try {
                            MoeLayer layer = MoeLayer.create(GpuAvailable.backend(), wr, experts, MoeOptions.topK(k));
                            Routing ref = MoeReference.route(x, wr, k, true);
                            Routing got = layer.route(x);
                            assertArrayEquals(ref.expertIds(), got.expertIds(), what + ": router choices");
                            float[] rw = ref.weights();
                            float[] gw = got.weights();
                            for (int i = 0; i < rw.length; i++) {
                                assertEquals(rw[i], gw[i], 1e-5, what + ": router weight " + i);
                            }
                            layer.forward(x, ref, out);
                            double rel = relL2(out.toFloatArray(), MoeReference.forward(x, ref, experts));
                            assertTrue(rel <= 1e-2, what + ": forward relative L2 " + rel);
                            // the steps one by one, fp32 intermediates
                            int p = ref.copies();
                            try (Tensor xp = Tensor.allocate(DType.FP32, p, D_MODEL);
                                 Tensor y = Tensor.allocate(DType.FP32, p, D_MODEL);
                                 Tensor out2 = Tensor.allocate(DType.FP32, tokens, D_MODEL)) {
                                layer.permute(x, ref, xp);
                                layer.expertMlp(xp, ref, y);
                                layer.combine(y, ref, out2);
                                double rel2 = relL2(out2.toFloatArray(), MoeReference.forward(x, ref, experts));
                                assertTrue(rel2 <= 1e-4, what + ": steps relative L2 " + rel2);
                            }
                        } finally {
                            if (experts instanceof W4A16ExpertWeights w) {
                                w.close();
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * {@code prepared()} copies host bf16 experts into GPU memory (CudaMoeKernel.prepare): the
     * prepared layer gives the unprepared one's bits, through forward and the steps, and keeps
     * them after the caller's weights are closed.
     */
    @GpuTest
    void aPreparedLayerComputesOnItsGpuCopyWithTheSameBits() {
        Random rnd = new Random(777);
        int tokens = 19;
        try (Tensor wr = random(rnd, 0.3, D_MODEL, E);
             Tensor x = random(rnd, 1.0, tokens, D_MODEL);
             Tensor want = Tensor.allocate(DType.BF16, tokens, D_MODEL);
             Tensor got = TensorFill.poison(Tensor.allocate(DType.BF16, tokens, D_MODEL))) {
            Tensor w1 = random(rnd, 0.15, E, D_MODEL, 2 * D_FF);
            Tensor w2 = random(rnd, 0.15, E, D_FF, D_MODEL);
            MoeLayer layer = MoeLayer.create(GpuAvailable.backend(), wr, Bf16ExpertWeights.of(w1, w2), MoeOptions.topK(2));
            Routing routing = layer.forward(x, want);
            try (MoeLayer prepared = layer.prepared()) {
                assertTrue(prepared.ownsExpertWeights(), "the CUDA backend copies host bf16 experts");
                w1.close();
                w2.close();
                prepared.forward(x, got);
                assertArrayEquals(want.toFloatArray(), got.toFloatArray(), "prepared forward, bit for bit");
                try (Tensor xp = Tensor.allocate(DType.FP32, routing.copies(), D_MODEL);
                     Tensor y = Tensor.allocate(DType.FP32, routing.copies(), D_MODEL)) {
                    prepared.permute(x, routing, xp);
                    prepared.expertMlp(xp, routing, y);
                    TensorFill.poison(got);
                    prepared.combine(y, routing, got);
                    float[] forward = want.toFloatArray();
                    double[] reference = new double[forward.length];
                    for (int i = 0; i < forward.length; i++) {
                        reference[i] = forward[i];
                    }
                    assertTrue(relL2(got.toFloatArray(), reference) < 1e-2, "prepared steps against the forward");
                }
            }
        }
    }

    /**
     * The CPU test's router extremes on the CUDA router (moe_softmax_term): a logit that overflows
     * fp32 for a finite x (the float64 reference's does not) takes the whole weight, a token whose x
     * is NaN gets uniform weights on the lowest experts, and the forward pass makes that token's
     * output NaN and leaves the others finite.
     */
    @GpuTest
    void overflowingAndNaNRouterLogitsRouteAsTheReference() {
        int tokens = 4, experts = 4, k = 2;
        Random rnd = new Random(77);
        float[] router = new float[D_MODEL * experts];
        for (int i = 0; i < router.length; i++) {
            router[i] = (float) (rnd.nextGaussian() / Math.sqrt(D_MODEL));
        }
        router[0] = 2f;                   // wr[0][0]
        for (int e = 1; e < experts; e++) {
            router[e] = 0.5f;             // wr[0][e]
        }
        try (Tensor wr = Tensor.of(DType.FP32, router, D_MODEL, experts);
             Tensor w1 = random(rnd, 0.15, experts, D_MODEL, 2 * D_FF);
             Tensor w2 = random(rnd, 0.15, experts, D_FF, D_MODEL);
             Tensor x = random(rnd, 1.0, tokens, D_MODEL);
             Tensor out = Tensor.allocate(DType.BF16, tokens, D_MODEL)) {
            x.setFloat(0, 0, 3e38f);      // logit 0 of token 0 ≈ 6e38: +∞ in fp32
            for (int c = 0; c < D_MODEL; c++) {
                x.setFloat(1, c, Float.NaN);
            }
            MoeLayer layer = MoeLayer.create(GpuAvailable.backend(), wr, Bf16ExpertWeights.of(w1, w2), new MoeOptions(k, false));
            Routing got = layer.route(x);
            Routing want = MoeReference.route(x, wr, k, false);
            assertArrayEquals(want.expertIds(), got.expertIds(), "ids");
            assertArrayEquals(new float[] {1f, 0f}, Arrays.copyOfRange(got.weights(), 0, 2), "token 0");
            assertArrayEquals(new int[] {0, 1}, Arrays.copyOfRange(got.expertIds(), 2, 4), "NaN token ids");
            assertArrayEquals(new float[] {0.25f, 0.25f}, Arrays.copyOfRange(got.weights(), 2, 4), "NaN token");
            for (int i = 4; i < 8; i++) {
                assertEquals(want.weights()[i], got.weights()[i], 1e-5, "weight " + i);
            }
            TensorFill.poison(out);
            layer.forward(x, got, out);
            for (int c = 0; c < D_MODEL; c++) {
                assertTrue(Float.isNaN(out.getFloat(1, c)), "NaN token output " + c);
                assertTrue(Float.isFinite(out.getFloat(2, c)) && Float.isFinite(out.getFloat(3, c)), "other tokens " + c);
            }
        }
    }
}
