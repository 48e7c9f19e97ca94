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

    /**
     * Whether {@link #matmulActOrder} gathers x's columns itself, wherever x lives. When false (the
     * default), the {@link W4A16} facade gathers act-order activations on the host and calls
     * {@link #matmul}, so x of an act-order weight must then be in host memory.
     */
    default boolean gathersColumns() {
        return false;
    }

    /**
     * {@code y = x[:, order] · W (+ bias)} for an act-order weight: the columns of x gathered into
     * the order of W's stored rows ({@code order[r]} is the column of x that stored row r
     * multiplies), then {@link #matmul}. The facade calls it only when {@link #gathersColumns} is
     * true, for every act-order call.
     *
     * @param order the weight's row order, the permutation {@link #prepack} saw as
     *              {@link QuantizedWeight#rowOrder()}; not to be modified
     */
    default void matmulActOrder(Tensor x, int[] order, PackedWeight w, Tensor bias, Tensor y) {
        throw new UnsupportedOperationException(getClass().getName() + " does not gather columns; the facade does, on the host");
    }
}
