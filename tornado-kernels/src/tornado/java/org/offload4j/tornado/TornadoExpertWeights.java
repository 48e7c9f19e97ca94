package org.offload4j.tornado;

import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import org.offload4j.core.Tensor;
import org.offload4j.moe.ExpertWeights;

/**
 * Expert weights prepared for the TornadoVM backend ({@link TornadoMoeKernel#prepare}, reached
 * through {@code MoeLayer.prepared()}): a host copy of both matrices in the form the kernels send
 * to the device ({@link ExpertArrays}: bf16 as raw bits, W4A16 as GPTQ words, zero points and
 * fp32 scales, any other format as fp32), and the plans compiled for these weights. Owned by this
 * object until {@link #close()}, which frees the plans' device buffers.
 *
 * <p>Why a copy of its own: {@link TornadoMoeKernel}'s shared plan cache is bounded for all
 * layers together, so a model with more MoE layers than it holds (Mixtral has 32) recompiles a
 * graph and sends a layer's experts at every call of a decode loop. Prepared weights keep their
 * plans with them, like a W4A16 packed weight, so each layer compiles once per capacity and
 * sends its experts once per plan.
 *
 * <p>Device memory: each plan holds its own device copy of the weights it reads (TornadoVM
 * shares device buffers only between the graphs of one execution plan), so at most
 * {@link #PLANS} plans are kept per prepared object, least recently used dropped first: a decode
 * loop's capacity and a prompt's. A model's prepared layers hold their experts on the device
 * once or twice each; close a layer to free them.
 */
final class TornadoExpertWeights implements ExpertWeights, AutoCloseable {
    /** Plans kept per prepared object: a decode loop's capacity and a prompt's (see the class comment). */
    static final int PLANS = 2;

    private final int experts;
    private final int dModel;
    private final int dFf;
    private final String sourceFormat;
    private final ExpertArrays gateUp;
    private final ExpertArrays down;
    private final Plans.Cache<List<Object>, AutoCloseable> plans = new Plans.Cache<>(PLANS);
    private volatile boolean closed;

    private TornadoExpertWeights(ExpertWeights source, ExpertArrays gateUp, ExpertArrays down) {
        this.experts = source.experts();
        this.dModel = source.dModel();
        this.dFf = source.dFf();
        this.sourceFormat = source.format();
        this.gateUp = gateUp;
        this.down = down;
    }

    /** A copy of {@code source}'s values in the kernels' form; the source is not retained. */
    static TornadoExpertWeights copyOf(ExpertWeights source) {
        return new TornadoExpertWeights(source, ExpertArrays.copyOf(source, Matrix.GATE_UP), ExpertArrays.copyOf(source, Matrix.DOWN));
    }

    ExpertArrays arrays(Matrix matrix) {
        return matrix == Matrix.GATE_UP ? gateUp : down;
    }

    /** Bytes of weight values held on the host (and per plan on the device). */
    long bytes() {
        return gateUp.bytes() + down.bytes();
    }

    /**
     * The plan for {@code key} among this object's plans, made by {@code make} on a miss.
     * Callers hold this object's lock, so that {@link #close()} cannot free a plan in use.
     */
    AutoCloseable plan(List<Object> key, Supplier<AutoCloseable> make) {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
        return plans.get(key, make);
    }

    /** Plans held now (tests). */
    synchronized int plansHeld() {
        return plans.size();
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

    /** Frees the plans (their device copies of the weights); later calls through a layer are refused. Idempotent. */
    @Override
    public synchronized void close() {
        closed = true;
        plans.clear();
    }

    @Override
    public String toString() {
        return "TornadoVM expert weights (" + format() + ", E=" + experts + ", d_model=" + dModel + ", d_ff=" + dFf + ")";
    }
}
