package org.offload4j.w4a16;

import org.offload4j.core.Tensor;

/**
 * What a backend implements for the W4A16 op; found through
 * {@link org.offload4j.core.Backend#kernels(Class)}. {@link W4A16} validates every argument first,
 * so implementations may assume the contract in the {@linkplain org.offload4j.w4a16 package
 * documentation} holds and only compute.
 */
public interface W4A16Kernel {

    /**
     * Copies {@code w} into this backend's layout. The result does not depend on {@code w}
     * afterwards: the caller may close or change it.
     */
    PackedWeight prepack(QuantizedWeight w);

    /**
     * {@code y = x · W (+ bias)}, fp32 accumulation, one rounding to y's dtype.
     *
     * @param x    bf16 or fp16 {@code [m, k]}, rows possibly strided
     * @param w    a weight this kernel packed, not closed
     * @param bias {@code [n]} of x's dtype or fp32, or {@code null}
     * @param y    x's dtype, {@code [m, n]}, rows possibly strided, disjoint from x and bias; every
     *             element is written
     */
    void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y);
}
