package org.offload4j.cuda.moe;

import java.lang.foreign.Arena;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.CudaStream;
import org.offload4j.cuda.DeviceBuffer;
import org.offload4j.cuda.w4a16.TcLaunch;
import org.offload4j.cuda.w4a16.TcPackedLayout;
import org.offload4j.cuda.w4a16.TcWorkspace;
import org.offload4j.moe.ExpertWeights;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;

/**
 * The W4A16 expert weights of one {@link W4A16ExpertWeights} in the tensor-core layout on the
 * device, for the grouped launch of {@code w4a16_tc.cu}: per matrix one buffer each of packed
 * weights, scales and zeros holding the {@code E} experts' {@link TcPackedLayout}s back to back
 * (the kernel's per-expert strides), plus one SplitK {@link TcWorkspace} for the calls on them.
 *
 * <p>Kept per {@link W4A16ExpertWeights} instance in an {@link org.offload4j.moe.ExpertWeightsCache}
 * ({@link CudaMoeKernel}): packed at the weights' first call, freed at the next MoE call once
 * they are collected or closed. The weights are immutable views (their contract), so the copy
 * never goes stale.
 */
final class TcExperts implements AutoCloseable {
    /** One matrix (W1 or W2) of all experts. */
    record Matrix(TcLaunch.DeviceWeight weight, DeviceBuffer qweight, DeviceBuffer scales, DeviceBuffer zeros) {
        void close() {
            qweight.close();
            scales.close();
            if (zeros != null) {
                zeros.close();
            }
        }
    }

    private final Matrix gateUp;
    private final Matrix down;
    private final TcWorkspace workspace;

    private TcExperts(Matrix gateUp, Matrix down, TcWorkspace workspace) {
        this.gateUp = gateUp;
        this.down = down;
        this.workspace = workspace;
    }

    Matrix matrix(ExpertWeights.Matrix m) {
        return m == ExpertWeights.Matrix.GATE_UP ? gateUp : down;
    }

    TcWorkspace workspace() {
        return workspace;
    }

    /**
     * Whether the tensor-core path takes these weights: each expert's packed layout within int32
     * word indexing. (They are packed on the host, where {@link QuantizedWeight} keeps its tensors.)
     */
    static boolean covers(W4A16ExpertWeights w) {
        for (ExpertWeights.Matrix m : ExpertWeights.Matrix.values()) {
            QuantizedWeight first = w.weight(m, 0);
            long words = (long) TcPackedLayout.slabs(first.n()) * (TcPackedLayout.paddedK(first.k()) / TcPackedLayout.K16) * 128;
            if (words > Integer.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    static TcExperts pack(CudaDevice device, W4A16ExpertWeights w) {
        Matrix a = null;
        try {
            a = packMatrix(device, w, ExpertWeights.Matrix.GATE_UP);
            Matrix b = packMatrix(device, w, ExpertWeights.Matrix.DOWN);
            return new TcExperts(a, b, new TcWorkspace(device));
        } catch (RuntimeException e) {
            if (a != null) {
                a.close();
            }
            throw e;
        }
    }

    /** Packs expert by expert (one expert's layout on the host at a time) into three device buffers. */
    private static Matrix packMatrix(CudaDevice device, W4A16ExpertWeights w, ExpertWeights.Matrix m) {
        int experts = w.experts();
        DeviceBuffer q = null;
        DeviceBuffer s = null;
        DeviceBuffer z = null;
        try (CudaStream stream = device.createStream()) {
            TcLaunch.DeviceWeight dw = null;
            for (int e = 0; e < experts; e++) {
                try (Arena arena = Arena.ofConfined()) {
                    TcPackedLayout l = TcPackedLayout.pack(w.weight(m, e), arena);
                    if (e == 0) {
                        q = device.allocate(experts * l.qweight().byteSize());
                        s = device.allocate(experts * l.scales().byteSize());
                        z = l.zeros() == null ? null : device.allocate(experts * l.zeros().byteSize());
                        dw = new TcLaunch.DeviceWeight(q.address(), s.address(), z == null ? 0 : z.address(), l.k(), l.n(),
                                l.groupSize(), l.scaleKind(), TcLaunch.DeviceWeight.qwVectors(l),
                                TcLaunch.DeviceWeight.scaleElements(l), TcLaunch.DeviceWeight.zeroWords(l));
                    }
                    stream.copyToDevice(q.address() + e * l.qweight().byteSize(), l.qweight(), l.qweight().byteSize());
                    stream.copyToDevice(s.address() + e * l.scales().byteSize(), l.scales(), l.scales().byteSize());
                    if (z != null) {
                        stream.copyToDevice(z.address() + e * l.zeros().byteSize(), l.zeros(), l.zeros().byteSize());
                    }
                    stream.synchronize();   // the arena's segments are freed next
                }
            }
            return new Matrix(dw, q, s, z);
        } catch (RuntimeException e) {
            for (DeviceBuffer b : new DeviceBuffer[] {q, s, z}) {
                if (b != null) {
                    b.close();
                }
            }
            throw e;
        }
    }

    @Override
    public void close() {
        workspace.close();   // waits for a call that holds it
        gateUp.close();
        down.close();
    }
}
