package org.offload4j.attention;

import org.offload4j.core.Tensor;

/**
 * The two host loops of {@link Fp8Quantizer} on bf16 rows, which a backend may run faster (found
 * through {@code Backend.kernels}; the {@link Attention} facade uses them when it quantizes bf16
 * inputs). Results must be those of {@link Fp8Quantizer#SCALAR} bit for bit. Arguments are
 * checked by the caller: {@code x} is a live bf16 host tensor, {@code out} a live FP8 E4M3 host
 * tensor of the same shape, {@code 0 ≤ fromRow ≤ toRow ≤ rows}, {@code scale} finite and
 * positive.
 *
 * <p>Why a kernel: the scalar loops take about 10 ns an element (a bf16 decode, a division and a
 * branchy rounding each), so quantizing Q, K and V cost a causal prefill with bf16 inputs (Hq = 8,
 * Hkv = 2, S = 1024, D = 128, one thread, Zen 4) 15 ms beside the attention's 39 ms.
 */
public interface Fp8QuantizeKernel {
    /**
     * The largest magnitude in rows {@code [fromRow, toRow)} of {@code x} (0 for no rows); NaN or
     * +∞ when any value there is not finite (then not necessarily the one the scalar loop would
     * report: the caller finds that one itself).
     */
    float amax(Tensor x, long fromRow, long toRow);

    /**
     * {@code out[r, c] = Fp8.floatToE4m3(x[r, c] / scale, SATURATE)} for rows
     * {@code [fromRow, toRow)}: the quotient rounded once to float, then to E4M3 (nearest, ties
     * to even, saturating at ±448, NaN to the canonical NaN).
     */
    void encode(Tensor x, long fromRow, long toRow, float scale, Tensor out);
}
