package org.offload4j.attention;

/**
 * The sizes of one attention call: Q {@code [batch, qHeads, qLen, headDim]}, K and V
 * {@code [batch, kvHeads, kvCapacity, headDim]} of which the first {@code kvLen} keys of each
 * (batch, KV head) take part, out {@code [batch, qHeads, qLen, headDim]}, lse
 * {@code [batch, qHeads, qLen]}.
 *
 * <p>A value object; {@link Attention} builds it from validated tensors. The constructor only
 * checks what keeps the derived quantities well defined (positive heads, {@code qHeads} a
 * multiple of {@code kvHeads}, no negative size, {@code kvLen ≤ kvCapacity}).
 *
 * <p>Kernels address key {@code j} of (b, KV head g) as row {@code (b·Hkv + g)·kvCapacity + j}
 * of K and V; every other size (the mask, the loops, the FLOPs) uses {@code kvLen}. With
 * {@code kvCapacity > kvLen}, K and V are a KV cache of that capacity filled to {@code kvLen}
 * ({@link Attention#forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, int, AttentionOptions, Tensor, Tensor)}).
 *
 * @param batch      B ≥ 1
 * @param qHeads     Hq ≥ 1, a multiple of {@code kvHeads}
 * @param kvHeads    Hkv ≥ 1
 * @param qLen       Sq ≥ 0 (query rows per head)
 * @param kvLen      Skv ≥ 0 (keys per head that take part)
 * @param headDim    D (64, 128 or 256 for {@link Attention})
 * @param kvCapacity keys per head in K's and V's memory, ≥ {@code kvLen}
 */
public record AttentionShape(int batch, int qHeads, int kvHeads, int qLen, int kvLen, int headDim, int kvCapacity) {

    public AttentionShape {
        if (batch < 1 || qHeads < 1 || kvHeads < 1 || qLen < 0 || kvLen < 0 || headDim < 1) {
            throw new IllegalArgumentException("attention sizes must be B, Hq, Hkv, D ≥ 1 and Sq, Skv ≥ 0; got " + describe(
                    batch, qHeads, kvHeads, qLen, kvLen, headDim));
        }
        if (qHeads % kvHeads != 0) {
            throw new IllegalArgumentException("Hq = " + qHeads + " must be a multiple of Hkv = " + kvHeads);
        }
        if (kvCapacity < kvLen) {
            throw new IllegalArgumentException("the KV capacity " + kvCapacity + " must be at least Skv = " + kvLen);
        }
    }

    /** K and V hold exactly the {@code kvLen} keys of each head ({@code kvCapacity = kvLen}). */
    public AttentionShape(int batch, int qHeads, int kvHeads, int qLen, int kvLen, int headDim) {
        this(batch, qHeads, kvHeads, qLen, kvLen, headDim, kvLen);
    }

    /**
     * These sizes with K and V read as KV caches of this shape's {@code kvCapacity} keys per head,
     * filled to {@code filled} ({@code 0 ≤ filled ≤ kvCapacity}).
     */
    public AttentionShape filledTo(int filled) {
        return new AttentionShape(batch, qHeads, kvHeads, qLen, filled, headDim, kvCapacity);
    }

    /** Query heads per KV head: {@code Hq / Hkv} (1 for plain multi-head, Hq for MQA). */
    public int groupSize() {
        return qHeads / kvHeads;
    }

    /** The KV head that query head {@code qHead} reads: {@code qHead / (Hq / Hkv)}. */
    public int kvHead(int qHead) {
        return qHead / groupSize();
    }

    /**
     * {@code Skv − Sq}: with the causal mask, query {@code i} sees key {@code j} iff
     * {@code j ≤ i + keyOffset()} (bottom-right alignment).
     */
    public int keyOffset() {
        return kvLen - qLen;
    }

    /**
     * The FLOP count of the two matrix products over the (query, key) pairs the mask keeps:
     * {@code 4·B·Hq·D} per pair, {@code Sq·Skv} pairs per head, or with the causal mask (bottom-right
     * aligned) {@code Sq·Skv − Sq·(Sq − 1)/2} when {@code Sq ≤ Skv} and {@code Skv·(Skv + 1)/2}
     * when {@code Sq > Skv} (rows above the first key see nothing). Softmax work is not counted.
     */
    public double flops(boolean causal) {
        return 4.0 * batch * qHeads * headDim * pairs(causal);
    }

    /** The (query, key) pairs per head that the mask keeps. */
    double pairs(boolean causal) {
        double sq = qLen;
        double skv = kvLen;
        if (!causal) {
            return sq * skv;
        }
        return qLen <= kvLen ? sq * skv - sq * (sq - 1) / 2 : skv * (skv + 1) / 2;
    }

    @Override
    public String toString() {
        return describe(batch, qHeads, kvHeads, qLen, kvLen, headDim) + (kvCapacity == kvLen ? "" : " (KV capacity " + kvCapacity + ")");
    }

    private static String describe(int b, int hq, int hkv, int sq, int skv, int d) {
        return "B=" + b + " Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " Skv=" + skv + " D=" + d;
    }
}
