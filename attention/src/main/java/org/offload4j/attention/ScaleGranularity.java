package org.offload4j.attention;

/**
 * How many float32 scales an FP8 input carries: one for the whole tensor, or one per
 * (batch, head) pair.
 */
public enum ScaleGranularity {
    /** One scale for the whole {@code [B, H, S, D]} tensor: a scales tensor of shape {@code [1]}. */
    PER_TENSOR,
    /** One scale per (batch, head): a scales tensor of shape {@code [B, H]}, row-major. */
    PER_HEAD
}
