package org.offload4j.attention;

/**
 * Options of one attention call. Immutable; start from {@link #defaults()} and derive with the
 * {@code with…} methods.
 *
 * @param causal      apply the bottom-right-aligned causal mask (see {@link Attention})
 * @param scale       the factor on the logits {@code Q·Kᵀ}; {@code NaN} means the default
 *                    {@code 1/√D}; otherwise finite
 * @param granularity how the bf16 entry points quantize Q, K and V: one scale per tensor or
 *                    per (batch, head). Ignored by the FP8 entry points, whose inputs carry their
 *                    scales.
 * @param rotation    an orthonormal rotation applied to Q and K before the bf16 entry points
 *                    quantize them, or {@code null} for none. Ignored by the FP8 entry points
 *                    (rotate before quantizing: {@link Fp8Quantizer#quantize(org.offload4j.core.Tensor,
 *                    ScaleGranularity, QkRotation)}).
 */
public record AttentionOptions(boolean causal, float scale, ScaleGranularity granularity, QkRotation rotation) {

    private static final AttentionOptions DEFAULTS =
            new AttentionOptions(false, Float.NaN, ScaleGranularity.PER_TENSOR, null);

    /**
     * @throws IllegalArgumentException when {@code scale} is infinite or {@code granularity} is null
     */
    public AttentionOptions {
        if (Float.isInfinite(scale)) {
            throw new IllegalArgumentException("scale = " + scale + " must be finite, or NaN for the default 1/sqrt(D)");
        }
        if (granularity == null) {
            throw new IllegalArgumentException("granularity must not be null; accepted: PER_TENSOR, PER_HEAD");
        }
    }

    /** Not causal, scale {@code 1/√D}, per-tensor quantization, no rotation. */
    public static AttentionOptions defaults() {
        return DEFAULTS;
    }

    public AttentionOptions withCausal(boolean causal) {
        return new AttentionOptions(causal, scale, granularity, rotation);
    }

    /** A finite logit scale, or {@code NaN} for the default {@code 1/√D}. */
    public AttentionOptions withScale(float scale) {
        return new AttentionOptions(causal, scale, granularity, rotation);
    }

    public AttentionOptions withGranularity(ScaleGranularity granularity) {
        return new AttentionOptions(causal, scale, granularity, rotation);
    }

    /**
     * The Q/K rotation for the bf16 entry points, or {@code null} for none. Use
     * {@link QkRotations#hadamard()} (or {@link QkRotations#randomizedHadamard(long)}): it
     * rotates Q and K by the same orthonormal Hadamard matrix, which leaves {@code Q·Kᵀ}
     * unchanged and spreads channel outliers before FP8 quantization. V is never rotated.
     */
    public AttentionOptions withRotation(QkRotation rotation) {
        return new AttentionOptions(causal, scale, granularity, rotation);
    }

    /** The logit scale for head dimension {@code d}: {@link #scale()} or, when NaN, {@code (float) (1/√d)}. */
    public float resolvedScale(int d) {
        return Float.isNaN(scale) ? (float) (1.0 / Math.sqrt(d)) : scale;
    }
}
