package org.offload4j.tornado;

import java.util.Objects;
import org.offload4j.core.Tensor;
import org.offload4j.moe.ExpertWeights;

/**
 * Expert weights prepared for the TornadoVM backend ({@link TornadoMoeKernel#prepare}, reached
 * through {@code MoeLayer.prepared()}): a host copy of both matrices in the form the kernels send
 * to the device ({@link ExpertArrays}: bf16 as raw bits, W4A16 as GPTQ words, zero points and
 * fp32 scales, any other format as fp32), and the plans compiled for these weights. Owned by this
 * object until {@link #close()}, which frees the plans' device buffers.
 *
 * <p>What it adds to passing the weights as they are (for which the kernel keeps the same
 * {@link ExpertPlans}, weakly keyed by the weights object): the caller may close the source
 * weights, and {@link #close()} frees the device copies at once instead of when the source is
 * collected or closed. The host copy is TornadoVM's arrays, which live in automatic arenas:
 * {@code close()} drops them, and the garbage collector frees them.
 *
 * <p>The plans belong to the kernel that prepared the copy ({@link #ownedBy}): another
 * {@code TornadoMoeKernel} (another device) given this copy treats it as weights it did not
 * prepare, with plans of its own over the same host arrays, which it frees at its next call
 * after this copy is closed.
 */
final class TornadoExpertWeights implements ExpertWeights, AutoCloseable {
    private final int experts;
    private final int dModel;
    private final int dFf;
    private final String sourceFormat;
    private final ExpertPlans plans;
    private final TornadoMoeKernel owner;
    private volatile boolean closed;

    private TornadoExpertWeights(ExpertWeights source, TornadoMoeKernel owner) {
        this.owner = owner;
        this.experts = source.experts();
        this.dModel = source.dModel();
        this.dFf = source.dFf();
        this.sourceFormat = source instanceof TornadoExpertWeights other ? other.sourceFormat : source.format();
        this.plans = new ExpertPlans(ExpertArrays.copyOf(source, Matrix.GATE_UP), ExpertArrays.copyOf(source, Matrix.DOWN));
    }

    /** A copy of {@code source}'s values in the kernels' form for {@code owner}'s plans; the source is not retained. */
    static TornadoExpertWeights copyOf(ExpertWeights source, TornadoMoeKernel owner) {
        return new TornadoExpertWeights(source, owner);
    }

    /** Whether {@code kernel} prepared this copy (and so keeps its plans here). */
    boolean ownedBy(TornadoMoeKernel kernel) {
        return owner == kernel;
    }

    /** The host copy of {@code matrix}, made at construction. */
    ExpertArrays arrays(Matrix matrix) {
        ExpertArrays a = plans.held(matrix);
        if (a == null) {
            throw new IllegalStateException(this + " is closed");
        }
        return a;
    }

    /** Bytes of weight values held on the host (and per plan on the device). */
    long bytes() {
        return plans.bytes();
    }

    /**
     * This copy's plans. Callers hold this object's lock while they use them, so that
     * {@link #close()} cannot free a plan in use, and check {@link #isAlive()} under it.
     */
    ExpertPlans plans() {
        return plans;
    }

    /** Plans held now (tests). */
    synchronized int plansHeld() {
        return plans.plansHeld();
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
        return sourceFormat + ", TornadoVM copy";
    }

    @Override
    public boolean isAlive() {
        return !closed;
    }

    /** Always false: the copy lives in TornadoVM's own arrays, which no tensor can view. */
    @Override
    public boolean overlaps(Tensor t) {
        return false;
    }

    @Override
    public void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols, float[] dst, int dstOffset, int dstStride) {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
        Objects.checkIndex(expert, experts);
        Objects.checkFromIndexSize(row0, rows, matrix.rows(this));
        Objects.checkFromIndexSize(col0, cols, matrix.cols(this));
        if (rows == 0 || cols == 0) {
            return;
        }
        Objects.checkFromIndexSize(dstOffset, (long) (rows - 1) * dstStride + cols, dst.length);
        ExpertArrays a = arrays(matrix);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                dst[dstOffset + r * dstStride + c] = a.value(expert, row0 + r, col0 + c);
            }
        }
    }

    /**
     * Frees the plans (their device copies of the weights) under the owning kernel's lock, as
     * every other plan is freed, and drops the host copy; later calls are refused. Idempotent.
     */
    @Override
    public void close() {
        synchronized (owner) {
            synchronized (this) {
                closed = true;
                plans.close();
                plans.dropArrays();
            }
        }
    }

    @Override
    public String toString() {
        return "TornadoVM expert weights (" + format() + ", E=" + experts + ", d_model=" + dModel + ", d_ff=" + dFf + ")";
    }
}
