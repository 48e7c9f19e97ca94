package org.offload4j.tornado;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;

/**
 * FP8 attention on the device: one work-group per query row {@code (b, h, i)}, one work-item per
 * head dimension {@code c} (the work-group size is D = 64, 128 or 256), online softmax over key
 * blocks of D keys.
 * <pre>
 *   qLoc[c]  = e4m3(q[row, c]) · qScale · softmaxScale          (local memory, D floats)
 *   for each block of D keys j0 … j0+D−1 (only the visible ones):
 *     work-item t:  sLoc[t] = kScale · Σ_c qLoc[c] · e4m3(k[j0+t, c])      (one logit each)
 *     barrier
 *     work-item t:  pLoc[t] = exp(sLoc[t] − max), max the running max over the block too
 *     barrier
 *     every work-item: rescale its running (max, sum, acc[c]) and add Σ_t pLoc[t] · e4m3(v[j0+t, c])
 *     barrier
 *   out[row, c] = bf16(acc · vScale / sum),  lse[row] = max + ln(sum)
 * </pre>
 * Every work-item keeps the same running max and sum (they are computed from the same local
 * logits and probabilities), so no reduction is needed for them. The fp8 bytes are decoded
 * through a 256-entry table in global memory. Rows with no visible key (causal, Sq &gt; Skv)
 * write 0 and −∞. (Before {@code pLoc}, every work-item computed all D exponentials of a block
 * itself, D times the work: on PoCL, Hq = 8, Hkv = 2, S = 1024, D = 128 took 2.51 s (causal
 * 1.97 s, decode at Skv = 4096 11.4 ms); with {@code pLoc} 1.80 s (0.68 s, 8.2 ms).)
 */
final class AttentionKernels {
    /** The largest head dimension: the size of the three local arrays. */
    static final int MAX_D = 256;

    private AttentionKernels() {}

    /**
     * @param q       e4m3 {@code [B, Hq, Sq, D]}, contiguous
     * @param k       e4m3 {@code [B, Hkv, Skv, D]}, contiguous
     * @param v       e4m3 {@code [B, Hkv, Skv, D]}, contiguous
     * @param qs      the scale of each (b, h) of q, {@code [B·Hq]}
     * @param kvs     the scales of k then v per (b, g): {@code [2·B·Hkv]}
     * @param params  {@code [softmaxScale]}
     * @param lut     e4m3 byte → float
     * @param pow2    {@link Codec#pow2Table()} (also holds +∞)
     * @param out     bf16 bits {@code [B, Hq, Sq, D]}
     * @param lse     {@code [B·Hq·Sq]}
     */
    static void forward(KernelContext ctx, ByteArray q, ByteArray k, ByteArray v, FloatArray qs, FloatArray kvs,
                        FloatArray params, FloatArray lut, FloatArray pow2, ShortArray out, FloatArray lse,
                        int batch, int hq, int hkv, int sq, int skv, int d, int causal) {
        int row = ctx.groupIdx;
        int c = ctx.localIdx;
        float[] qLoc = ctx.allocateFloatLocalArray(MAX_D);
        float[] sLoc = ctx.allocateFloatLocalArray(MAX_D);
        float[] pLoc = ctx.allocateFloatLocalArray(MAX_D);
        float negInf = -pow2.get(Codec.INF);
        int i = row % sq;
        int bh = row / sq;
        int h = bh % hq;
        int b = bh / hq;
        int bg = b * hkv + h / (hq / hkv);
        int kvBase = bg * skv;
        float kScale = kvs.get(bg);
        float vScale = kvs.get(batch * hkv + bg);
        qLoc[c] = lut.get(q.get(row * d + c) & 0xFF) * qs.get(bh) * params.get(0);
        ctx.localBarrier();
        int last = skv - 1;
        if (causal == 1 && i + skv - sq < last) {
            last = i + skv - sq;
        }
        float mRun = negInf;
        float lRun = 0.0f;
        float acc = 0.0f;
        for (int j0 = 0; j0 <= last; j0 += d) {
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
        float o = 0.0f;
        float l = negInf;
        if (last >= 0) {
            o = acc * vScale / lRun;
            l = mRun + TornadoMath.log(lRun);
        }
        out.set(row * d + c, (short) Codec.encode16(o, Codec.BF16));
        if (c == 0) {
            lse.set(row, l);
        }
    }
}
