package org.offload4j.core.numerics;

/**
 * What a float-to-fp8 conversion does with values beyond the largest finite fp8 value
 * (after rounding), mirroring CUDA's {@code __nv_saturation_t}.
 */
public enum Fp8Overflow {
    /**
     * {@code __NV_SATFINITE}: overflow and infinities clamp to ±max finite (448 for E4M3,
     * 57344 for E5M2). NaN stays NaN. This is what quantizers use.
     */
    SATURATE,
    /**
     * {@code __NV_NOSAT}: overflow and infinities become NaN in E4M3 (which has no infinity)
     * and ±infinity in E5M2.
     */
    NO_SATURATE
}
