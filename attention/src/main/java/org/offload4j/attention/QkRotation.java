package org.offload4j.attention;

import org.offload4j.core.Tensor;

/**
 * An orthonormal transform of each row of length {@code D}, applied to Q and K before they are
 * quantized to FP8.
 *
 * <p>For an orthonormal {@code R} ({@code R·Rᵀ = I}), {@code (Q·R)·(K·R)ᵀ = Q·Kᵀ}, so rotating
 * both Q and K leaves the attention logits unchanged while spreading a few large channels
 * (outliers) over all {@code D} coordinates; that shrinks the amax-based FP8 scale and with it
 * the quantization error of the ordinary channels. {@link QkRotations} gives the library's
 * implementations, on the Hadamard op ({@code hadacore}); any orthonormal transform is correct.
 *
 * <p>Implementations must write every element of {@code out}, must not modify {@code in}, and
 * must be safe to call from several threads at once if the same instance is shared.
 */
@FunctionalInterface
public interface QkRotation {

    /**
     * Writes {@code out[r] = in[r] · R} for every row {@code r} ({@code D = in.cols()} elements),
     * rounded to bf16.
     *
     * @param in  bf16 rows of {@code D} elements (shape {@code [B, H, S, D]}), any row stride
     * @param out bf16, same shape as {@code in}, contiguous, disjoint from {@code in}
     */
    void rotate(Tensor in, Tensor out);
}
