/**
 * The FP8 attention op: {@code O = softmax(scale · Q·Kᵀ + mask) · V} per (batch, head) on FP8
 * E4M3 inputs with float32 scales.
 *
 * <ul>
 *   <li>{@link org.offload4j.attention.Attention}: the facade, with the full contract (shapes,
 *       GQA/MQA, the bottom-right causal mask, rows with no visible key, rejected input).</li>
 *   <li>{@link org.offload4j.attention.Fp8Tensor}: an FP8 input, data and scales (per tensor or
 *       per batch·head); {@link org.offload4j.attention.Fp8Quantizer} builds one from bf16 with
 *       amax scales, optionally after a {@link org.offload4j.attention.QkRotation};
 *       {@link org.offload4j.attention.QkRotations} gives the Hadamard rotations.</li>
 *   <li>{@link org.offload4j.attention.AttentionReference}: the float64 oracle;
 *       {@link org.offload4j.attention.AccuracyReport}: errors against it on the dequantized and
 *       on the original inputs, with and without rotation.</li>
 *   <li>{@link org.offload4j.attention.AttentionKernel}: the SPI a backend implements.</li>
 * </ul>
 */
package org.offload4j.attention;
