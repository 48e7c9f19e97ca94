package org.offload4j.moe;

import org.offload4j.core.Tensor;

/**
 * The weights of the {@code E} expert MLPs, in some storage format.
 *
 * <p>Every format describes the same two logical matrices per expert {@code e}:
 * <pre>
 *   W1[e]  [d_model, 2·d_ff]   columns 0 .. d_ff−1 = gate, d_ff .. 2·d_ff−1 = up   ({@link Matrix#GATE_UP})
 *   W2[e]  [d_ff, d_model]                                                          ({@link Matrix#DOWN})
 * </pre>
 * and {@link #decode} turns any block of them into fp32: exactly for {@link Bf16ExpertWeights},
 * the dequantized values for a quantized format ({@link W4A16ExpertWeights}: int4 with group
 * scales, {@code (q − z)·s} rounded once to fp32). The generic path of a backend sees nothing but
 * {@code decode}, so a new format plugs in by implementing this interface; a backend may add a
 * fast path for a format it knows ({@code instanceof}), as the CPU backend does for bf16.
 *
 * <p>Implementations are immutable views over weight tensors (the caller's, or, for
 * {@link W4A16ExpertWeights#quantize} and a backend's copy from {@link MoeKernel#prepare}, their
 * own until closed); they must stay open while a layer uses them.
 */
public interface ExpertWeights {

    /** The two weight matrices of an expert. */
    enum Matrix {
        /** {@code W1[e]}, {@code [d_model, 2·d_ff]}: the gate and up projections side by side. */
        GATE_UP,
        /** {@code W2[e]}, {@code [d_ff, d_model]}: the down projection. */
        DOWN;

        /** Rows (the input dimension) of this matrix in {@code w}. */
        public int rows(ExpertWeights w) {
            return this == GATE_UP ? w.dModel() : w.dFf();
        }

        /** Columns (the output dimension) of this matrix in {@code w}. */
        public int cols(ExpertWeights w) {
            return this == GATE_UP ? 2 * w.dFf() : w.dModel();
        }
    }

    /** The number of experts {@code E ≥ 1}. */
    int experts();

    /** The model (hidden) dimension. */
    int dModel();

    /** The expert MLP's inner dimension (the width of gate and of up). */
    int dFf();

    /** A short name of the storage format, e.g. {@code bf16}. */
    String format();

    /** False once a tensor behind the weights was closed. */
    boolean isAlive();

    /** True when {@code t} shares at least one byte with a tensor behind the weights. */
    boolean overlaps(Tensor t);

    /**
     * Writes the fp32 values of rows {@code row0 .. row0+rows−1} and columns
     * {@code col0 .. col0+cols−1} of {@code matrix} of expert {@code expert} to {@code dst}: element
     * {@code (row0 + r, col0 + c)} goes to {@code dst[dstOffset + r·dstStride + c]}. Other
     * elements of {@code dst} are not touched. Safe to call from several threads at once.
     *
     * @throws IndexOutOfBoundsException when the block is outside the matrix or {@code dst}
     */
    void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols,
                float[] dst, int dstOffset, int dstStride);
}
