package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;
import uk.ac.manchester.tornado.api.types.collections.VectorFloat8;
import uk.ac.manchester.tornado.api.types.vectors.Float8;

/**
 * The Hadamard op's device code in three forms ({@link TornadoHadamardKernel} picks one).
 * {@link #fused}, for rows of up to {@value #LOCAL_D} elements, one work-group per row: one
 * kernel, one pass over memory: load, decode and pre-signs into local memory (16 KiB), the
 * butterflies of each stage spread over the work-items with a barrier between stages, then the
 * cross-block product, scale, post-signs and the one rounding on the way out. The passes, for any
 * row: three tasks, the rows staying on the device in an fp32 workspace between them,
 * <pre>
 *   in (fp32 | raw bf16/fp16) --load--> work fp32 [rows, d]  (× preSigns)
 *   work --fwhtGlobal | fwhtRows--> work                     (H_n per block, then H_m across blocks)
 *   work --store--> out (fp32 | raw bf16/fp16)               (× scale × postSigns, rounded once)
 * </pre>
 * The transform is {@link #fwhtGlobal} in the {@code passes} form (one work-group per row, the
 * stages in place in global memory with global-memory barriers, legal since a row is one group)
 * and {@link #fwhtRows} in the {@code rows} form (one work-item per row in {@code float8}, for
 * CPU devices). The passes move at least 20 bytes per bf16 element (2 in, 4 out, 4 + 4 through
 * the transform if its stages stay in cache, 4 in, 2 out; more with {@code work2} when m > 1)
 * where the op needs 4: a ceiling of 20 % of the copy floor on a GPU. On PoCL's CPU device they
 * are nevertheless the faster forms (2^24 bf16 at d = 1024: rows 149 ms, passes 239, fused 497):
 * PoCL vectorizes their loop-free element-wise kernels and {@code float8} code, not per-work-item
 * loops over scalars.
 *
 * <p>Rejected:
 * <ul>
 *   <li>the {@code @Parallel} loop form: it cannot express the per-stage barrier;
 *   <li>for CPU devices, the whole op in {@link #fwhtRows}'s shape, decode and encode included:
 *       the codec ran per lane in scalar code (about 40 and 115 ms at 2^24 elements, against
 *       about 45 and 35 ms in the element-wise passes, which PoCL vectorizes), 170–230 ms in all;
 *   <li>the transform with the row in local memory and plain {@code float} loops, one work-item
 *       per row: 80–120 ms, against 23–29 for {@link #fwhtRows};
 *   <li>a fused kernel of d/2 work-items per row whose stages keep one access pattern (the
 *       constant-geometry order: {@code y[p] = x[2p] + x[2p+1]}, {@code y[p + d/2] = x[2p] −
 *       x[2p+1]}, ping-pong in local memory): about 85 ms for its stages, 250 ms in all;
 *   <li>bit casts for the codec ({@code Float.intBitsToFloat}, {@code Float.floatToRawIntBits}):
 *       TornadoVM 5.2's OpenCL back end does not compile them ({@code emitReinterpret}
 *       unimplemented), see {@link Codec}.
 * </ul>
 */
final class HadamardKernels {
    /** The longest row transformed in local memory. */
    static final int LOCAL_D = 4096;

    private HadamardKernels() {}

    /*
     * The element-wise passes run on a grid of columns by rows (Plans.Grids#groupsFolded): x is
     * the column (d items, a whole number of work-groups), the row is z · (grid y) + y, and rows
     * at or past rowCap (the plan's capacity) are dropped. The column comes from the grid, not
     * from i mod d: an integer remainder by a run-time d does not vectorize, and on PoCL (AVX2) it
     * was most of the store pass (2^24 bf16 elements, d = 1024: 288 ms with i mod d, 53 ms from
     * the grid).
     */

    /** {@code work[r, c] = decode(in[r, c]) · pre[c]} for 16-bit inputs; {@code signs} as in {@link #fused}. */
    static void load16(KernelContext ctx, ShortArray in, FloatArray work, FloatArray signs, FloatArray pow2, int d, int rowCap,
                       int fmt) {
        int c = ctx.globalIdx;
        int r = ctx.globalIdz * ctx.globalGroupSizeY + ctx.globalIdy;
        if (r < rowCap) {
            int i = r * d + c;
            work.set(i, Codec.decode16(in.get(i), fmt, pow2) * signs.get(c));
        }
    }

    /** {@code work[r, c] = in[r, c] · pre[c]} for fp32 inputs. */
    static void load32(KernelContext ctx, FloatArray in, FloatArray work, FloatArray signs, int d, int rowCap) {
        int c = ctx.globalIdx;
        int r = ctx.globalIdz * ctx.globalGroupSizeY + ctx.globalIdy;
        if (r < rowCap) {
            int i = r * d + c;
            work.set(i, in.get(i) * signs.get(c));
        }
    }

    /** {@code out[r, c] = round16(work[r, c] · scale · post[c])}. */
    static void store16(KernelContext ctx, FloatArray work, ShortArray out, FloatArray signs, int d, int rowCap, int fmt) {
        int c = ctx.globalIdx;
        int r = ctx.globalIdz * ctx.globalGroupSizeY + ctx.globalIdy;
        if (r < rowCap) {
            int i = r * d + c;
            out.set(i, (short) Codec.encode16(work.get(i) * signs.get(2 * d) * signs.get(d + c), fmt));
        }
    }

    /** {@code out[r, c] = work[r, c] · scale · post[c]}. */
    static void store32(KernelContext ctx, FloatArray work, FloatArray out, FloatArray signs, int d, int rowCap) {
        int c = ctx.globalIdx;
        int r = ctx.globalIdz * ctx.globalGroupSizeY + ctx.globalIdy;
        if (r < rowCap) {
            int i = r * d + c;
            out.set(i, work.get(i) * signs.get(2 * d) * signs.get(d + c));
        }
    }

    /** Format code of fp32 rows for {@link #fused} (the 16-bit ones are {@link Codec#BF16} and {@link Codec#FP16}). */
    static final int FP32 = 2;

    /**
     * The whole op for rows of {@code d ≤ LOCAL_D}, one work-group per row, in one pass over memory:
     * {@code out[row] = round(scale · (in[row] ⊙ pre) · (H_m ⊗ H_n) ⊙ post)} ({@code H_mᵀ} when
     * {@code transpose == 1}), the row in local memory between the load and the store. Only the
     * arrays of format {@code fmt} are used; the others are one-element placeholders (a scalar
     * argument is compiled in as a constant, so the unused branch is not in the kernel).
     *
     * @param signs   {@code [2d + 1]}: pre-signs, post-signs, then the scale
     * @param hm      {@code H_m} row-major {@code [m, m]} of ±1 ({@code [1]} when {@code m = 1})
     */
    static void fused(KernelContext ctx, ShortArray in16, FloatArray in32, ShortArray out16, FloatArray out32, FloatArray signs,
                      FloatArray pow2, IntArray hm, int d, int m, int n, int transpose, int fmt) {
        int row = ctx.groupIdx;
        int lid = ctx.localIdx;
        int threads = ctx.localGroupSizeX;
        float[] buf = ctx.allocateFloatLocalArray(LOCAL_D);
        int base = row * d;
        for (int i = lid; i < d; i += threads) {
            float x = fmt == FP32 ? in32.get(base + i) : Codec.decode16(in16.get(base + i), fmt, pow2);
            buf[i] = x * signs.get(i);
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
        // Across blocks: y[a'·n + b] = Σ_a H_m[a][a'] · u[a·n + b] (transposed: H_m[a'][a]); then
        // scale, post-signs and the one rounding.
        float sc = signs.get(2 * d);
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
            float y = s * sc * signs.get(d + i);
            if (fmt == FP32) {
                out32.set(base + i, y);
            } else {
                out16.set(base + i, (short) Codec.encode16(y, fmt));
            }
        }
    }

    /**
     * The transform step of the passes on a CPU device ({@code ROWS} form), for blocks of
     * {@code n ≥ 8}: one work-item per row at a time, a fixed set of work-items walking the rows,
     * each with its own {@code d}-float stretch of {@code scratch} (in cache while it works on a
     * row). The row goes into {@code scratch} as {@code float8} vectors (PoCL compiles their loads,
     * stores and arithmetic to vector instructions, where scalar element access through
     * TornadoVM's address arithmetic becomes gathers and scatters):
     * <pre>
     *   work[r, 8j … 8j+7] --8 loads, stages h = 1, 2, 4 inside the vector ({@link #h8})--> scratch[j]
     *   stages h = 8 … n/2: vector k with k + h/8 inside each block of n/8 vectors  (float8 add, sub)
     *   m = 1: scratch[j] --8 stores--> work[r, 8j …]
     *   m > 1: Σ_a H_m[a][a'] · scratch[a·n/8 + b] --8 stores--> work[r, a'·n + 8b …]   (H_mᵀ when transposed)
     * </pre>
     * 2^24 floats at d = 1024 on PoCL (AVX2, 2 compute units): 23–29 ms, against about 115 for
     * {@link #fwhtGlobal}.
     *
     * @param scratch  {@code [work-items · d/8]} float8, device only
     * @param rowCount {@code [2]}: the call's rows (the plan serves a capacity of rows), then m again:
     *                 read from the device, m keeps Graal from unrolling the loops over H_m, whose
     *                 unrolled reads of {@code hm} TornadoVM 5.2's task specialisation fails on
     *                 ("Argument is not an array", seen for m = 12)
     * @param logHalf  {@code log2(n/16)} (0 when n = 8): block of a vector pair {@code p} is {@code p >> logHalf}
     */
    static void fwhtRows(KernelContext ctx, FloatArray work, VectorFloat8 scratch, IntArray rowCount, IntArray hm, int d, int m,
                         int n, int logHalf, int transpose) {
        int item = ctx.globalIdx;
        int items = ctx.globalGroupSizeX;
        int rows = rowCount.get(0);
        int blocks = rowCount.get(1);
        int d8 = d >> 3;
        int n8 = n >> 3;
        int pairs = d >> 4;
        int own = item * d8;
        for (int r = item; r < rows; r += items) {
            int base = r * d;
            for (int j = 0; j < d8; j++) {
                int e = base + 8 * j;
                float x0 = work.get(e);
                float x1 = work.get(e + 1);
                float x2 = work.get(e + 2);
                float x3 = work.get(e + 3);
                float x4 = work.get(e + 4);
                float x5 = work.get(e + 5);
                float x6 = work.get(e + 6);
                float x7 = work.get(e + 7);
                scratch.set(own + j, h8(new Float8(x0, x1, x2, x3, x4, x5, x6, x7)));
            }
            for (int lh = 0; (1 << lh) < n8; lh++) {
                int h = 1 << lh;
                for (int p = 0; p < pairs; p++) {
                    int a = p >> logHalf;
                    int q = p - (a << logHalf);
                    int k = own + a * n8 + ((q >> lh) << (lh + 1)) + (q & (h - 1));
                    Float8 x = scratch.get(k);
                    Float8 y = scratch.get(k + h);
                    scratch.set(k, Float8.add(x, y));
                    scratch.set(k + h, Float8.sub(x, y));
                }
            }
            for (int ao = 0; ao < blocks; ao++) {
                for (int b = 0; b < n8; b++) {
                    Float8 v = scratch.get(own + b);
                    if (m > 1) {
                        int h0 = transpose == 1 ? hm.get(ao * blocks) : hm.get(ao);
                        v = Float8.mult(v, (float) h0);
                        for (int a = 1; a < blocks; a++) {
                            int hv = transpose == 1 ? hm.get(ao * blocks + a) : hm.get(a * blocks + ao);
                            v = Float8.add(v, Float8.mult(scratch.get(own + a * n8 + b), (float) hv));
                        }
                    }
                    int e = base + ao * n + 8 * b;
                    work.set(e, v.getS0());
                    work.set(e + 1, v.getS1());
                    work.set(e + 2, v.getS2());
                    work.set(e + 3, v.getS3());
                    work.set(e + 4, v.getS4());
                    work.set(e + 5, v.getS5());
                    work.set(e + 6, v.getS6());
                    work.set(e + 7, v.getS7());
                }
            }
        }
    }

    /** The stages h = 1, 2, 4 of an 8-element block: {@code H_8 · a}, in natural (Sylvester) order. */
    static Float8 h8(Float8 a) {
        float s0 = a.getS0() + a.getS1();
        float s1 = a.getS0() - a.getS1();
        float s2 = a.getS2() + a.getS3();
        float s3 = a.getS2() - a.getS3();
        float s4 = a.getS4() + a.getS5();
        float s5 = a.getS4() - a.getS5();
        float s6 = a.getS6() + a.getS7();
        float s7 = a.getS6() - a.getS7();
        float t0 = s0 + s2;
        float t1 = s1 + s3;
        float t2 = s0 - s2;
        float t3 = s1 - s3;
        float t4 = s4 + s6;
        float t5 = s5 + s7;
        float t6 = s4 - s6;
        float t7 = s5 - s7;
        return new Float8(t0 + t4, t1 + t5, t2 + t6, t3 + t7, t0 - t4, t1 - t5, t2 - t6, t3 - t7);
    }

    /**
     * The transform step of the {@code passes} form (any d), as in {@link #fused}: the butterflies
     * run in place in {@code work}, the cross-block product goes through {@code work2} and back.
     * On a GPU it serves rows longer than {@code LOCAL_D}; on a CPU device {@link #fwhtRows} is
     * faster where n ≥ 8 (about 115 against 23–29 ms at 2^24, d = 1024, PoCL on AVX2). (A
     * local-memory variant for d ≤ LOCAL_D was replaced by the fused kernel; on PoCL with AVX-512
     * this global one was as fast: 77–85 against 85–90 ms.)
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
