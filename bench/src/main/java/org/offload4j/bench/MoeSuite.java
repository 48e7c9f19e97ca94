package org.offload4j.bench;

import java.util.List;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;

/**
 * MoE layer cases ({@code MoeLayer.forward}: router, top-k, permutation, SwiGLU experts, combine)
 * with bf16 weights. Size syntax {@code TxExKxDMODELxDFF}, e.g. {@code 256x8x2x1024x2816}.
 *
 * <p>The check compares the first {@value #SAMPLE_TOKENS} tokens with the float64 reference
 * under the same routing (a token's routing and output do not depend on other tokens).
 */
final class MoeSuite implements OpSuite {
    static final int SAMPLE_TOKENS = 16;

    @Override
    public String name() {
        return "moe";
    }

    @Override
    public String sizeSyntax() {
        return "TxExKxDMODELxDFF (tokens, experts, top-k, d_model, d_ff)";
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        if (!full) {
            return List.of("256x8x2x1024x2816", "256x64x6x1024x704");
        }
        return List.of("1x8x2x1024x2816", "16x8x2x1024x2816", "256x8x2x1024x2816", "1024x8x2x1024x2816",
                "256x64x6x1024x704", "1024x64x6x1024x704");
    }

    @Override
    public List<DType> dtypes() {
        return List.of(DType.BF16);
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        int[] v = OpSuite.dims(size, 5, this);
        return new Case(backend, v[0], v[1], v[2], v[3], v[4], seed);
    }

    private static final class Case implements BenchCase {
        private final int tokens;
        private final int experts;
        private final int k;
        private final int dModel;
        private final int dFf;
        private final Tensor router;
        private final Bf16ExpertWeights weights;
        private final MoeLayer layer;
        private final Tensor x;
        private final Tensor out;
        private final int activeExperts;

        Case(Backend backend, int tokens, int experts, int k, int dModel, int dFf, long seed) {
            this.tokens = tokens;
            this.experts = experts;
            this.k = k;
            this.dModel = dModel;
            this.dFf = dFf;
            this.router = TensorFill.gaussian(Tensor.allocate(DType.BF16, dModel, experts), seed, 1 / Math.sqrt(dModel));
            Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dModel, 2L * dFf), seed + 1, 1 / Math.sqrt(dModel));
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dFf, dModel), seed + 2, 1 / Math.sqrt(dFf));
            this.weights = Bf16ExpertWeights.of(w1, w2);
            this.layer = MoeLayer.create(backend, router, weights, new MoeOptions(k, true));
            this.x = TensorFill.gaussian(Tensor.allocate(DType.BF16, tokens, dModel), seed + 3, 1.0);
            this.out = Tensor.allocate(DType.BF16, tokens, dModel);
            this.activeExperts = layer.route(x).activeExperts();
        }

        @Override
        public String op() {
            return "moe";
        }

        @Override
        public String label() {
            return "T=" + tokens + " E=" + experts + " k=" + k + " d=" + dModel + " ff=" + dFf;
        }

        @Override
        public double sizeMetric() {
            return (double) tokens * k * dModel * dFf;
        }

        @Override
        public String dtype() {
            return "bf16";
        }

        @Override
        public double bytesMoved() {
            double perExpert = 2.0 * (dModel * 2.0 * dFf + (double) dFf * dModel);
            return 2.0 * tokens * dModel * 2 + 2.0 * dModel * experts + activeExperts * perExpert;
        }

        @Override
        public double flops() {
            double router = 2.0 * tokens * dModel * experts;
            double experts = (double) tokens * k * (2.0 * dModel * 2 * dFf + 2.0 * dFf * dModel);
            return router + experts;
        }

        @Override
        public void run() {
            layer.forward(x, out);
        }

        @Override
        public double check() {
            TensorFill.poison(out);
            run();
            if (TensorFill.hasPoison(out)) {
                return Double.NaN;
            }
            int t = Math.min(SAMPLE_TOKENS, tokens);
            try (Tensor xs = Tensor.wrap(x.segment().asSlice(0, DType.BF16.byteSize((long) t * dModel)), DType.BF16, t, dModel);
                 Tensor os = Tensor.wrap(out.segment().asSlice(0, DType.BF16.byteSize((long) t * dModel)), DType.BF16, t, dModel)) {
                Routing routing = layer.route(xs);
                return Accuracy.relativeL2(MoeReference.forward(xs, routing, weights), os);
            }
        }

        @Override
        public double tolerance() {
            return 1e-2;
        }

        @Override
        public void close() {
            weights.w1().close();
            weights.w2().close();
            router.close();
            x.close();
            out.close();
        }
    }
}
