package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * FP8 attention on the device, split over the keys (flash-decoding): pass 1 ({@link #partial})
 * runs one work-group per (query row {@code (b, h, i)}, key split), one work-item per head
 * dimension {@code c} (the work-group size is D = 64, 128 or 256), online softmax over blocks of
 * D keys; pass 2 ({@link #combine}) merges each row's splits. The partial results stay on the
 * device between the passes.
 * <pre>
 *   pass 1, work-group (row, s), keys [s·chunk, min((s+1)·chunk, last+1)):
 *     qLoc[c]  = e4m3(q[row, c]) · qScale · softmaxScale          (local memory, D floats)
 *     for each block of D keys j0 … j0+D−1 of the split:
 *       work-item t:  sLoc[t] = kScale · Σ_c qLoc[c] · e4m3(k[j0+t, c])      (one logit each)
 *       barrier
 *       work-item t:  pLoc[t] = exp(sLoc[t] − max), max the running max over the block too
 *       barrier
 *       every work-item: rescale its running (max, sum, acc[c]) and add Σ_t pLoc[t] · e4m3(v[j0+t, c])
 *       barrier
 *     pm[row, s] = max,  pl[row, s] = sum,  pacc[row, s, c] = acc      (an empty split: −∞, 0, 0)
 *     (one split per row: out and lse as below, straight from max, sum, acc; no pass 2)
 *   pass 2, work-group row, work-item c:
 *     M = max_s pm[row, s];  w_s = exp(pm[row, s] − M)
 *     out[row, c] = bf16(vScale · Σ_s w_s·pacc[row, s, c] / Σ_s w_s·pl[row, s]),  lse[row] = M + ln Σ_s w_s·pl[row, s]
 * </pre>
 * Every work-item keeps the same running max and sum (they are computed from the same local
 * logits and probabilities), so no reduction is needed for them. The fp8 bytes are decoded
 * through a 256-entry table in global memory. Rows with no visible key (causal, Sq &gt; Skv)
 * write 0 and −∞, decided from the mask ({@link #lastKey}), not from the running max: a row whose
 * logits are all NaN (a NaN code in its Q row) keeps the max at −∞ ({@code fmax} skips NaN) and
 * must still come out NaN. Keys past a row's last visible one are never read, so a NaN code
 * there cannot leak into it.
 *
 * <p>Why split: one work-group per query row gives a decode step (Sq = 1) only B·Hq work-groups,
 * 8 for Hq = 8, against the 132 SMs of an H100; {@link #splits} cuts the keys so that the first
 * pass has about {@link #GROUPS_PER_UNIT} work-groups per compute unit (on an H100 about 528: 256
 * for that decode step at Skv = 4096, one split per D-key block). Prefill, and most shapes on a
 * CPU OpenCL device with few compute units, keeps one split per row (the combine pass then costs
 * a read and write of B·Hq·Sq·D floats). Not measured on a GPU yet; on PoCL (2 compute units,
 * so one split) the decode step went from 8.2 to 9.5 ms with the second pass. (Before {@code pLoc}, every work-item computed all D exponentials of a block itself,
 * D times the work: on PoCL, Hq = 8, Hkv = 2, S = 1024, D = 128 took 2.51 s (causal 1.97 s,
 * decode at Skv = 4096 11.4 ms); with {@code pLoc} 1.80 s (0.68 s, 8.2 ms).)
 */
final class AttentionKernels {
    /** Entries of the {@code dims} array both passes read. */
    static final int DIMS = 10;
    /** The largest head dimension: the size of the three local arrays. */
    static final int MAX_D = 256;
    /** Work-groups the first pass aims at per compute unit (an SM; an H100 has 132, PoCL here 2). */
    static final int GROUPS_PER_UNIT = 4;

    private AttentionKernels() {}

    /**
     * Key splits per query row: enough that {@code rows · splits} reaches {@code targetGroups}
     * ({@link #GROUPS_PER_UNIT} per compute unit of the device), at least one D-key block per split.
     */
    static int splits(long rows, int skv, int d, int targetGroups) {
        int blocks = Math.max(1, (skv + d - 1) / d);
        long wanted = Math.max(1, (targetGroups + rows - 1) / rows);
        int perSplit = (int) ((blocks + Math.min(blocks, wanted) - 1) / Math.min(blocks, wanted));
        return (blocks + perSplit - 1) / perSplit;
    }

    /** Keys per split: whole D-key blocks, so that {@code splits} splits cover every key. */
    static int chunk(int skv, int d, int splits) {
        int blocks = Math.max(1, (skv + d - 1) / d);
        return (blocks + splits - 1) / splits * d;
    }

    /**
     * Pass 1: work-group {@code row·splits + s} attends query row {@code row} over key split s.
     *
     * @param q       e4m3 {@code [B, Hq, Sq, D]}, contiguous
     * @param k       e4m3 {@code [B, Hkv, Skv, D]}, contiguous
     * @param v       e4m3 {@code [B, Hkv, Skv, D]}, contiguous
     * @param qs      the scale of each (b, h) of q, {@code [B·Hq]}
     * @param kvs     the scales of k then v per (b, g): {@code [2·B·Hkv]}
     * @param params  {@code [softmaxScale]}
     * @param lut     e4m3 byte → float
     * @param pow2    {@link Codec#pow2Table()} (also holds +∞)
     * @param pm      the split's running max, {@code [rows·splits]}
     * @param pl      the split's sum of exponentials, {@code [rows·splits]}
     * @param pacc    the split's unnormalized output (without the V scale), {@code [rows·splits·D]}
     * @param out     bf16 bits {@code [B, Hq, Sq, D]}, written here when {@code splits = 1}
     * @param lse     {@code [B·Hq·Sq]}, likewise
     * @param dims    {@code [B, Hq, Hkv, Sq, Skv, D, causal (0/1), splits, chunk, SkvCap]} ({@link #DIMS};
     *                an array because a TornadoVM task takes at most 20 arguments, and data, sent on
     *                every execution, so that one compiled plan serves every Skv up to its capacity
     *                SkvCap: k and v hold SkvCap key rows per (b, g), of which the first Skv are this
     *                call's). chunk = keys per split, a multiple of D
     */
    static void partial(KernelContext ctx, ByteArray q, ByteArray k, ByteArray v, FloatArray qs, FloatArray kvs,
                        FloatArray params, FloatArray lut, FloatArray pow2, FloatArray pm, FloatArray pl, FloatArray pacc,
                        ShortArray out, FloatArray lse, IntArray dims) {
        int batch = dims.get(0);
        int hq = dims.get(1);
        int hkv = dims.get(2);
        int sq = dims.get(3);
        int skv = dims.get(4);
        int d = dims.get(5);
        int causal = dims.get(6);
        int splits = dims.get(7);
        int chunk = dims.get(8);
        int skvCap = dims.get(9);
        int group = ctx.groupIdx;
        int row = group / splits;
        int split = group % splits;
        int c = ctx.localIdx;
        float[] qLoc = ctx.allocateFloatLocalArray(MAX_D);
        float[] sLoc = ctx.allocateFloatLocalArray(MAX_D);
        float[] pLoc = ctx.allocateFloatLocalArray(MAX_D);
        float negInf = -pow2.get(Codec.INF);
        int bh = row / sq;
        int h = bh % hq;
        int b = bh / hq;
        int bg = b * hkv + h / (hq / hkv);
        int kvBase = bg * skvCap;
        float kScale = kvs.get(bg);
        qLoc[c] = lut.get(q.get(row * d + c) & 0xFF) * qs.get(bh) * params.get(0);
        ctx.localBarrier();
        int rowLast = lastKey(row, sq, skv, causal);
        int last = rowLast;
        int first = split * chunk;
        if (first + chunk - 1 < last) {
            last = first + chunk - 1;
        }
        float mRun = negInf;
        float lRun = 0.0f;
        float acc = 0.0f;
        for (int j0 = first; j0 <= last; j0 += d) {
            int j = j0 + c;
            float s = negInf;
            if (j <= last) {
                float dot = 0.0f;
                int kb = (kvBase + j) * d;
                for (int t = 0; t < d; t++) {
                    dot += qLoc[t] * lut.get(k.get(kb + t) & 0xFF);
                }
                s = dot * kScale;
            }
            sLoc[c] = s;
            ctx.localBarrier();
            int count = last - j0 + 1 < d ? last - j0 + 1 : d;
            float blockMax = negInf;
            for (int t = 0; t < count; t++) {
                blockMax = TornadoMath.max(blockMax, sLoc[t]);
            }
            float mNew = TornadoMath.max(mRun, blockMax);
            // Work-item c exponentiates logit c once; every work-item then reads all of them.
            pLoc[c] = c < count ? TornadoMath.exp(sLoc[c] - mNew) : 0.0f;
            ctx.localBarrier();
            float correction = TornadoMath.exp(mRun - mNew); // 0 on the first block (mRun = −∞)
            lRun = lRun * correction;
            acc = acc * correction;
            int vb = (kvBase + j0) * d + c;
            for (int t = 0; t < count; t++) {
                float p = pLoc[t];
                lRun += p;
                acc += p * lut.get(v.get(vb + t * d) & 0xFF);
            }
            mRun = mNew;
            ctx.localBarrier();
        }
        if (splits == 1) {
            float o = 0.0f;
            float l = negInf;
            if (rowLast >= 0) {
                o = acc * kvs.get(batch * hkv + bg) / lRun;
                l = mRun + TornadoMath.log(lRun);
            }
            out.set(row * d + c, (short) Codec.encode16(o, Codec.BF16));
            if (c == 0) {
                lse.set(row, l);
            }
        } else {
            pacc.set(group * d + c, acc);
            if (c == 0) {
                pm.set(group, mRun);
                pl.set(group, lRun);
            }
        }
    }

    /** The last key query row {@code row} sees: {@code Skv − 1}, or with the causal mask {@code i + Skv − Sq} (below 0: none). */
    static int lastKey(int row, int sq, int skv, int causal) {
        int last = skv - 1;
        int i = row % sq;
        if (causal == 1 && i + skv - sq < last) {
            last = i + skv - sq;
        }
        return last;
    }

    /**
     * Pass 2 (only with {@code splits > 1}): work-group {@code row} merges the row's partial
     * results and writes the bf16 output row and its lse (a row that sees no key: 0 and −∞).
     *
     * @param out     bf16 bits {@code [B, Hq, Sq, D]}
     * @param lse     {@code [B·Hq·Sq]}
     * @param dims    as {@link #partial}'s
     */
    static void combine(KernelContext ctx, FloatArray pm, FloatArray pl, FloatArray pacc, FloatArray kvs, FloatArray pow2,
                        ShortArray out, FloatArray lse, IntArray dims) {
        int batch = dims.get(0);
        int hq = dims.get(1);
        int hkv = dims.get(2);
        int sq = dims.get(3);
        int skv = dims.get(4);
        int d = dims.get(5);
        int causal = dims.get(6);
        int splits = dims.get(7);
        int row = ctx.groupIdx;
        int c = ctx.localIdx;
        float negInf = -pow2.get(Codec.INF);
        int bh = row / sq;
        int h = bh % hq;
        int b = bh / hq;
        int bg = b * hkv + h / (hq / hkv);
        float vScale = kvs.get(batch * hkv + bg);
        int base = row * splits;
        float m = negInf;
        for (int s = 0; s < splits; s++) {
            m = TornadoMath.max(m, pm.get(base + s));
        }
        float o = 0.0f;
        float l = negInf;
        if (lastKey(row, sq, skv, causal) >= 0) {
            float sum = 0.0f;
            float acc = 0.0f;
            for (int s = 0; s < splits; s++) {
                // 0 for an empty split (−∞) when m is finite; NaN for all when m stayed −∞ (NaN logits)
                float w = TornadoMath.exp(pm.get(base + s) - m);
                sum += w * pl.get(base + s);
                acc += w * pacc.get((base + s) * d + c);
            }
            o = acc * vScale / sum;
            l = m + TornadoMath.log(sum);
        }
        out.set(row * d + c, (short) Codec.encode16(o, Codec.BF16));
        if (c == 0) {
            lse.set(row, l);
        }
    }
}
