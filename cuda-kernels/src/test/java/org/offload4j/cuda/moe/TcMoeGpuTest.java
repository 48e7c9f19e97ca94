package org.offload4j.cuda.moe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.cuda.OneKernelBackend;
import org.offload4j.moe.MoeKernel;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;
import org.offload4j.moe.W4A16ExpertWeights;

/**
 * W4A16 experts through the tensor-core grouped launches of {@link CudaMoeKernel} (constructed
 * with the tensor-core path on, whatever {@code -Doffload.cuda.w4a16} says) against
 * {@link MoeReference} with the same routing: T = 1, 7, 33; k = 1, 2; group sizes 32 and one per
 * column; forward, the bf16 step chain (gate|up, SwiGLU, down) and expertMlp; the expert weights
 * packed once per instance and freed after close; and the tensor-core forward against the simple
 * path's. Skipped, with the reason, where no CUDA backend comes up.
 */
class TcMoeGpuTest {
    private static final int E = 6;
    private static final int D_MODEL = 128;
    private static final int D_FF = 96;    // 2·d_ff = 192: not a multiple of the 128/256 column tiles

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

    private static MoeLayer layer(CudaMoeKernel kernel, Tensor wr, W4A16ExpertWeights experts, int k) {
        CudaDevice d = GpuAvailable.backend().device();
        return MoeLayer.create(new OneKernelBackend("cuda", d.asDevice(), MoeKernel.class, kernel), wr, experts, MoeOptions.topK(k));
    }

    @GpuTest
    void tensorCoreExpertsMatchTheReference() {
        CudaDevice d = GpuAvailable.backend().device();
        CudaMoeKernel tc = new CudaMoeKernel(d, true);
        CudaMoeKernel simple = new CudaMoeKernel(d, false);
        long seed = 777;
        for (int g : new int[] {32, -1}) {
            for (int k : new int[] {1, 2}) {
                for (int tokens : new int[] {1, 7, 33}) {
                    Random rnd = new Random(++seed);
                    String what = "seed " + seed + " g=" + g + " k=" + k + " T=" + tokens;
                    try (Tensor wr = random(rnd, 0.3, D_MODEL, E);
                         Tensor w1 = random(rnd, 0.15, E, D_MODEL, 2 * D_FF);
                         Tensor w2 = random(rnd, 0.15, E, D_FF, D_MODEL);
                         Tensor x = random(rnd, 1.0, tokens, D_MODEL);
                         W4A16ExpertWeights experts = W4A16ExpertWeights.quantize(w1, w2, g, g == 32, DType.FP16);
                         Tensor out = Tensor.allocate(DType.BF16, tokens, D_MODEL);
                         Tensor outSimple = Tensor.allocate(DType.BF16, tokens, D_MODEL)) {
                        MoeLayer layer = layer(tc, wr, experts, k);
                        Routing ref = MoeReference.route(x, wr, k, true);
                        double[] expected = MoeReference.forward(x, ref, experts);
                        layer.forward(x, ref, out);
                        double rel = relL2(out.toFloatArray(), expected);
                        assertTrue(rel <= 1e-2, what + ": TC forward relative L2 " + rel);
                        layer(simple, wr, experts, k).forward(x, ref, outSimple);
                        double diff = relL2(out.toFloatArray(), outSimple.toDoubleArray());
                        assertTrue(diff <= 1e-2, what + ": TC vs simple forward relative L2 " + diff);

                        // the bf16 steps: each GEMM on the tensor-core path rounds its output once
                        int p = ref.copies();
                        try (Tensor xp = Tensor.allocate(DType.BF16, p, D_MODEL);
                             Tensor h = Tensor.allocate(DType.BF16, p, 2 * D_FF);
                             Tensor a = Tensor.allocate(DType.BF16, p, D_FF);
                             Tensor y = Tensor.allocate(DType.BF16, p, D_MODEL);
                             Tensor y2 = Tensor.allocate(DType.BF16, p, D_MODEL)) {
                            layer.permute(x, ref, xp);
                            layer.gateUp(xp, ref, h);
                            double[] xpRef = MoeReference.permute(x, ref);
                            double[] hRef = MoeReference.groupedGemm(xpRef, ref, experts, org.offload4j.moe.ExpertWeights.Matrix.GATE_UP);
                            double relH = relL2(h.toFloatArray(), hRef);
                            assertTrue(relH <= 5e-3, what + ": gate|up relative L2 " + relH);
                            layer.swiglu(h, a);
                            layer.down(a, ref, y);
                            double[] yRef = MoeReference.groupedGemm(a.toDoubleArray(), ref, experts,
                                    org.offload4j.moe.ExpertWeights.Matrix.DOWN);
                            double relY = relL2(y.toFloatArray(), yRef);
                            assertTrue(relY <= 5e-3, what + ": down relative L2 " + relY);
                            layer.expertMlp(xp, ref, y2);
                            double relM = relL2(y2.toFloatArray(), MoeReference.expertMlp(xpRef, ref, experts));
                            assertTrue(relM <= 1e-2, what + ": expertMlp relative L2 " + relM);
                        }
                        assertEquals(1, tc.tcCacheSize(), what + ": one packed copy per ExpertWeights");
                    }
                }
            }
        }
        // every ExpertWeights above is closed: the next call of any method frees their packed copies
        try (Tensor h = random(new Random(5), 1.0, 2, 2 * D_FF); Tensor a = Tensor.allocate(DType.BF16, 2, D_FF)) {
            tc.swiglu(h, a);
            assertEquals(0, tc.tcCacheSize(), "freed by a call that has no expert weights");
        }
        try (Tensor w1 = random(new Random(1), 0.15, E, D_MODEL, 2 * D_FF);
             Tensor w2 = random(new Random(2), 0.15, E, D_FF, D_MODEL);
             Tensor wr = random(new Random(3), 0.3, D_MODEL, E);
             Tensor x = random(new Random(4), 1.0, 3, D_MODEL);
             W4A16ExpertWeights experts = W4A16ExpertWeights.quantize(w1, w2, 64, false, DType.BF16);
             Tensor out = Tensor.allocate(DType.FP32, 3, D_MODEL)) {
            MoeLayer layer = layer(tc, wr, experts, 2);
            Routing ref = MoeReference.route(x, wr, 2, false);
            layer.forward(x, ref, out);
            assertEquals(1, tc.tcCacheSize(), "only the live weights' copy");
            assertTrue(relL2(out.toFloatArray(), MoeReference.forward(x, ref, experts)) <= 1e-2, "fp32 out");
        }
    }

    /**
     * A skewed routing: 256 experts, one of them with 16 448 rows. Launched as every expert times
     * the largest one's 64-row blocks this needed 65 792 grid-z blocks, more than grid z allows
     * (it threw IllegalArgumentException); with one problem per row block it is 512 blocks in one
     * launch. Gate|up on the tensor-core path against the float64 reference, the one-row experts'
     * rows checked on their own.
     */
    @GpuTest
    void aHotExpertAmongManyExperts() {
        CudaDevice d = GpuAvailable.backend().device();
        CudaMoeKernel tc = new CudaMoeKernel(d, true);
        int experts = 256;
        int hot = 16_448;
        int tokens = hot + experts - 1;
        int dModel = 64;
        int dFf = 32;
        int[] ids = new int[tokens];
        float[] weights = new float[tokens];
        for (int t = 0; t < tokens; t++) {
            ids[t] = t < hot ? 0 : 1 + (t - hot);
            weights[t] = 1f;
        }
        Routing routing = Routing.of(experts, 1, ids, weights);
        int[] perExpert = org.offload4j.cuda.w4a16.TcLaunch.problems(routing.offsets());
        var plan = org.offload4j.cuda.w4a16.TcLaunch.groupedPlan(perExpert.length / 3,
                org.offload4j.cuda.w4a16.TcLaunch.maxRows(perExpert), 2 * dFf, dModel, 32, d.smCount());
        assertEquals(64, plan.rowsPerBlock());
        assertEquals(257 + 255, org.offload4j.cuda.w4a16.TcLaunch.problems(routing.offsets(), plan.rowsPerBlock()).length / 3);
        Random rnd = new Random(99);
        try (Tensor w1 = random(rnd, 0.15, experts, dModel, 2 * dFf);
             Tensor w2 = random(rnd, 0.15, experts, dFf, dModel);
             Tensor xp = random(rnd, 1.0, tokens, dModel);
             W4A16ExpertWeights w = W4A16ExpertWeights.quantize(w1, w2, 32, false, DType.FP16);
             Tensor h = org.offload4j.core.TensorFill.poison(Tensor.allocate(DType.BF16, tokens, 2 * dFf))) {
            tc.groupedGemm(xp, routing, w, org.offload4j.moe.ExpertWeights.Matrix.GATE_UP, h);
            double[] ref = MoeReference.groupedGemm(xp.toDoubleArray(), routing, w, org.offload4j.moe.ExpertWeights.Matrix.GATE_UP);
            float[] got = h.toFloatArray(); // relL2 also fails on an unwritten (poisoned, non-finite) row
            double rel = relL2(got, ref);
            assertTrue(rel <= 5e-3, "gate|up relative L2 " + rel);
            // the one-row experts at the end: the last launch's problems, checked on their own
            int tail = (experts - 1) * 2 * dFf;
            double relTail = relL2(java.util.Arrays.copyOfRange(got, got.length - tail, got.length),
                    java.util.Arrays.copyOfRange(ref, ref.length - tail, ref.length));
            assertTrue(relTail <= 5e-3, "the one-row experts' relative L2 " + relTail);
        }
    }
}
