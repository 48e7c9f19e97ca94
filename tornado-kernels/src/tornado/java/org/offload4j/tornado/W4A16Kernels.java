package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The W4A16 op's device code: {@code Y = X · W (+ bias)} with W in the GPTQ layout, SplitK over k.
 * <pre>
 *   x16 --loadX--> xf fp32 [m, k]
 *   xf, qweight, zeros, scales --splitK--> part fp32 [S, m, n]     one work-item per (s, i, j); m > 1:
 *                                 --splitK4-->                    one per (s, 4 rows, j)
 *   part, bias --reduce--> y16 [m, n]                             Σ_s, + bias, rounded once
 *
 *   SplitK stripes, k = 8·k8 packed rows, S = 3 splits of wordsPerSplit words each:
 *
 *        j →  (n columns, adjacent work-items: adjacent words of a qweight row, coalesced)
 *     r  +---------------------------+
 *     ↓  | split 0: words [0, w)     |  part[0, i, j]
 *        +---------------------------+
 *        | split 1: words [w, 2w)    |  part[1, i, j]
 *        +---------------------------+
 *        | split 2: words [2w, k8)   |  part[2, i, j]   (the last one may be shorter)
 *        +---------------------------+
 * </pre>
 * SplitK trades a second pass over {@code S·m·n} partial sums for {@code S} times more
 * work-items when {@code m·n} alone cannot fill the device (decode: m = 1). Every group boundary
 * is a multiple of 8 rows, so each 32-bit word lies in one group: the kernel applies
 * {@code (q − z)} per nibble and the scale once per word.
 *
 * <p>For m &gt; 1, {@link #splitK4} gives each work-item 4 rows of X: every weight word read and
 * unpacked serves 4 rows instead of 1, so the weight stream is read ⌈m/4⌉ times, not m times (on
 * a GPU those rereads come from L2 at best). Not more rows: each row is an accumulator and a
 * live dot product in registers.
 */
final class W4A16Kernels {
    private W4A16Kernels() {}

    /** {@code xf[i] = decode(x16[i])} for {@code i < m·k}, m = {@code rows.get(0)}. */
    static void loadX(KernelContext ctx, ShortArray x16, FloatArray xf, FloatArray pow2, IntArray rows, int k, int fmt) {
        int i = ctx.globalIdx;
        if (i < rows.get(0) * k) {
            xf.set(i, Codec.decode16(x16.get(i), fmt, pow2));
        }
    }

    /**
     * One work-item per (split s, row i, column j), j fastest.
     *
     * @param qweight GPTQ {@code [k/8, n]}: nibble t of word (r, j) is q[8r + t, j]
     * @param zeros   {@code [k/g, n]} zero points, unpacked
     * @param scales  {@code [k/g, n]} fp32
     * @param part    {@code [splits, m, n]} partial sums
     * @param rows    {@code [m]}: the call's rows, data so that one plan serves every m up to its capacity
     */
    static void splitK(KernelContext ctx, FloatArray xf, IntArray qweight, IntArray zeros, FloatArray scales, FloatArray part,
                       IntArray rows, int n, int k, int groupSize, int splits, int wordsPerSplit) {
        int m = rows.get(0);
        int gid = ctx.globalIdx;
        if (gid < splits * m * n) {
            int j = gid % n;
            int rest = gid / n;
            int i = rest % m;
            int s = rest / m;
            int w0 = s * wordsPerSplit;
            int w1 = w0 + wordsPerSplit < k / 8 ? w0 + wordsPerSplit : k / 8;
            float acc = 0.0f;
            for (int r = w0; r < w1; r++) {
                int word = qweight.get(r * n + j);
                int g = (r * 8) / groupSize;
                float z = zeros.get(g * n + j);
                int xb = i * k + r * 8;
                float dot = 0.0f;
                for (int t = 0; t < 8; t++) {
                    // >> and a mask, never >>>: Graal folds (w >>> 28) & 0xF to w >>> 28, and TornadoVM
                    // 5.2's OpenCL back end prints >>> on an int as C's >>, an arithmetic shift, so
                    // the top nibble of a word with bit 31 set came out negative.
                    int q = (word >> (4 * t)) & 0xF;
                    dot += xf.get(xb + t) * (q - z);
                }
                acc += dot * scales.get(g * n + j);
            }
            part.set((s * m + i) * n + j, acc);
        }
    }

    /**
     * As {@link #splitK} with 4 rows per work-item: one work-item per (split s, row block ib,
     * column j), j fastest; rows {@code 4·ib … 4·ib+3}, those past m aliased to row m − 1 (computed,
     * not written).
     */
    static void splitK4(KernelContext ctx, FloatArray xf, IntArray qweight, IntArray zeros, FloatArray scales, FloatArray part,
                        IntArray rows, int n, int k, int groupSize, int splits, int wordsPerSplit) {
        int m = rows.get(0);
        int blocks = (m + 3) / 4;
        int gid = ctx.globalIdx;
        if (gid < splits * blocks * n) {
            int j = gid % n;
            int rest = gid / n;
            int i0 = (rest % blocks) * 4;
            int s = rest / blocks;
            int i1 = i0 + 1 < m ? i0 + 1 : m - 1;
            int i2 = i0 + 2 < m ? i0 + 2 : m - 1;
            int i3 = i0 + 3 < m ? i0 + 3 : m - 1;
            int w0 = s * wordsPerSplit;
            int w1 = w0 + wordsPerSplit < k / 8 ? w0 + wordsPerSplit : k / 8;
            float acc0 = 0.0f;
            float acc1 = 0.0f;
            float acc2 = 0.0f;
            float acc3 = 0.0f;
            for (int r = w0; r < w1; r++) {
                int word = qweight.get(r * n + j);
                int g = (r * 8) / groupSize;
                float z = zeros.get(g * n + j);
                int col = r * 8;
                float d0 = 0.0f;
                float d1 = 0.0f;
                float d2 = 0.0f;
                float d3 = 0.0f;
                for (int t = 0; t < 8; t++) {
                    float wq = ((word >> (4 * t)) & 0xF) - z; // >> and a mask: see splitK
                    d0 += xf.get(i0 * k + col + t) * wq;
                    d1 += xf.get(i1 * k + col + t) * wq;
                    d2 += xf.get(i2 * k + col + t) * wq;
                    d3 += xf.get(i3 * k + col + t) * wq;
                }
                float scale = scales.get(g * n + j);
                acc0 += d0 * scale;
                acc1 += d1 * scale;
                acc2 += d2 * scale;
                acc3 += d3 * scale;
            }
            int base = s * m * n + j;
            part.set(base + i0 * n, acc0);
            if (i0 + 1 < m) {
                part.set(base + i1 * n, acc1);
            }
            if (i0 + 2 < m) {
                part.set(base + i2 * n, acc2);
            }
            if (i0 + 3 < m) {
                part.set(base + i3 * n, acc3);
            }
        }
    }

    /** {@code y[i, j] = round16(Σ_s part[s, i, j] + bias[j])}. */
    static void reduce(KernelContext ctx, FloatArray part, FloatArray bias, ShortArray y16, IntArray rows, int n, int splits, int fmt) {
        int m = rows.get(0);
        int idx = ctx.globalIdx;
        if (idx < m * n) {
            float acc = bias.get(idx % n);
            for (int s = 0; s < splits; s++) {
                acc += part.get(s * m * n + idx);
            }
            y16.set(idx, (short) Codec.encode16(acc, fmt));
        }
    }
}
