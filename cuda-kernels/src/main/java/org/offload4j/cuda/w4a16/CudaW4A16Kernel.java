package org.offload4j.cuda.w4a16;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.CudaFunction;
import org.offload4j.cuda.CudaStream;
import org.offload4j.cuda.DeviceBuffer;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16Kernel;

/**
 * The W4A16 op on a CUDA device: SplitK partial sums ({@code o4j_w4a16_splitk_<dtype>}) into an
 * fp32 workspace, then the fixed-order reduce with bias and rounding
 * ({@code o4j_w4a16_reduce_<dtype>}); {@code src/main/cuda/w4a16.cu}, contract in
 * {@link W4A16Launch}, split count from {@link SplitKPlan} with the device's SM count.
 *
 * <p><b>Prepack</b> uploads the GPTQ tensors unchanged ({@code qweight}, {@code qzeros} or nothing
 * when symmetric), the scales widened to fp32 and, for an act-order weight, its row order, whose
 * gather ({@link ActOrderGather}) runs on the device before stage 1 of every call. A call's rows
 * go in chunks of {@link #rowsPerLaunch(int)}, which all use one workspace in turn.
 */
public final class CudaW4A16Kernel implements W4A16Kernel {
    /** Most rows of x per launch pair (gridDim.y limit of stage 1). */
    static final int MAX_ROWS_PER_LAUNCH = W4A16Launch.MAX_GRID_Y * W4A16Launch.TILE_M;

    private final CudaDevice device;

    public CudaW4A16Kernel(CudaDevice device) {
        this.device = device;
    }

    @Override
    public PackedWeight prepack(QuantizedWeight w) {
        int k = w.k();
        int n = w.n();
        int groups = w.groups();
        checkSize(k, n, groups);
        return prepack(w, k, n, groups);
    }

    /** At most this many 32-bit words of packed weight (or scales): one Java array. */
    static final long MAX_WORDS = Integer.MAX_VALUE - 8;

    /**
     * Refuses a weight too large for this kernel's host arrays. The tensor-core kernel hands the
     * weights too large for its own layout to this one, so such a weight fits neither: it once
     * failed here with a NegativeArraySizeException from an int product.
     */
    static void checkSize(int k, int n, int groups) {
        long words = (long) (k / 8) * n;
        if (words > MAX_WORDS || (long) groups * n > MAX_WORDS) {
            throw new UnsupportedOperationException("a [" + k + ", " + n + "] int4 weight has " + words + " 32-bit words and "
                    + (long) groups * n + " scales; the CUDA W4A16 kernels take at most " + MAX_WORDS + " of each: split the "
                    + "weight by columns");
        }
    }

    /** {@link #prepack(QuantizedWeight)}: the weight's tensors are in host memory ({@link QuantizedWeight}'s contract). */
    private PackedWeight prepack(QuantizedWeight w, int k, int n, int groups) {
        Tensor qw = w.qweight();
        int[] q = new int[(k / 8) * n];
        for (int r = 0; r < k / 8; r++) {
            for (int j = 0; j < n; j++) {
                q[r * n + j] = qw.getInt(r, j);
            }
        }
        int[] z = null;
        if (w.qzeros() != null) {
            Tensor qz = w.qzeros();
            z = new int[groups * (n / 8)];
            for (int gi = 0; gi < groups; gi++) {
                for (int c = 0; c < n / 8; c++) {
                    z[gi * (n / 8) + c] = qz.getInt(gi, c);
                }
            }
        }
        Tensor sc = w.scales();
        float[] s = new float[groups * n];
        for (int gi = 0; gi < groups; gi++) {
            for (int j = 0; j < n; j++) {
                s[gi * n + j] = sc.getFloat(gi, j);
            }
        }
        DeviceBuffer dq = null;
        DeviceBuffer dz = null;
        DeviceBuffer ds = null;
        DeviceBuffer order = null;
        try {
            dq = uploadArray(device, MemorySegment.ofArray(q), 4L * q.length);
            dz = z == null ? null : uploadArray(device, MemorySegment.ofArray(z), 4L * z.length);
            ds = uploadArray(device, MemorySegment.ofArray(s), 4L * s.length);
            order = ActOrderGather.upload(device, w);
            return new CudaPackedWeight(k, n, w.groupSize(), dq, dz, ds, order);
        } catch (RuntimeException e) {
            for (DeviceBuffer b : new DeviceBuffer[] {dq, dz, ds, order}) {
                if (b != null) {
                    b.close();
                }
            }
            throw e;
        }
    }

    @Override
    public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
        run(x, (CudaPackedWeight) w, null, bias, y);
    }

    /** Act-order weights: x's columns are gathered on the device ({@link ActOrderGather}), x host or device. */
    @Override
    public boolean gathersColumns() {
        return true;
    }

    @Override
    public void matmulActOrder(Tensor x, int[] order, PackedWeight w, Tensor bias, Tensor y) {
        run(x, (CudaPackedWeight) w, order, bias, y);
    }

    /** {@link #matmul}, on x's columns gathered through {@code order} first when it is not null. */
    private void run(Tensor x, CudaPackedWeight pw, int[] order, Tensor bias, Tensor y) {
        long rowsL = x.dim(0);
        if (rowsL == 0) {
            return;
        }
        int m = Math.toIntExact(rowsL);
        int n = pw.n();
        int k = pw.k();
        int g = pw.groupSize();
        DType dtype = x.dtype();
        int biasKind = W4A16Launch.biasKind(bias == null ? null : bias.dtype(), y.dtype());
        CudaFunction splitK = device.function(W4A16Launch.splitKKernel(dtype).symbol());
        CudaFunction reduce = device.function(W4A16Launch.reduceKernel(dtype).symbol());
        pw.beginRun();
        try (CudaCall call = CudaCall.begin(device)) {
            long xa = call.in(x);
            long ba = call.inOrNull(bias);
            long ya = call.out(y);
            long ldx = x.rowStride();
            if (order != null) {
                xa = ActOrderGather.gather(call, xa, ldx, ActOrderGather.orderAddress(call, pw.rowOrder, order), m, k);
                ldx = k;
            }
            long ldy = y.rowStride();
            long elem = dtype.byteSize(1); // bytes per element of x and y (2)
            Chunks chunks = Chunks.of(m, n, k, g, device.smCount(), dtype);
            // One workspace for all chunks: launches on one stream run in order, so a chunk's stage 1
            // cannot overwrite it before the previous chunk's reduce has read it.
            long ws = call.scratch(chunks.workspaceBytes());
            for (int i0 = 0, mc; i0 < m; i0 += mc) { // i0 += mc ≤ m: no int overflow near 2^31 rows
                mc = Math.min(chunks.rows(), m - i0);
                W4A16Launch l = chunks.launch(mc);
                call.params()
                        .pointer(xa + (long) i0 * ldx * elem).i64(ldx)
                        .pointer(pw.qweight()).pointer(pw.qzeros()).pointer(pw.scales())
                        .pointer(ws)
                        .i32(mc).i32(n).i32(k).i32(g).i32(l.splits());
                call.launch(splitK, l.splitKGridX(), l.splitKGridY(), l.splitKGridZ(), W4A16Launch.SPLITK_THREADS, 1, 1, 0);
                call.params()
                        .pointer(ws).pointer(ba).i32(biasKind)
                        .pointer(ya + (long) i0 * ldy * elem).i64(ldy)
                        .i32(mc).i32(n).i32(l.splits());
                call.launch(reduce, l.reduceGridX(), 1, 1, W4A16Launch.REDUCE_THREADS, 1, 1, 0);
            }
            call.finish();
        } finally {
            // The call's close() has waited for its stream: the kernels are done with pw's buffers.
            pw.endRun();
            // The kernels read pw's buffers by address: pw must stay reachable (not freed by its
            // cleaner) until they are done, which finish() waits for.
            java.lang.ref.Reference.reachabilityFence(pw);
        }
    }

    /**
     * Rows of x per launch pair for a weight of {@code n} columns: at most
     * {@link #MAX_ROWS_PER_LAUNCH}, and few enough that a single split's fp32 workspace
     * ({@code 4·rows·n} bytes) stays within {@link SplitKPlan#MAX_WORKSPACE_FLOATS}, a bound the
     * planner applies only to several splits. A multiple of {@link W4A16Launch#TILE_M} when at
     * least one tile fits; at least 1 (whose workspace, for n beyond that bound, is {@code 4·n} bytes).
     */
    static int rowsPerLaunch(int n) {
        long fit = SplitKPlan.MAX_WORKSPACE_FLOATS / n;
        long rows = fit >= W4A16Launch.TILE_M ? fit - fit % W4A16Launch.TILE_M : Math.max(1, fit);
        return (int) Math.min(MAX_ROWS_PER_LAUNCH, rows);
    }

    /** The launch pair for one chunk of {@code rows} rows of x, split as {@link SplitKPlan} says. */
    static W4A16Launch chunkLaunch(int rows, int n, int k, int groupSize, int smCount, DType dtype) {
        SplitKPlan plan = SplitKPlan.plan(rows, n, k, groupSize, smCount);
        return W4A16Launch.of(rows, n, k, groupSize, plan.splits(), dtype);
    }

    /**
     * Bytes of the one workspace that every chunk of an {@code m}-row call uses: the larger of a
     * full chunk's and the last, shorter chunk's, the only two chunk sizes.
     */
    static long workspaceBytes(int m, int n, int k, int groupSize, int smCount, DType dtype) {
        return Chunks.of(m, n, k, groupSize, smCount, dtype).workspaceBytes();
    }

    /**
     * The launch pairs of an {@code m}-row call, planned once per call: chunks of {@code rows} rows
     * ({@code full}, null when m is shorter) and the last, shorter one ({@code last}, null when
     * there is none).
     */
    record Chunks(int rows, W4A16Launch full, W4A16Launch last) {
        static Chunks of(int m, int n, int k, int groupSize, int smCount, DType dtype) {
            int rows = rowsPerLaunch(n);
            int lastRows = m % rows;
            return new Chunks(rows, m >= rows ? chunkLaunch(rows, n, k, groupSize, smCount, dtype) : null,
                    lastRows == 0 ? null : chunkLaunch(lastRows, n, k, groupSize, smCount, dtype));
        }

        /** The launch pair of a chunk of {@code chunkRows} rows: {@link #rows} or the last one's. */
        W4A16Launch launch(int chunkRows) {
            return chunkRows == rows ? full : last;
        }

        long workspaceBytes() {
            return Math.max(full == null ? 0 : full.workspaceBytes(), last == null ? 0 : last.workspaceBytes());
        }
    }

    /** A device copy of {@code bytes} of a Java array's segment, staged through native memory, synchronously. */
    static DeviceBuffer uploadArray(CudaDevice device, MemorySegment heap, long bytes) {
        DeviceBuffer b = device.allocate(bytes);
        try (Arena arena = Arena.ofConfined(); CudaStream stream = device.createStream()) {
            MemorySegment staging = arena.allocate(bytes, 16);
            MemorySegment.copy(heap, 0, staging, 0, bytes);
            stream.copyToDevice(b.address(), staging, bytes);
            stream.synchronize();
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** The weight on the device: GPTQ words as uploaded, fp32 scales. */
    static final class CudaPackedWeight implements PackedWeight {
        private final int k;
        private final int n;
        private final int groupSize;
        private final DeviceBuffer qweight;
        private final DeviceBuffer qzeros;
        private final DeviceBuffer scales;
        /** The act-order row order (int32 [k]) for {@link ActOrderGather}, or null. */
        private final DeviceBuffer rowOrder;
        /**
         * Held shared by each run from reading the buffers' addresses until its kernels are done,
         * exclusively by {@link #close()}: runs go on together, and close() frees nothing under one.
         */
        private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
        private boolean closed; // guarded by inUse

        CudaPackedWeight(int k, int n, int groupSize, DeviceBuffer qweight, DeviceBuffer qzeros, DeviceBuffer scales,
                         DeviceBuffer rowOrder) {
            this.k = k;
            this.n = n;
            this.groupSize = groupSize;
            this.qweight = qweight;
            this.qzeros = qzeros;
            this.scales = scales;
            this.rowOrder = rowOrder;
        }

        /**
         * Keeps the weight open for a run until {@link #endRun()}; the device addresses may be read
         * in between.
         *
         * @throws IllegalStateException if the weight is closed
         */
        void beginRun() {
            inUse.readLock().lock();
            if (closed) {
                inUse.readLock().unlock();
                throw new IllegalStateException(this + " is closed");
            }
        }

        /** Ends {@link #beginRun()}, once the run's kernels are done. */
        void endRun() {
            inUse.readLock().unlock();
        }

        long qweight() {
            return qweight.address();
        }

        /** 0 (a null pointer) for the symmetric variant. */
        long qzeros() {
            return qzeros == null ? 0 : qzeros.address();
        }

        long scales() {
            return scales.address();
        }

        @Override
        public int k() {
            return k;
        }

        @Override
        public int n() {
            return n;
        }

        @Override
        public int groupSize() {
            return groupSize;
        }

        /** Frees the weight once no run is inside ({@link #beginRun()}); a second call does nothing. */
        @Override
        public void close() {
            inUse.writeLock().lock();
            try {
                if (closed) {
                    return;
                }
                closed = true;
                qweight.close();
                scales.close();
                if (qzeros != null) {
                    qzeros.close();
                }
                if (rowOrder != null) {
                    rowOrder.close();
                }
            } finally {
                inUse.writeLock().unlock();
            }
        }

        @Override
        public String toString() {
            return "CudaPackedWeight[k=" + k + ", n=" + n + ", g=" + groupSize + (qzeros == null ? ", sym" : ", asym")
                    + (rowOrder == null ? "" : ", act-order") + "]";
        }
    }
}
