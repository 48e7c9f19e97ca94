package org.offload4j.cuda.w4a16;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.CudaStream;
import org.offload4j.cuda.DeviceBuffer;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16Kernel;

/**
 * The W4A16 op on a CUDA device through the tensor-core kernels of {@code src/main/cuda/w4a16_tc.cu}
 * (launch contract in {@link TcLaunch}, plan from {@link TcSplitKPlanner} with the device's SM
 * count). One launch per call (per 4 194 240 rows); SplitK partials are summed in a fixed order by
 * the kernel itself, so results are bit-identical run to run.
 *
 * <p><b>Prepack</b> builds the {@link TcPackedLayout} on the host and uploads it once; the
 * {@link TcPackedWeight} also owns the SplitK {@link TcWorkspace} (partials and zeroed counters,
 * grown to the largest m it has seen). Two kinds of weight are handed to the simple kernels
 * ({@link CudaW4A16Kernel}) instead, whole: those whose packed form exceeds 2^31 int32 words (the
 * layout's int indexing), and those whose scales fp16 cannot carry ({@link #fp16WeightsFaithful}:
 * with fp16 activations the tensor-core kernel dequantizes to fp16, and would give ±∞ or lose the
 * contract's accuracy; the simple kernels dequantize in fp32). The activations' dtype is not known
 * at prepack, so such a weight runs on the simple kernels with bf16 activations too.
 *
 * <p><b>Preconditions on X</b> (16-byte aligned address, row stride a multiple of 8 elements):
 * when a call's X does not meet them, X is copied on the device into a contiguous scratch copy
 * (one device-to-device copy per row) and the tensor-core kernel runs on that. The alternative the
 * design offered, falling back to the simple kernel for that call, was rejected: it needs the
 * simple layout of the weight too, either kept beside the packed one (twice the device memory for
 * every weight, for a rare call) or rebuilt from the {@link QuantizedWeight}, which a
 * {@link PackedWeight} may not hold on to; and results would then depend on X's stride. With the
 * copy the result is the same, bit for bit, whatever X's layout. Y's row stride must fit in an
 * int (the kernel's {@code ldy}); beyond that the call throws {@link UnsupportedOperationException}.
 *
 * <p><b>Act-order weights</b> ({@link #gathersColumns}): prepack also uploads the weight's row
 * order, and each call first gathers x's columns on the device into a contiguous scratch copy
 * ({@link ActOrderGather}), which the tensor-core kernel then reads as an aligned X. x may be in
 * host or device memory.
 *
 * <p>Concurrent calls on one packed weight are correct and queue on its workspace.
 */
public final class TcW4A16Kernel implements W4A16Kernel {
    /** Rows per launch: grid z (65535) times the 64 rows of the largest block. */
    static final int MAX_ROWS_PER_LAUNCH = TcLaunch.MAX_GRID_Z * 64;

    private final CudaDevice device;
    private final CudaW4A16Kernel simple;

    public TcW4A16Kernel(CudaDevice device) {
        this.device = device;
        this.simple = new CudaW4A16Kernel(device);
    }

    /** Whether the packed layout of a {@code [k, n]} weight fits int32 word indexing. */
    static boolean layoutFits(int k, int n) {
        return (long) TcPackedLayout.slabs(n) * (TcPackedLayout.paddedK(k) / TcPackedLayout.K16) * 128 <= Integer.MAX_VALUE;
    }

    /** The relative L2 error of the fp16 weights above which {@link #prepack} chooses the simple kernels. */
    static final double FP16_WEIGHT_ERROR = 1e-3;

    /**
     * Whether the kernel's fp16 weights reproduce {@code w}: with fp16 activations it rounds each
     * scale to fp16 and each {@code (q − z)·s} to fp16, which overflows where {@code |q − z|·s}
     * passes 65504 (scales above about 4.4e3) and loses precision where the products are fp16
     * subnormals (below 2^−14, 6.1e-5). Measured over every (group, column), its 16 codes counted
     * as equally frequent: true when no fp16 weight is infinite or NaN and their relative L2 error
     * is at most {@value #FP16_WEIGHT_ERROR} (scales in fp16's normal range give about 1.4e-4).
     * Real GPTQ scales (1e-4 to 1e-2) pass; bf16 activations have fp32's range and need no check.
     */
    static boolean fp16WeightsFaithful(QuantizedWeight w) {
        double errorSq = 0;
        double normSq = 0;
        for (int gi = 0; gi < w.groups(); gi++) {
            for (int j = 0; j < w.n(); j++) {
                float s = w.scale(gi, j);
                float sHalf = Fp16.round(s);
                int z = w.zero(gi, j);
                for (int q = 0; q < 16; q++) {
                    double exact = (double) (q - z) * s;
                    float half = Fp16.round((q - z) * sHalf);
                    if (!Float.isFinite(half)) {
                        return false;
                    }
                    errorSq += (half - exact) * (half - exact);
                    normSq += exact * exact;
                }
            }
        }
        return errorSq <= FP16_WEIGHT_ERROR * FP16_WEIGHT_ERROR * normSq;
    }

    @Override
    public PackedWeight prepack(QuantizedWeight w) {
        if (!layoutFits(w.k(), w.n()) || !fp16WeightsFaithful(w)) {
            return simple.prepack(w);
        }
        try (Arena arena = Arena.ofConfined()) {
            TcPackedLayout layout = TcPackedLayout.pack(w, arena);
            DeviceBuffer q = null;
            DeviceBuffer s = null;
            DeviceBuffer z = null;
            DeviceBuffer order = null;
            try {
                q = upload(device, layout.qweight());
                s = upload(device, layout.scales());
                z = layout.zeros() == null ? null : upload(device, layout.zeros());
                order = ActOrderGather.upload(device, w);
                return new TcPackedWeight(layout, q, s, z, order, new TcWorkspace(device));
            } catch (RuntimeException e) {
                for (DeviceBuffer b : new DeviceBuffer[] {q, s, z, order}) {
                    if (b != null) {
                        b.close();
                    }
                }
                throw e;
            }
        }
    }

    @Override
    public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
        if (w instanceof CudaW4A16Kernel.CudaPackedWeight) {
            simple.matmul(x, w, bias, y);
            return;
        }
        run(x, (TcPackedWeight) w, null, bias, y);
    }

    /** Act-order weights: x's columns are gathered on the device ({@link ActOrderGather}), x host or device. */
    @Override
    public boolean gathersColumns() {
        return true;
    }

    @Override
    public void matmulActOrder(Tensor x, int[] order, PackedWeight w, Tensor bias, Tensor y) {
        if (w instanceof CudaW4A16Kernel.CudaPackedWeight) {
            simple.matmulActOrder(x, order, w, bias, y);
            return;
        }
        run(x, (TcPackedWeight) w, order, bias, y);
    }

    /** {@link #matmul}, on x's columns gathered through {@code order} first when it is not null. */
    private void run(Tensor x, TcPackedWeight pw, int[] order, Tensor bias, Tensor y) {
        long rowsL = x.dim(0);
        if (rowsL == 0) {
            return;
        }
        if (!TcLaunch.yFits(y.rowStride())) {
            throw new UnsupportedOperationException("y's row stride " + y.rowStride() + " exceeds the tensor-core kernel's int ldy ("
                    + Integer.MAX_VALUE + "); run with -D" + CudaW4A16Kernels.PATH_PROPERTY + "=simple");
        }
        int m = Math.toIntExact(rowsL);
        int k = pw.k();
        DType dtype = x.dtype();
        long elem = dtype.byteSize(1);
        TcWorkspace ws = pw.workspace();
        ws.lock();
        try (CudaCall call = CudaCall.begin(device)) {
            boolean done = false;
            try {
                TcLaunch.DeviceWeight weight = pw.deviceWeight();
                long xa = call.in(x);
                long ldx = x.rowStride();
                if (order != null) { // x' is contiguous and aligned: no copy below
                    xa = ActOrderGather.gather(call, xa, ldx, ActOrderGather.orderAddress(call, pw.rowOrder(), order), m, k);
                    ldx = k;
                }
                if (!TcLaunch.xAligned(xa, ldx)) {
                    xa = contiguousCopy(call, xa, ldx, m, k, elem);
                    ldx = k;
                }
                long ba = call.inOrNull(bias);
                boolean biasF32 = bias != null && bias.dtype() == DType.FP32;
                long ya = call.out(y);
                long ldy = y.rowStride();
                for (int i0 = 0; i0 < m; i0 += MAX_ROWS_PER_LAUNCH) {
                    int mc = Math.min(MAX_ROWS_PER_LAUNCH, m - i0);
                    TcSplitKPlanner.Plan plan = TcSplitKPlanner.plan(mc, pw.n(), k, pw.groupSize(), device.smCount());
                    long partials = ws.partials(TcLaunch.partialsBytes(plan, plan.mBlocks()));
                    long counters = ws.counters(call, TcLaunch.counterCount(plan, plan.mBlocks()));
                    TcLaunch.params(call.params(), xa + i0 * ldx * elem, weight, ba, biasF32, 0,
                            ya + i0 * ldy * elem, partials, counters, 0, mc, ldx, ldy, plan);
                    call.launch(device.function(TcLaunch.kernel(plan, dtype).symbol()), plan.nTiles(), plan.splits(),
                            plan.mBlocks(), TcSplitKPlanner.THREADS, 1, 1, plan.smemBytes());
                }
                call.finish();
                done = true;
            } finally {
                if (!done) {
                    ws.markDirty();
                }
            }
        } finally {
            ws.unlock();
            // The kernel read pw's buffers by address: pw must stay reachable (not freed by its
            // cleaner) until it is done, which finish() waits for.
            java.lang.ref.Reference.reachabilityFence(pw);
        }
    }

    /** Rows {@code [m, k]} at {@code src} (row stride {@code ld}) copied into call scratch with row stride k. */
    static long contiguousCopy(CudaCall call, long src, long ld, int m, int k, long elem) {
        long rowBytes = k * elem;
        long dst = call.scratch(m * rowBytes);
        CudaStream stream = call.stream();
        for (long r = 0; r < m; r++) {
            stream.copyOnDevice(dst + r * rowBytes, src + r * ld * elem, rowBytes);
        }
        return dst;
    }

    /** A device copy of a native host segment, synchronously. */
    static DeviceBuffer upload(CudaDevice device, MemorySegment src) {
        DeviceBuffer b = device.allocate(src.byteSize());
        try (CudaStream stream = device.createStream()) {
            stream.copyToDevice(b.address(), src, src.byteSize());
            stream.synchronize();
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    @Override
    public String toString() {
        return "TcW4A16Kernel on " + device;
    }

    /** The packed weight on the device ({@link TcPackedLayout}) and its SplitK workspace. */
    public static final class TcPackedWeight implements PackedWeight {
        private final int k;
        private final int n;
        private final int groupSize;
        private final boolean symmetric;
        private final DeviceBuffer qweight;
        private final DeviceBuffer scales;
        private final DeviceBuffer zeros;
        /** The act-order row order (int32 [k]) for {@link ActOrderGather}, or null. */
        private final DeviceBuffer rowOrder;
        private final TcLaunch.DeviceWeight deviceWeight;
        private final TcWorkspace workspace;
        private volatile boolean closed;

        TcPackedWeight(TcPackedLayout layout, DeviceBuffer qweight, DeviceBuffer scales, DeviceBuffer zeros, DeviceBuffer rowOrder,
                       TcWorkspace workspace) {
            this.k = layout.k();
            this.n = layout.n();
            this.groupSize = layout.groupSize();
            this.symmetric = layout.symmetric();
            this.qweight = qweight;
            this.scales = scales;
            this.zeros = zeros;
            this.rowOrder = rowOrder;
            this.workspace = workspace;
            this.deviceWeight = new TcLaunch.DeviceWeight(qweight.address(), scales.address(),
                    zeros == null ? 0 : zeros.address(), k, n, groupSize, layout.scaleKind(), 0, 0, 0);
        }

        TcLaunch.DeviceWeight deviceWeight() {
            if (closed) {
                throw new IllegalStateException(this + " is closed");
            }
            return deviceWeight;
        }

        TcWorkspace workspace() {
            return workspace;
        }

        DeviceBuffer rowOrder() {
            return rowOrder;
        }

        /** Device bytes of the packed weight and its row order (without the workspace). */
        public long deviceBytes() {
            return qweight.bytes() + scales.bytes() + (zeros == null ? 0 : zeros.bytes()) + (rowOrder == null ? 0 : rowOrder.bytes());
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

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            workspace.close();
            qweight.close();
            scales.close();
            if (zeros != null) {
                zeros.close();
            }
            if (rowOrder != null) {
                rowOrder.close();
            }
        }

        @Override
        public String toString() {
            return "TcPackedWeight[k=" + k + ", n=" + n + ", g=" + groupSize + (symmetric ? ", sym" : ", asym")
                    + (rowOrder == null ? "" : ", act-order") + "]";
        }
    }
}
