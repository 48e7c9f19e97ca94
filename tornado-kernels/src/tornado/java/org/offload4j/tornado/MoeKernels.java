package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The MoE steps on the device, in the loop-parallel form (one work-item per output element;
 * TornadoVM picks the work-group size). Everything between the steps of one call stays in fp32
 * device buffers; only the call's own outputs are rounded and copied back.
 * <pre>
 *   route:     x, Wr --logits--> [T, E] --topk--> ids [T·k], weights [T·k]
 *   forward:   x --gather(copyToToken)--> xp --gemm(W1, expertOfCopy)--> h --swiglu--> a
 *                --gemm(W2, expertOfCopy)--> y --combine(tokenSlotToCopy, weights)--> out
 * </pre>
 * The grouped GEMM reads, for permuted row p, the weights of expert {@code expertOfCopy[p]}; rows
 * are sorted by expert ({@link org.offload4j.moe.Routing}), so neighbouring work-items read the
 * same expert's matrix. Rejected for now: a tiled (KernelContext, local memory) grouped GEMM — the
 * one-output-per-work-item form is what TornadoVM compiles everywhere, and MoE here is a
 * correctness-first port; docs/tornado.md lists it as missing.
 */
final class MoeKernels {
    private MoeKernels() {}

    static void toF32(KernelContext ctx, ShortArray in, FloatArray out, FloatArray pow2, int total, int fmt) {
        int i = ctx.globalIdx;
        if (i < total) {
            out.set(i, Codec.decode16(in.get(i), fmt, pow2));
        }
    }

    static void fromF32(KernelContext ctx, FloatArray in, ShortArray out, int total, int fmt) {
        int i = ctx.globalIdx;
        if (i < total) {
            out.set(i, (short) Codec.encode16(in.get(i), fmt));
        }
    }

    /** {@code logits[t, e] = Σ_c x[t, c] · wr[c, e]}. */
    static void logits(KernelContext ctx, FloatArray x, FloatArray wr, FloatArray logits, int tokens, int dModel, int experts) {
        int idx = ctx.globalIdx;
        if (idx < tokens * experts) {
            int t = idx / experts;
            int e = idx - t * experts;
            float s = 0.0f;
            for (int c = 0; c < dModel; c++) {
                s += x.get(t * dModel + c) * wr.get(c * experts + e);
            }
            logits.set(idx, s);
        }
    }

    /**
     * Per token: softmax over E, then the k largest in descending order, ties to the lower index.
     * Each expert's rank is counted directly ({@code #e' with l_e' > l_e, or l_e' = l_e and
     * e' < e}), and an expert of rank r &lt; k is written to slot r: O(E²) per token, but no
     * per-token scratch array and no state carried between selection passes. (A k-pass selection
     * that carried the previous (value, index) from pass to pass was miscompiled by TornadoVM 5.2
     * on OpenCL: it picked the same expert twice.)
     */
    static void topk(KernelContext ctx, FloatArray logits, IntArray ids, FloatArray weights, int tokens, int experts, int k, int renormalize) {
        int t = ctx.globalIdx;
        if (t < tokens) {
            int base = t * experts;
            float max = logits.get(base);
            for (int e = 1; e < experts; e++) {
                max = TornadoMath.max(max, logits.get(base + e));
            }
            float sum = 0.0f;
            for (int e = 0; e < experts; e++) {
                sum += TornadoMath.exp(logits.get(base + e) - max);
            }
            for (int e = 0; e < experts; e++) {
                float l = logits.get(base + e);
                int rank = 0;
                for (int o = 0; o < experts; o++) {
                    float lo = logits.get(base + o);
                    if (lo > l || (lo == l && o < e)) {
                        rank++;
                    }
                }
                if (rank < k) {
                    ids.set(t * k + rank, e);
                    weights.set(t * k + rank, TornadoMath.exp(l - max) / sum);
                }
            }
            if (renormalize == 1) {
                float chosen = 0.0f;
                for (int j = 0; j < k; j++) {
                    chosen += weights.get(t * k + j);
                }
                for (int j = 0; j < k; j++) {
                    weights.set(t * k + j, weights.get(t * k + j) / chosen);
                }
            }
        }
    }

    /** {@code xp[p, :] = x[copyToToken[p], :]}. */
    static void gather(KernelContext ctx, FloatArray x, FloatArray xp, IntArray copyToToken, int copies, int dModel) {
        int idx = ctx.globalIdx;
        if (idx < copies * dModel) {
            int p = idx / dModel;
            int c = idx - p * dModel;
            xp.set(idx, x.get(copyToToken.get(p) * dModel + c));
        }
    }

    /** {@code out[p, :] = in[p, :] · W[expertOfCopy[p]]}, W {@code [E, rows, cols]} fp32. */
    static void gemm(KernelContext ctx, FloatArray in, FloatArray w, IntArray expertOfCopy, FloatArray out, int copies, int rows, int cols) {
        int idx = ctx.globalIdx;
        if (idx < copies * cols) {
            int p = idx / cols;
            int c = idx - p * cols;
            int wBase = expertOfCopy.get(p) * rows * cols + c;
            int inBase = p * rows;
            float s = 0.0f;
            for (int r = 0; r < rows; r++) {
                s += in.get(inBase + r) * w.get(wBase + r * cols);
            }
            out.set(idx, s);
        }
    }

    /** {@code a[p, c] = silu(h[p, c]) · h[p, dFf + c]}. */
    static void swiglu(KernelContext ctx, FloatArray h, FloatArray a, int rows, int dFf) {
        int idx = ctx.globalIdx;
        if (idx < rows * dFf) {
            int p = idx / dFf;
            int c = idx - p * dFf;
            float g = h.get(p * 2 * dFf + c);
            float u = h.get(p * 2 * dFf + dFf + c);
            a.set(idx, g / (1.0f + TornadoMath.exp(-g)) * u);
        }
    }

    /** {@code out[t, c] = Σ_j weights[t·k + j] · y[tokenSlotToCopy[t·k + j], c]}, in slot order. */
    static void combine(KernelContext ctx, FloatArray y, FloatArray out, IntArray tokenSlotToCopy, FloatArray weights, int tokens, int k, int dModel) {
        int idx = ctx.globalIdx;
        if (idx < tokens * dModel) {
            int t = idx / dModel;
            int c = idx - t * dModel;
            float s = 0.0f;
            for (int j = 0; j < k; j++) {
                s += weights.get(t * k + j) * y.get(tokenSlotToCopy.get(t * k + j) * dModel + c);
            }
            out.set(idx, s);
        }
    }
}
