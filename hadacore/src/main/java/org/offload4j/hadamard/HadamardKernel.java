package org.offload4j.hadamard;

import org.offload4j.core.Tensor;

/**
 * The backend side of the Hadamard op: what a backend hands out through
 * {@link org.offload4j.core.Backend#kernels(Class) Backend.kernels(HadamardKernel.class)}.
 *
 * <p>The {@link Hadamard} facade validates every argument first; implementations may assume
 * valid input and do no checks of their own.
 */
public interface HadamardKernel {

    /**
     * For every row {@code x} of {@code in} ({@code size.d()} elements), writes the same row of
     * {@code out} as
     * <pre>
     *   u = x ⊙ preSigns                              (skipped when preSigns is null)
     *   v = scale · u · H_d      or, when transpose,  scale · u · H_dᵀ
     *   y = v ⊙ postSigns                             (skipped when postSigns is null)
     * </pre>
     * with {@code H_d = H_m ⊗ H_n} as {@link HadamardSize} and {@link HadamardMatrices} define it,
     * computed in at least fp32 and rounded once to the output dtype (round to nearest, ties to
     * even). Every output element is written.
     *
     * @param in        rows of {@code size.d()} elements, FP32, BF16 or FP16, any row stride
     * @param out       same dtype and shape as {@code in}; either the very same storage as
     *                  {@code in} (in place) or disjoint from it
     * @param size      the plan for {@code d = in.cols()}
     * @param scale     a finite factor applied to every output
     * @param transpose multiply by {@code H_dᵀ} instead of {@code H_d}
     * @param preSigns  {@code d} factors (±1 in practice) applied to the input, or {@code null}
     * @param postSigns {@code d} factors (±1 in practice) applied to the output, or {@code null}
     */
    void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                   float[] preSigns, float[] postSigns);
}
