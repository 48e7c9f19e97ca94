package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * The Hadamard op's device code: three tasks in one task graph, the rows staying on the device
 * in an fp32 workspace between them.
 * <pre>
 *   in (fp32 | raw bf16/fp16) --load--> work fp32 [rows, d]  (× preSigns)
 *   work --fwhtLocal | fwhtGlobal--> work                    (H_n per block, then H_m across blocks)
 *   work --store--> out (fp32 | raw bf16/fp16)               (× scale × postSigns, rounded once)
 * </pre>
 * The transform is a {@link KernelContext} kernel: one work-group per row, the butterflies of a
 * stage spread over its work-items, a barrier between stages. Up to {@value #LOCAL_D} elements the
 * row lives in local memory (16 KiB); longer rows are transformed in place in the global
 * workspace with global-memory barriers (still one work-group per row, so the barrier is legal).
 * Rejected: a fused load/transform/store kernel per dtype (three times the kernel code for a
 * saving of two passes over an fp32 row that is in cache on a CPU device), and the
 * {@code @Parallel} loop form (it cannot express the per-stage barrier).
 */
final class HadamardKernels {
    /** The longest row transformed in local memory. */
    static final int LOCAL_D = 4096;

    private HadamardKernels() {}

    /** {@code work[i] = decode(in[i]) · pre[i mod d]} for 16-bit inputs. */
    static void load16(KernelContext ctx, ShortArray in, FloatArray work, FloatArray pre, FloatArray pow2, int total, int d, int fmt) {
        int i = ctx.globalIdx;
        if (i < total) {
            work.set(i, Codec.decode16(in.get(i), fmt, pow2) * pre.get(i % d));
        }
    }

    /** {@code work[i] = in[i] · pre[i mod d]} for fp32 inputs. */
    static void load32(KernelContext ctx, FloatArray in, FloatArray work, FloatArray pre, int total, int d) {
        int i = ctx.globalIdx;
        if (i < total) {
            work.set(i, in.get(i) * pre.get(i % d));
        }
    }

    /** {@code out[i] = round16(work[i] · scale · post[i mod d])}. */
    static void store16(KernelContext ctx, FloatArray work, ShortArray out, FloatArray post, FloatArray scale, int total, int d,
                        int fmt) {
        int i = ctx.globalIdx;
        if (i < total) {
            out.set(i, (short) Codec.encode16(work.get(i) * scale.get(0) * post.get(i % d), fmt));
        }
    }

    /** {@code out[i] = work[i] · scale · post[i mod d]}. */
    static void store32(KernelContext ctx, FloatArray work, FloatArray out, FloatArray post, FloatArray scale, int total, int d) {
        int i = ctx.globalIdx;
        if (i < total) {
            out.set(i, work.get(i) * scale.get(0) * post.get(i % d));
        }
    }

    /**
     * One work-group per row ({@code d ≤ LOCAL_D}): {@code work[row] ← work[row] · (H_m ⊗ H_n)}
     * (or {@code H_mᵀ ⊗ H_n} when {@code transpose == 1}) through local memory.
     *
     * @param hm {@code H_m} row-major {@code [m, m]} of ±1 ({@code [1]} when {@code m = 1})
     */
    static void fwhtLocal(KernelContext ctx, FloatArray work, IntArray hm, int d, int m, int n, int transpose) {
        int row = ctx.groupIdx;
        int lid = ctx.localIdx;
        int threads = ctx.localGroupSizeX;
        float[] buf = ctx.allocateFloatLocalArray(LOCAL_D);
        int base = row * d;
        for (int i = lid; i < d; i += threads) {
            buf[i] = work.get(base + i);
        }
        ctx.localBarrier();
        int half = n >> 1;
        int pairs = d >> 1;
        // Stage h = 2^lh pairs element i with i + h inside each block of n: pair p of block a is
        // i = a·n + (q / h)·2h + q mod h, with q = p mod (n/2), by shifts and masks (h is not a
        // compile-time constant, and an integer division per butterfly cost more than the butterfly).
        for (int lh = 0; (1 << lh) < n; lh++) {
            int h = 1 << lh;
            for (int p = lid; p < pairs; p += threads) {
                int a = p / half;
                int q = p - a * half;
                int i = a * n + ((q >> lh) << (lh + 1)) + (q & (h - 1));
                float x = buf[i];
                float y = buf[i + h];
                buf[i] = x + y;
                buf[i + h] = x - y;
            }
            ctx.localBarrier();
        }
        // Across blocks: y[a'·n + b] = Σ_a H_m[a][a'] · u[a·n + b] (transposed: H_m[a'][a]).
        for (int i = lid; i < d; i += threads) {
            int ao = i / n;
            int b = i - ao * n;
            float s = 0.0f;
            if (m == 1) {
                s = buf[i];
            } else {
                for (int a = 0; a < m; a++) {
                    int hv = transpose == 1 ? hm.get(ao * m + a) : hm.get(a * m + ao);
                    s += hv * buf[a * n + b];
                }
            }
            work.set(base + i, s);
        }
    }

    /**
     * As {@link #fwhtLocal} for rows longer than {@code LOCAL_D}: the butterflies run in place in
     * {@code work}, the cross-block product goes through {@code work2} and back.
     */
    static void fwhtGlobal(KernelContext ctx, FloatArray work, FloatArray work2, IntArray hm, int d, int m, int n,
                           int transpose) {
        int row = ctx.groupIdx;
        int lid = ctx.localIdx;
        int threads = ctx.localGroupSizeX;
        int base = row * d;
        int half = n >> 1;
        int pairs = d >> 1;
        for (int lh = 0; (1 << lh) < n; lh++) {
            int h = 1 << lh;
            for (int p = lid; p < pairs; p += threads) {
                int a = p / half;
                int q = p - a * half;
                int i = base + a * n + ((q >> lh) << (lh + 1)) + (q & (h - 1));
                float x = work.get(i);
                float y = work.get(i + h);
                work.set(i, x + y);
                work.set(i + h, x - y);
            }
            ctx.globalBarrier();
        }
        if (m > 1) {
            for (int i = lid; i < d; i += threads) {
                int ao = i / n;
                int b = i - ao * n;
                float s = 0.0f;
                for (int a = 0; a < m; a++) {
                    int hv = transpose == 1 ? hm.get(ao * m + a) : hm.get(a * m + ao);
                    s += hv * work.get(base + a * n + b);
                }
                work2.set(base + i, s);
            }
            ctx.globalBarrier();
            for (int i = lid; i < d; i += threads) {
                work.set(base + i, work2.get(base + i));
            }
        }
    }
}
