package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The MoE steps on the device. Element-wise steps have one work-item per output element (grids
 * from {@link Plans.Grids#items}); the grouped GEMM is tiled. Everything between the steps of one
 * call stays in fp32 device buffers; only the call's own outputs are rounded and copied back.
 * <pre>
 *   route:     x, Wr --logits--> [T, E] --topk--> ids [T·k], weights [T·k]
 *   forward:   x --gather(copyToToken)--> xp --gemm(W1, tiles)--> h --swiglu--> a
 *                --gemm(W2, tiles)--> y --combine(tokenSlotToCopy, weights)--> out
 * </pre>
 * The grouped GEMM works on row tiles: the permuted rows are sorted by expert
 * ({@link org.offload4j.moe.Routing}), and the host cuts each expert's run into tiles of
 * {@value #TILE} rows (the last one partial), so a work-group reads one expert's matrix.
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
     * Each expert's rank is counted directly ({@code #e' ranked above e, or tied with e and
     * e' < e}), and an expert of rank r &lt; k is written to slot r: O(E²) per token, but no
     * per-token scratch array and no state carried between selection passes. (A k-pass selection
     * that carried the previous (value, index) from pass to pass was miscompiled by TornadoVM 5.2
     * on OpenCL: it picked the same expert twice.)
     *
     * <p>Non-finite logits as {@code MoeReference.routeFromLogits} and the other backends treat
     * them: NaN ranks below every number (−∞ included) and NaNs tie with each other, so the ranks
     * are a permutation and every slot is written; the softmax's max is over the non-NaN logits;
     * a NaN logit weighs 0; with max = +∞ the +∞ logits weigh 1 each and the rest 0; with no
     * logit above −∞ every expert weighs 1. ({@code x != x} is NaN: the plans build without
     * fast-relaxed math, which would fold it.)
     */
    static void topk(KernelContext ctx, FloatArray logits, IntArray ids, FloatArray weights, int tokens, int experts, int k, int renormalize) {
        int t = ctx.globalIdx;
        if (t < tokens) {
            int base = t * experts;
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) {
                float l = logits.get(base + e);
                if (l == l && l > max) {
                    max = l;
                }
            }
            float sum = 0.0f;
            for (int e = 0; e < experts; e++) {
                float l = logits.get(base + e);
                float term = 1.0f;
                if (max == Float.POSITIVE_INFINITY) {
                    term = l == Float.POSITIVE_INFINITY ? 1.0f : 0.0f;
                } else if (max != Float.NEGATIVE_INFINITY) {
                    term = l != l ? 0.0f : TornadoMath.exp(l - max);
                }
                sum += term;
            }
            for (int e = 0; e < experts; e++) {
                float l = logits.get(base + e);
                boolean lNaN = l != l;
                int rank = 0;
                for (int o = 0; o < experts; o++) {
                    float lo = logits.get(base + o);
                    boolean loNaN = lo != lo;
                    boolean above = lNaN ? !loNaN : lo > l;
                    boolean tied = lNaN ? loNaN : lo == l;
                    if (above || (tied && o < e)) {
                        rank++;
                    }
                }
                if (rank < k) {
                    float term = 1.0f;
                    if (max == Float.POSITIVE_INFINITY) {
                        term = l == Float.POSITIVE_INFINITY ? 1.0f : 0.0f;
                    } else if (max != Float.NEGATIVE_INFINITY) {
                        term = lNaN ? 0.0f : TornadoMath.exp(l - max);
                    }
                    ids.set(t * k + rank, e);
                    weights.set(t * k + rank, term / sum);
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

    /** Rows and columns of one output tile of the grouped GEMM. */
    static final int TILE = 16;
    /** Output rows per work-item: a work-group is TILE × (TILE / ROWS_PER_ITEM) work-items. */
    static final int ROWS_PER_ITEM = 4;
    static final int GROUP_Y = TILE / ROWS_PER_ITEM;

    /** {@link #gemm}'s weight formats ({@code wFmt}). */
    static final int W_FP32 = 0;
    static final int W_BF16 = 1;
    static final int W_INT4 = 2;

    /**
     * {@code out[p, :] = in[p, :] · W[e]} for the rows p of each row tile, W {@code [E, rows, cols]}
     * in one of three forms ({@code wFmt}; the arrays of the other forms are one-element
     * placeholders), each element turned into its fp32 value as it is staged into local memory:
     * <ul>
     *   <li>{@link #W_FP32}: {@code w}, the values;</li>
     *   <li>{@link #W_BF16}: {@code w16}, the raw bits, widened exactly;</li>
     *   <li>{@link #W_INT4}: GPTQ words per expert, {@code q [E, rows/8, cols]} (row r in bits
     *       4·(r mod 8) of word r/8), zero points {@code qz [E, rows/group, cols/8]} (column c in
     *       bits 4·(c mod 8); ignored, zero 8, when {@code symmetric = 1}) and fp32 scales
     *       {@code qs [E, rows/group, cols]}: {@code (q − z)·s}, one rounding, as
     *       {@code W4A16ExpertWeights.decode} gives it.</li>
     * </ul>
     * So the sums are the same whatever the form. Work-group (x, y, z) computes the TILE × TILE block
     * of columns {@code x·TILE …} and of row tile z·(groups in y) + y (the tiles fold into y and z,
     * see {@link Plans.Grids#groupsFolded}), staging TILE × TILE blocks of {@code in} and W in local memory (each element read
     * from global memory once per work-group instead of TILE times). Work-item (lx, ly) computes
     * column lx of rows ly, ly + 4, ly + 8, ly + 12: each W element it reads from local memory
     * feeds four sums. Row tiles never straddle two experts, so a work-group reads one expert's
     * matrix. On PoCL (the bench's E = 8 case, gate/up GEMM 512 × 1024 × 5632): one output per
     * work-item, untiled, 8.3 s for the whole layer; tiled with one output per work-item, gate/up
     * 2.6 s; four per work-item, 1.65 s (whole layer 2.5 s).
     *
     * @param tiles {@code [tile slots, 3]} (the slots a folded launch reaches, see
     *              {@code TornadoMoeKernel.Builder#tileSlots}): first permuted row, row count,
     *              expert. An unused tile, and every slot past the last tile, has 0 rows and still runs the loop (it stores nothing): a barrier inside a
     *              branch, even a uniform one, gave wrong sums on PoCL from run to run.
     */
    static void gemm(KernelContext ctx, FloatArray in, FloatArray w, ShortArray w16, FloatArray pow2, IntArray q, IntArray qz,
                     FloatArray qs, int wFmt, int group, int symmetric, IntArray tiles, FloatArray out, int rows, int cols) {
        int lx = ctx.localIdx;
        int ly = ctx.localIdy;
        int tile = ctx.groupIdz * (ctx.globalGroupSizeY / ctx.localGroupSizeY) + ctx.groupIdy; // Plans.Grids#groupsFolded
        int c = ctx.groupIdx * TILE + lx;
        int tileRows = tiles.get(3 * tile + 1);
        float[] a = ctx.allocateFloatLocalArray(TILE * TILE);
        float[] b = ctx.allocateFloatLocalArray(TILE * TILE);
        int p0 = tiles.get(3 * tile);
        int expert = tiles.get(3 * tile + 2);
        int wBase = 0; // fp32 and bf16 only: int4 weights may hold more than 2^31 elements
        if (wFmt != W_INT4) {
            wBase = expert * rows * cols;
        }
        int groups = rows / group;
        int qBase = expert * (rows / 8) * cols;
        int zBase = expert * groups * (cols / 8);
        int sBase = expert * groups * cols;
        float acc0 = 0.0f;
        float acc1 = 0.0f;
        float acc2 = 0.0f;
        float acc3 = 0.0f;
        for (int r0 = 0; r0 < rows; r0 += TILE) {
            for (int y = ly; y < TILE; y += GROUP_Y) {
                float av = 0.0f;
                if (y < tileRows && r0 + lx < rows) {
                    av = in.get((p0 + y) * rows + r0 + lx);
                }
                a[y * TILE + lx] = av;
                float bv = 0.0f;
                if (tileRows > 0 && r0 + y < rows && c < cols) {
                    int r = r0 + y;
                    if (wFmt == W_INT4) {
                        int nibble = (q.get(qBase + (r / 8) * cols + c) >> (4 * (r & 7))) & 15;
                        int gi = r / group;
                        int zero = 8;
                        if (symmetric == 0) {
                            zero = (qz.get(zBase + gi * (cols / 8) + c / 8) >> (4 * (c & 7))) & 15;
                        }
                        bv = (nibble - zero) * qs.get(sBase + gi * cols + c);
                    } else if (wFmt == W_BF16) {
                        bv = Codec.decode16(w16.get(wBase + r * cols + c), Codec.BF16, pow2);
                    } else {
                        bv = w.get(wBase + r * cols + c);
                    }
                }
                b[y * TILE + lx] = bv;
            }
            ctx.localBarrier();
            for (int kk = 0; kk < TILE; kk++) {
                float bv = b[kk * TILE + lx];
                acc0 += a[ly * TILE + kk] * bv;
                acc1 += a[(ly + GROUP_Y) * TILE + kk] * bv;
                acc2 += a[(ly + 2 * GROUP_Y) * TILE + kk] * bv;
                acc3 += a[(ly + 3 * GROUP_Y) * TILE + kk] * bv;
            }
            ctx.localBarrier();
        }
        if (c < cols) {
            store(out, p0, ly, tileRows, cols, c, acc0);
            store(out, p0, ly + GROUP_Y, tileRows, cols, c, acc1);
            store(out, p0, ly + 2 * GROUP_Y, tileRows, cols, c, acc2);
            store(out, p0, ly + 3 * GROUP_Y, tileRows, cols, c, acc3);
        }
    }

    private static void store(FloatArray out, int p0, int y, int tileRows, int cols, int c, float v) {
        if (y < tileRows) {
            out.set((p0 + y) * cols + c, v);
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
