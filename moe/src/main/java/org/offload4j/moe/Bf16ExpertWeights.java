package org.offload4j.moe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Objects;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * Expert weights stored as bf16 tensors: {@code w1 [E, d_model, 2·d_ff]} (gate | up) and
 * {@code w2 [E, d_ff, d_model]}, any row stride. {@link #decode} widens exactly (a 16-bit shift).
 * The tensors may be in host memory or on a backend's device ({@link #decode} then cannot read
 * them; the backend's kernels can). {@link #of} makes a view of the caller's tensors, which it
 * neither copies nor closes; {@link #adopt} one that closes them with {@link #close()} (a backend's
 * device copy from {@link MoeKernel#prepare} is one).
 */
public final class Bf16ExpertWeights implements ExpertWeights, AutoCloseable {
    private final Tensor w1;
    private final Tensor w2;
    private final int experts;
    private final int dModel;
    private final int dFf;
    private final boolean owner;

    private Bf16ExpertWeights(Tensor w1, Tensor w2, int experts, int dModel, int dFf, boolean owner) {
        this.w1 = w1;
        this.w2 = w2;
        this.experts = experts;
        this.dModel = dModel;
        this.dFf = dFf;
        this.owner = owner;
    }

    /**
     * A view of the two bf16 weight tensors.
     *
     * @param w1 {@code [E, d_model, 2·d_ff]} bf16, open; columns {@code 0..d_ff−1} gate, the rest up
     * @param w2 {@code [E, d_ff, d_model]} bf16, open
     * @throws IllegalArgumentException naming the tensor when one is null, closed, not bf16, not of
     *         rank 3, has no experts, an odd last dimension, sizes beyond
     *         {@link MoeLayer#MAX_EXPERTS} / {@link MoeLayer#MAX_DIM}, when the two disagree on
     *         {@code E}, {@code d_model} or {@code d_ff}, or when they are on different devices
     */
    public static Bf16ExpertWeights of(Tensor w1, Tensor w2) {
        return checked(w1, w2, false);
    }

    /**
     * As {@link #of}, but the weights own the two tensors: {@link #close()} closes them. A rejected
     * call closes nothing.
     */
    public static Bf16ExpertWeights adopt(Tensor w1, Tensor w2) {
        return checked(w1, w2, true);
    }

    private static Bf16ExpertWeights checked(Tensor w1, Tensor w2, boolean owner) {
        Args.live(w1, "w1");
        Args.live(w2, "w2");
        Args.dtype(w1, "w1", DType.BF16);
        Args.dtype(w2, "w2", DType.BF16);
        if (w1.rank() != 3) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape())
                    + "; expected rank 3, [E, d_model, 2·d_ff]");
        }
        if (w2.rank() != 3) {
            throw new IllegalArgumentException("w2 has shape " + Arrays.toString(w2.shape())
                    + "; expected rank 3, [E, d_ff, d_model]");
        }
        long e = w1.dim(0);
        if (e < 1 || e > MoeLayer.MAX_EXPERTS) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", E = " + e
                    + " experts; accepted: 1.." + MoeLayer.MAX_EXPERTS);
        }
        long dModel = w1.dim(1);
        long twoDff = w1.dim(2);
        if (dModel < 1 || dModel > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", d_model = " + dModel
                    + "; accepted: 1.." + MoeLayer.MAX_DIM);
        }
        if (twoDff < 2 || twoDff % 2 != 0 || twoDff / 2 > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", last dimension " + twoDff
                    + "; expected 2·d_ff (gate | up), an even number with 1 ≤ d_ff ≤ " + MoeLayer.MAX_DIM);
        }
        long dFf = twoDff / 2;
        if (w2.dim(0) != e || w2.dim(1) != dFf || w2.dim(2) != dModel) {
            throw new IllegalArgumentException("w2 has shape " + Arrays.toString(w2.shape()) + "; expected [E, d_ff, d_model] = ["
                    + e + ", " + dFf + ", " + dModel + "] to match w1 " + Arrays.toString(w1.shape()));
        }
        Args.sameDevice(w1, "w1", w2, "w2");
        return new Bf16ExpertWeights(w1, w2, (int) e, (int) dModel, (int) dFf, owner);
    }

    /** {@code [E, d_model, 2·d_ff]}: gate | up. */
    public Tensor w1() {
        return w1;
    }

    /** {@code [E, d_ff, d_model]}: down. */
    public Tensor w2() {
        return w2;
    }

    /** The tensor that holds {@code matrix}. */
    public Tensor tensor(Matrix matrix) {
        return matrix == Matrix.GATE_UP ? w1 : w2;
    }

    @Override
    public int experts() {
        return experts;
    }

    @Override
    public int dModel() {
        return dModel;
    }

    @Override
    public int dFf() {
        return dFf;
    }

    @Override
    public String format() {
        return "bf16";
    }

    @Override
    public boolean isAlive() {
        return w1.isAlive() && w2.isAlive();
    }

    @Override
    public boolean overlaps(Tensor t) {
        return t.overlaps(w1) || t.overlaps(w2);
    }

    @Override
    public void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols,
                       float[] dst, int dstOffset, int dstStride) {
        int nRows = matrix.rows(this);
        Objects.checkIndex(expert, experts);
        Objects.checkFromIndexSize(row0, rows, nRows);
        Objects.checkFromIndexSize(col0, cols, matrix.cols(this));
        if (rows == 0 || cols == 0) {
            return;
        }
        Objects.checkFromIndexSize(dstOffset, (long) (rows - 1) * dstStride + cols, dst.length);
        Tensor t = tensor(matrix);
        MemorySegment seg = t.segment();
        for (int r = 0; r < rows; r++) {
            long src = t.rowByteOffset((long) expert * nRows + row0 + r) + 2L * col0;
            int d = dstOffset + r * dstStride;
            for (int c = 0; c < cols; c++) {
                dst[d + c] = Float.intBitsToFloat((seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, src + 2L * c) & 0xFFFF) << 16);
            }
        }
    }

    /** Whether {@link #close()} closes the tensors ({@link #adopt}). */
    public boolean ownsTensors() {
        return owner;
    }

    /** Closes the two tensors when this object owns them ({@link #adopt}); a view ({@link #of}) closes nothing. Idempotent. */
    @Override
    public void close() {
        if (owner) {
            try {
                w1.close();
            } finally {
                w2.close();
            }
        }
    }

    @Override
    public String toString() {
        return "Bf16ExpertWeights[E=" + experts + ", d_model=" + dModel + ", d_ff=" + dFf + "]";
    }
}
