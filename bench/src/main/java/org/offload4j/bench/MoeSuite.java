package org.offload4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
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
 * MoE layer cases ({@code MoeLayer.forward}: router, top-k, permutation, SwiGLU experts, combine)
 * with bf16 experts, or W4A16 experts (RTN-quantized from the same bf16 weights, g = 128,
 * fp16 scales) when the size ends in {@code :w4}; {@code :prep} runs the layer of
 * {@link MoeLayer#prepared()} (bf16 experts in the backend's own layout). Size syntax
 * {@code TxExKxDMODELxDFF[:w4|:prep]}, e.g. {@code 256x8x2x1024x2816:w4}.
 *
 * <p>On a backend with a device (CUDA) the router, bf16 expert weights, x and out are copied to
 * device memory once ({@link DeviceTensors}), so a call is timed without PCIe staging; the
 * {@code :prep} cases then time the same layer (prepare keeps device weights as they are). Int4
 * experts are host tensors by contract; on its tensor-core path (the default) the CUDA backend
 * uploads their packed copy at the first call, on the simple path it stages them on every call.
 *
 * <p>The check compares a sample of tokens (the first {@value #SAMPLE_TOKENS} and
 * {@value #SPREAD_TOKENS} spread over the rest) with the float64 reference under the backend's
 * routing (a token's routing and output do not depend on other tokens; sharing the routing keeps
 * a near tie between two experts' fp32 logits from failing the expert check), and that routing
 * with the float64 router ({@link #routingProblem}): the experts it chose have float64 logits
 * that are top-k within a near-tie margin, and their weights match.
 */
final class MoeSuite implements OpSuite {
    static final int SAMPLE_TOKENS = 16;
    /** Single-token (decode) cases rotate through this many inputs (see {@code Case.xRotation}). */
    static final int DECODE_INPUTS = 16;
    static final int SPREAD_TOKENS = 8;
    /** A chosen expert's float64 logit may trail an unchosen one by this much relative (near ties in fp32). */
    static final double TIE_MARGIN = 1e-4;
    /** Routing weights (fp32 softmax over bf16 inputs) against the float64 router's. */
    static final double WEIGHT_TOLERANCE = 1e-4;

    /** The end of a prepared layer's case label (plots give these cases a line of their own). */
    static final String PREPARED_LABEL = " prepared";

    @Override
    public String name() {
        return "moe";
    }

    @Override
    public String sizeSyntax() {
        return "TxExKxDMODELxDFF[:w4|:prep] (tokens, experts, top-k, d_model, d_ff; :w4 for W4A16 experts, :prep for bf16 "
                + "experts prepared in the backend's layout)";
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        if (!full) {
            // A decode step with int4 experts too: it ran 3-4x slower than with bf16 experts for
            // sessions before anyone looked (only the full sweep had it).
            return List.of("256x8x2x1024x2816", "256x64x6x1024x704", "256x64x6x1024x704:prep", "256x8x2x1024x2816:w4",
                    "1x8x2x1024x2816", "1x8x2x1024x2816:prep", "1x8x2x1024x2816:w4", "16x8x2x1024x2816");
        }
        return List.of("1x8x2x1024x2816", "16x8x2x1024x2816", "256x8x2x1024x2816", "1024x8x2x1024x2816",
                "256x64x6x1024x704", "1024x64x6x1024x704", "1x8x2x1024x2816:prep", "256x8x2x1024x2816:prep",
                "256x64x6x1024x704:prep", "1x8x2x1024x2816:w4", "256x8x2x1024x2816:w4");
    }

    @Override
    public List<DType> dtypes() {
        return List.of(DType.BF16);
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        int[] v = dims(size);
        return new Case(backend, v[0], v[1], v[2], v[3], v[4], int4(size), prepared(size), seed);
    }

    @Override
    public void validate(Backend backend, String size) {
        int[] v = dims(size);
        int experts = v[1];
        int k = v[2];
        int dModel = v[3];
        int dFf = v[4];
        String why = null;
        if (k > Math.min(org.offload4j.moe.MoeLayer.MAX_K, experts) || experts > org.offload4j.moe.MoeLayer.MAX_EXPERTS) {
            why = "k = " + k + " must be at most min(" + org.offload4j.moe.MoeLayer.MAX_K + ", E = " + experts + "), E at most "
                    + org.offload4j.moe.MoeLayer.MAX_EXPERTS;
        } else if (dModel > org.offload4j.moe.MoeLayer.MAX_DIM || dFf > org.offload4j.moe.MoeLayer.MAX_DIM) {
            why = "d_model and d_ff must be at most " + org.offload4j.moe.MoeLayer.MAX_DIM;
        } else if (int4(size)) {
            try {
                // The int4 experts are quantized with groups of 128 (see Case).
                org.offload4j.w4a16.QuantizedWeight.checkSizes(dModel, 2L * dFf, 128);
                org.offload4j.w4a16.QuantizedWeight.checkSizes(dFf, dModel, 128);
            } catch (IllegalArgumentException e) {
                why = "int4 experts: " + e.getMessage();
            }
        }
        if (why != null) {
            throw new IllegalArgumentException("moe size '" + size + "': " + why);
        }
    }

    private static boolean int4(String size) {
        return size.trim().toLowerCase(java.util.Locale.ROOT).endsWith(":w4");
    }

    private static boolean prepared(String size) {
        return size.trim().toLowerCase(java.util.Locale.ROOT).endsWith(":prep");
    }

    private int[] dims(String size) {
        String s = size.trim();
        int suffix = int4(s) ? 3 : prepared(s) ? 5 : 0;
        return OpSuite.dims(s.substring(0, s.length() - suffix), 5, this);
    }

    private static final class Case implements BenchCase {
        private final int tokens;
        private final int experts;
        private final int k;
        private final int dModel;
        private final int dFf;
        private final Tensor router;
        private final Tensor w1;
        private final Tensor w2;
        /** The weights on the host: the reference reads these. */
        private final ExpertWeights weights;
        private final boolean int4;
        private final boolean prepared;
        private final DeviceTensors device;
        private final MoeLayer layer;
        private final Tensor x;
        private final Tensor out;
        /** x and out where the backend computes (the host tensors themselves without a device). */
        private final Tensor xRun;
        private final Tensor outRun;
        private final int activeExperts;
        /**
         * The inputs timed runs take in turn: x alone, or for a single token (a decode step, which
         * reads only k experts) {@value #DECODE_INPUTS} different tokens, each routed to its own
         * experts, so that the runs read the layer's experts from memory rather than the two or six
         * that one token would keep in a cache (34.6 MB at E = 8, d = 1024, ff = 2816, in bf16:
         * less than an H100's L2). Each reads the same bytes: k experts. A layer small enough to fit
         * a cache whole (int4 experts at that size: about 36 MB) is still read from it.
         */
        private final List<Tensor> xRotation = new ArrayList<>();
        private final List<Tensor> extraInputs = new ArrayList<>();
        private int next;

        Case(Backend backend, int tokens, int experts, int k, int dModel, int dFf, boolean int4, boolean prepared, long seed) {
            this.int4 = int4;
            this.prepared = prepared;
            this.tokens = tokens;
            this.experts = experts;
            this.k = k;
            this.dModel = dModel;
            this.dFf = dFf;
            this.router = TensorFill.gaussian(Tensor.allocate(DType.BF16, dModel, experts), seed, 1 / Math.sqrt(dModel));
            this.w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dModel, 2L * dFf), seed + 1, 1 / Math.sqrt(dModel));
            this.w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, experts, dFf, dModel), seed + 2, 1 / Math.sqrt(dFf));
            this.weights = int4 ? W4A16ExpertWeights.quantize(w1, w2, 128, false, DType.FP16) : Bf16ExpertWeights.of(w1, w2);
            this.x = TensorFill.gaussian(Tensor.allocate(DType.BF16, tokens, dModel), seed + 3, 1.0);
            this.out = Tensor.allocate(DType.BF16, tokens, dModel);
            this.device = DeviceTensors.forBackend(backend);
            MoeLayer made = null;
            MoeLayer ready = null;
            try {
                ExpertWeights weightsRun = int4 ? weights : Bf16ExpertWeights.of(device.mirror(w1), device.mirror(w2));
                made = MoeLayer.create(backend, device.mirror(router), weightsRun, new MoeOptions(k, true));
                ready = prepared ? made.prepared() : made;
                this.layer = ready;
                this.xRun = device.mirror(x);
                this.outRun = device.mirror(out);
                this.activeExperts = layer.route(xRun).activeExperts();
                xRotation.add(xRun);
                for (int i = 1; tokens == 1 && i < DECODE_INPUTS; i++) {
                    Tensor xi = TensorFill.gaussian(Tensor.allocate(DType.BF16, tokens, dModel), seed + 100 + i, 1.0);
                    extraInputs.add(xi);
                    xRotation.add(device.mirror(xi));
                }
            } catch (RuntimeException | Error e) {
                if (ready != null && ready != made) {
                    ready.close(); // frees the copy it owns (the CPU backend's)
                }
                if (made != null) {
                    made.close();
                }
                close(weights, device, w1, w2, router, x, out);
                extraInputs.forEach(Tensor::close);
                throw e;
            }
        }

        private static void close(ExpertWeights weights, DeviceTensors device, Tensor... tensors) {
            if (weights instanceof W4A16ExpertWeights q) {
                q.close();
            }
            device.close();
            for (Tensor t : tensors) {
                t.close();
            }
        }

        @Override
        public String op() {
            return "moe";
        }

        @Override
        public String label() {
            return "T=" + tokens + " E=" + experts + " k=" + k + " d=" + dModel + " ff=" + dFf + (int4 ? " int4" : "")
                    + (prepared ? PREPARED_LABEL : "");
        }

        @Override
        public double sizeMetric() {
            return (double) tokens * k * dModel * dFf;
        }

        @Override
        public String dtype() {
            return int4 ? "bf16/int4" : "bf16";
        }

        @Override
        public Map<String, Object> torchCase() {
            return Map.of("op", "moe", "dtype", "bf16", "tokens", tokens, "experts", experts, "top_k", k,
                    "d_model", dModel, "d_ff", dFf, "int4", int4);
        }

        @Override
        public double bytesMoved() {
            double weightsPerExpert = dModel * 2.0 * dFf + (double) dFf * dModel;
            // int4: half a byte per weight plus an fp16 scale and a 4-bit zero per 128 weights.
            double perExpert = int4 ? weightsPerExpert * (0.5 + 2.5 / 128) : 2.0 * weightsPerExpert;
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
            layer.forward(xRotation.get(next), outRun);
            next = (next + 1) % xRotation.size();
        }

        @Override
        public double check() {
            TensorFill.poison(out);
            device.upload(out, outRun);
            layer.forward(xRun, outRun); // x itself, the first of the rotation
            device.download(outRun, out);
            if (TensorFill.hasPoison(out)) {
                return Double.NaN;
            }
            int[] sample = sampleTokens(tokens);
            try (Tensor xs = SampleRows.copy(x, sample); Tensor os = SampleRows.copy(out, sample)) {
                Routing routing = layer.route(xs);
                String problem = routingProblem(xs, routing);
                if (problem != null) {
                    System.err.println("moe " + label() + ": " + problem);
                    return Double.POSITIVE_INFINITY;
                }
                return Accuracy.relativeL2(MoeReference.forward(xs, routing, weights), os);
            }
        }

        /** The first {@value #SAMPLE_TOKENS} tokens and {@value #SPREAD_TOKENS} spread evenly over the rest. */
        static int[] sampleTokens(int tokens) {
            java.util.TreeSet<Integer> t = new java.util.TreeSet<>();
            for (int i = 0; i < Math.min(SAMPLE_TOKENS, tokens); i++) {
                t.add(i);
            }
            for (int i = 1; i <= SPREAD_TOKENS && tokens > SAMPLE_TOKENS; i++) {
                t.add(SAMPLE_TOKENS + (int) ((long) i * (tokens - SAMPLE_TOKENS - 1) / SPREAD_TOKENS));
            }
            return t.stream().mapToInt(Integer::intValue).toArray();
        }

        /**
         * Null when {@code got} is a float64-correct routing of {@code xs}: per token, no unchosen
         * expert's float64 logit above a chosen one's by more than {@link #TIE_MARGIN} relative,
         * and each chosen weight within {@link #WEIGHT_TOLERANCE} of the float64 router's weight
         * for that expert set; else what is wrong, in one line.
         */
        private String routingProblem(Tensor xs, Routing got) {
            double[] logits = MoeReference.logits(xs, router);
            boolean renormalize = layer.options().renormalize();
            for (int t = 0; t < got.tokens(); t++) {
                int base = t * experts;
                boolean[] chosen = new boolean[experts];
                double lowestChosen = Double.POSITIVE_INFINITY;
                for (int j = 0; j < k; j++) {
                    chosen[got.expert(t, j)] = true;
                    lowestChosen = Math.min(lowestChosen, logits[base + got.expert(t, j)]);
                }
                double margin = TIE_MARGIN * (Math.abs(lowestChosen) + 1);
                double max = Double.NEGATIVE_INFINITY;
                for (int e = 0; e < experts; e++) {
                    max = Math.max(max, logits[base + e]);
                    if (!chosen[e] && logits[base + e] > lowestChosen + margin) {
                        return "token " + t + " routed without expert " + e + " (float64 logit " + logits[base + e]
                                + " above the chosen " + lowestChosen + ")";
                    }
                }
                double all = 0;
                double sel = 0;
                for (int e = 0; e < experts; e++) {
                    double p = Math.exp(logits[base + e] - max);
                    all += p;
                    sel += chosen[e] ? p : 0;
                }
                for (int j = 0; j < k; j++) {
                    double want = Math.exp(logits[base + got.expert(t, j)] - max) / (renormalize ? sel : all);
                    if (Math.abs(got.weight(t, j) - want) > WEIGHT_TOLERANCE * Math.max(1, want)) {
                        return "token " + t + " expert " + got.expert(t, j) + " has weight " + got.weight(t, j) + "; float64 router: "
                                + want;
                    }
                }
            }
            return null;
        }

        @Override
        public double tolerance() {
            return 1e-2;
        }

        @Override
        public void close() {
            layer.close();
            close(weights, device, w1, w2, router, x, out);
            extraInputs.forEach(Tensor::close);
        }
    }
}
