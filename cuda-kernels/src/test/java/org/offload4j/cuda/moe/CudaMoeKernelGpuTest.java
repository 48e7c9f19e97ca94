package org.offload4j.cuda.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
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
}
