package org.offload4j.moe;

import org.offload4j.core.Tensor;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * The MoE layer in float64: slow, plain loops, obviously right. Every backend is tested against
 * it. Tensor inputs are widened exactly; nothing is rounded on the way (the CPU kernel keeps its
 * intermediates in fp32, so the only rounding point they share is the final store, which the
 * caller's comparison measures). Matrices are flat, row-major {@code double[]}. Expert weights
 * are read through {@link ExpertWeights#decode}, except int4 ones ({@link W4A16ExpertWeights}),
 * whose {@code (q − z)·s} is taken in double from {@link QuantizedWeight#weight}: exact also for
 * fp32 scales, where the fp32 {@code decode} rounds.
 *
 * <p>The expert steps take the {@link Routing} as input, so that a near-tie in the router cannot
 * make a kernel and the reference pick different experts; {@link #route} is the float64 router on
 * its own, for testing a backend's router.
 */
public final class MoeReference {
    private MoeReference() {}

    /** {@code logits[t·E + e] = Σ_i x[t, i] · routerWeights[i, e]}. */
    public static double[] logits(Tensor x, Tensor routerWeights) {
        int tokens = (int) x.rows();
        int dModel = (int) x.cols();
        int experts = (int) routerWeights.cols();
        double[] xs = x.toDoubleArray();
        double[] wr = routerWeights.toDoubleArray();
        double[] out = new double[tokens * experts];
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < dModel; i++) {
                double xv = xs[t * dModel + i];
                for (int e = 0; e < experts; e++) {
                    out[t * experts + e] += xv * wr[i * experts + e];
                }
            }
        }
        return out;
    }

    /** The float64 router: top-k of {@link #logits}, softmax weights (rounded to float at the end). */
    public static Routing route(Tensor x, Tensor routerWeights, int k, boolean renormalize) {
        return routeFromLogits(logits(x, routerWeights), (int) routerWeights.cols(), k, renormalize);
    }

    /**
     * Softmax and top-k over given logits ({@code [T·E]}, token-major): the {@code k} largest in
     * descending order, ties to the lower expert index, NaN below every number; weights the softmax
     * probabilities (renormalized over the {@code k} when asked), with infinite and NaN logits as
     * {@link #softmaxTerm} says.
     */
    public static Routing routeFromLogits(double[] logits, int experts, int k, boolean renormalize) {
        int tokens = logits.length / experts;
        int[] ids = new int[tokens * k];
        float[] weights = new float[tokens * k];
        for (int t = 0; t < tokens; t++) {
            int base = t * experts;
            double max = Double.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) {
                if (!Double.isNaN(logits[base + e])) {
                    max = Math.max(max, logits[base + e]);
                }
            }
            double sum = 0;
            for (int e = 0; e < experts; e++) {
                sum += softmaxTerm(logits[base + e], max);
            }
            boolean[] taken = new boolean[experts];
            double chosen = 0;
            double[] p = new double[k];
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int e = 0; e < experts; e++) {
                    if (!taken[e] && (best < 0 || ranksAbove(logits[base + e], logits[base + best]))) {
                        best = e;  // strict: among equal logits the lowest index stays
                    }
                }
                taken[best] = true;
                ids[t * k + j] = best;
                p[j] = softmaxTerm(logits[base + best], max) / sum;
                chosen += p[j];
            }
            for (int j = 0; j < k; j++) {
                weights[t * k + j] = (float) (renormalize ? p[j] / chosen : p[j]);
            }
        }
        return Routing.of(experts, k, ids, weights);
    }

    /** Larger, or a number against NaN: NaN logits rank below every number. */
    private static boolean ranksAbove(double a, double b) {
        return a > b || (Double.isNaN(b) && !Double.isNaN(a));
    }

    /**
     * The softmax numerator of logit {@code v} given {@code max}, the largest non-NaN logit (−∞ if
     * none): {@code exp(v − max)}, NaN → 0; with {@code max = +∞} the +∞ logits share the weight
     * (1 each, 0 for the rest), with {@code max = −∞} (every logit −∞ or NaN, as a NaN x row gives)
     * every expert weighs 1. The kernels (fp32 logits, which can overflow) follow the same rule.
     */
    static double softmaxTerm(double v, double max) {
        if (max == Double.POSITIVE_INFINITY) {
            return v == Double.POSITIVE_INFINITY ? 1 : 0;
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return 1;
        }
        return Double.isNaN(v) ? 0 : Math.exp(v - max);
    }

    /** {@code xp[p] = x[tokenOfCopy(p)]}: {@code [P, d_model]}. */
    public static double[] permute(Tensor x, Routing routing) {
        int dModel = (int) x.cols();
        double[] xs = x.toDoubleArray();
        double[] out = new double[routing.copies() * dModel];
        for (int p = 0; p < routing.copies(); p++) {
            System.arraycopy(xs, routing.tokenOfCopy(p) * dModel, out, p * dModel, dModel);
        }
        return out;
    }

    /** {@code out[p] = in[p] · M[e(p)]}: {@code in [P, rows of M]} → {@code [P, cols of M]}. */
    public static double[] groupedGemm(double[] in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix) {
        int rows = matrix.rows(weights);
        int cols = matrix.cols(weights);
        double[] out = new double[routing.copies() * cols];
        for (int e = 0; e < routing.experts(); e++) {
            if (routing.rowsOf(e) == 0) {
                continue;
            }
            double[] m = matrix(weights, matrix, e);
            for (int p = routing.offset(e); p < routing.offset(e + 1); p++) {
                for (int i = 0; i < rows; i++) {
                    double v = in[p * rows + i];
                    for (int c = 0; c < cols; c++) {
                        out[p * cols + c] += v * m[i * cols + c];
                    }
                }
            }
        }
        return out;
    }

    /**
     * The values of {@code matrix} of expert {@code e}, {@code [rows, cols]} row-major, exactly:
     * int4 weights as {@code (q − z)·s} in double ({@link QuantizedWeight#weight}, not rounded to
     * float as {@link ExpertWeights#decode} rounds them), any other format through {@code decode}.
     */
    static double[] matrix(ExpertWeights weights, ExpertWeights.Matrix matrix, int e) {
        int rows = matrix.rows(weights);
        int cols = matrix.cols(weights);
        double[] m = new double[rows * cols];
        if (weights instanceof W4A16ExpertWeights w4) {
            QuantizedWeight q = w4.weight(matrix, e);
            for (int i = 0; i < rows; i++) {
                for (int c = 0; c < cols; c++) {
                    m[i * cols + c] = q.weight(i, c);
                }
            }
            return m;
        }
        float[] f = new float[rows * cols];
        weights.decode(matrix, e, 0, rows, 0, cols, f, 0, cols);
        for (int i = 0; i < f.length; i++) {
            m[i] = f[i];
        }
        return m;
    }

    /** {@code a = silu(gate) ⊙ up} row by row: {@code h [rows, 2·d_ff]} → {@code [rows, d_ff]}. */
    public static double[] swiglu(double[] h, int dFf) {
        int rows = h.length / (2 * dFf);
        double[] a = new double[rows * dFf];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < dFf; c++) {
                double g = h[r * 2 * dFf + c];
                double u = h[r * 2 * dFf + dFf + c];
                a[r * dFf + c] = g / (1 + Math.exp(-g)) * u;
            }
        }
        return a;
    }

    /** The expert MLP over permuted rows: {@code xp [P, d_model]} → {@code y [P, d_model]}. */
    public static double[] expertMlp(double[] xPermuted, Routing routing, ExpertWeights weights) {
        double[] h = groupedGemm(xPermuted, routing, weights, ExpertWeights.Matrix.GATE_UP);
        double[] a = swiglu(h, weights.dFf());
        return groupedGemm(a, routing, weights, ExpertWeights.Matrix.DOWN);
    }

    /** {@code out[t] = Σ_j weight(t, j) · y[copyOf(t, j)]}: {@code y [P, d_model]} → {@code [T, d_model]}. */
    public static double[] combine(double[] y, Routing routing, int dModel) {
        double[] out = new double[routing.tokens() * dModel];
        for (int t = 0; t < routing.tokens(); t++) {
            for (int j = 0; j < routing.k(); j++) {
                double w = routing.weight(t, j);
                int p = routing.copyOf(t, j);
                for (int c = 0; c < dModel; c++) {
                    out[t * dModel + c] += w * y[p * dModel + c];
                }
            }
        }
        return out;
    }

    /** The layer after the router, for the given routing: {@code x [T, d_model]} → {@code [T, d_model]}. */
    public static double[] forward(Tensor x, Routing routing, ExpertWeights weights) {
        double[] y = expertMlp(permute(x, routing), routing, weights);
        return combine(y, routing, weights.dModel());
    }
}
