/**
 * The W4A16 op: {@code Y[m,n] = X[m,k] · W[k,n] (+ bias[n])} with 16-bit activations and a
 * 4-bit, group-quantized weight.
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>{@code X} is bf16 or fp16, rank 2 {@code [m, k]}, rows may be strided; {@code Y} has the
 *       same dtype, shape {@code [m, n]}, may be strided, and shares no byte with {@code X} or
 *       the bias. {@code m = 0} is a no-op.</li>
 *   <li>{@code bias} is optional, rank 1 {@code [n]}, of X's dtype or fp32.</li>
 *   <li>The weight is {@code w[kk, j] = (q[kk, j] − z[g(kk), j]) · s[g(kk), j]} with
 *       {@code q, z ∈ [0, 15]}, one scale and zero per group of {@code groupSize} consecutive
 *       rows of one column ({@code g(kk) = kk / groupSize}). {@code groupSize ∈ {32, 64, 128, k}};
 *       {@code k} is a multiple of 8 and of the group size; {@code n} a multiple of 8.</li>
 *   <li>Backends accumulate in fp32 and round once to Y's dtype (nearest, ties to even). The
 *       result is within relative L2 error 5e-3 of the float64 product of X and the dequantized
 *       weight ({@link org.offload4j.w4a16.W4A16Reference}).</li>
 *   <li>Every argument is checked by {@link org.offload4j.w4a16.W4A16} before any work; a bad one
 *       gives an {@link IllegalArgumentException} naming it, and Y is left untouched.</li>
 * </ul>
 *
 * <h2>Interchange format (GPTQ tensors)</h2>
 * <pre>
 * qweight  INT32 [k/8, n]     word (r, j) holds column j, rows kk = 8r … 8r+7
 *
 *   bit 31    28 27    24 23    20 19    16 15    12 11     8 7      4 3      0
 *      +--------+--------+--------+--------+--------+--------+--------+--------+
 *      | q 8r+7 | q 8r+6 | q 8r+5 | q 8r+4 | q 8r+3 | q 8r+2 | q 8r+1 | q 8r+0 |
 *      +--------+--------+--------+--------+--------+--------+--------+--------+
 *      q[8r + i, j] = (qweight[r, j] &gt;&gt;&gt; 4i) &amp; 0xF
 *
 * qzeros   INT32 [k/g, n/8]   word (gi, c) holds group gi, columns j = 8c … 8c+7
 *
 *   bit 31    28 27    24 23    20 19    16 15    12 11     8 7      4 3      0
 *      +--------+--------+--------+--------+--------+--------+--------+--------+
 *      | z 8c+7 | z 8c+6 | z 8c+5 | z 8c+4 | z 8c+3 | z 8c+2 | z 8c+1 | z 8c+0 |
 *      +--------+--------+--------+--------+--------+--------+--------+--------+
 *      z[gi, 8c + i] = (qzeros[gi, c] &gt;&gt;&gt; 4i) &amp; 0xF
 *
 * scales   FP16 | BF16 | FP32 [k/g, n]   s[gi, j]
 * </pre>
 * Words are ordinary little-endian int32 values, as PyTorch stores them. The symmetric variant
 * has no {@code qzeros}; its zero is 8 for every group and column.
 *
 * <p><b>Zero-point convention.</b> {@code qzeros} store {@code z} itself (the "GPTQ v2"
 * convention, as in GPTQModel's {@code v2} format and in AutoRound). Classic AutoGPTQ checkpoints
 * ("v1") store {@code z − 1}; a loader of those must add 1 to each zero nibble first:
 * {@link org.offload4j.w4a16.QuantizedWeight#fromGptqV1Zeros} does that.
 *
 * <p><b>Act-order ({@code desc_act}, {@code g_idx}).</b> GPTQ checkpoints quantized in
 * act-order give each row its group through {@code g_idx} instead of {@code kk / groupSize}.
 * {@link org.offload4j.w4a16.QuantizedWeight#fromGptqActOrder} permutes the rows once, at load
 * time, so that groups are contiguous and records the permutation; the
 * {@link org.offload4j.w4a16.W4A16} facade gathers the columns of X into the same order before
 * any backend runs, so backends never see {@code g_idx}. {@link org.offload4j.w4a16.GptqCheckpoint}
 * loads checkpoint layers this way (docs/interop.md has the whole mapping).
 *
 * <p>Backends turn the interchange weight into their own layout once
 * ({@link org.offload4j.w4a16.W4A16#prepare}); the CPU backend's layout is documented in its
 * kernel class.
 */
package org.offload4j.w4a16;
