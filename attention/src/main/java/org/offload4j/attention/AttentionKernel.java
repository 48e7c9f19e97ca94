package org.offload4j.attention;

import org.offload4j.core.Tensor;

/**
 * The backend side of the FP8 attention op: what a backend hands out through
 * {@link org.offload4j.core.Backend#kernels(Class) Backend.kernels(AttentionKernel.class)}.
 *
 * <p>The {@link Attention} facade validates every argument first; implementations may assume
 * valid input and do no checks of their own.
 */
public interface AttentionKernel {

    /**
     * Writes, for every batch {@code b}, query head {@code h} and query row {@code i},
     * <pre>
     *   t_j    = softmaxScale · Σ_d q[b,h,i,d]·k[b,g,j,d]     for the visible keys j, g = h / (Hq/Hkv)
     *   out    = Σ_j softmax(t)_j · v[b,g,j,:]               rounded once to bf16 (nearest even)
     *   lse    = ln Σ_j exp(t_j)                            fp32, natural log
     * </pre>
     * on the dequantized inputs ({@code e4m3 × scale}), accumulating in at least fp32. Key
     * {@code j} is visible to query {@code i} when {@code causal} is false, or when
     * {@code j ≤ i + (Skv − Sq)}. A row with no visible key gets {@code out = 0} and
     * {@code lse = −∞}. Every element of {@code out} (and {@code lse}) is written.
     *
     * <p>K and V hold {@code C = shape.kvCapacity()} keys per (batch, KV head), of which the
     * first {@code Skv = shape.kvLen()} take part: key {@code j} of (b, g) is row
     * {@code (b·Hkv + g)·C + j}. Rows {@code Skv … C − 1} of each head must not reach the result
     * (a KV cache's free slots may hold anything; staging may copy them with the tensor), and the
     * result must be the one the same kernel gives on K and V holding exactly {@code Skv} keys.
     *
     * @param shape        the sizes, consistent with the tensors
     * @param q            fp8 {@code [B, Hq, Sq, D]}, scales {@code [1]} or {@code [B, Hq]}
     * @param k            fp8 {@code [B, Hkv, C, D]}, scales {@code [1]} or {@code [B, Hkv]}
     * @param v            fp8 {@code [B, Hkv, C, D]}, scales {@code [1]} or {@code [B, Hkv]}
     * @param causal       apply the bottom-right-aligned causal mask
     * @param softmaxScale the finite factor on the logits (the default already resolved)
     * @param out          bf16 {@code [B, Hq, Sq, D]}, any row stride, disjoint from the inputs
     * @param lse          fp32 {@code [B, Hq, Sq]}, any row stride, or {@code null}
     */
    void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal, float softmaxScale,
                 Tensor out, Tensor lse);
}
