package org.offload4j.w4a16;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.Workspace;

/**
 * W4A16 matmul: {@code Y[m,n] = X[m,k] · W[k,n] (+ bias[n])}, X and Y bf16 or fp16, W 4-bit with a
 * scale and zero per group of rows.
 *
 * <p><b>Contract.</b>
 * <ul>
 *   <li>{@code x}: bf16 or fp16, rank 2 {@code [m, k]}, rows may be strided, in host memory or on
 *       the backend's own device (with y and bias on the same); {@code m = 0} does nothing.</li>
 *   <li>{@code w}: a {@link QuantizedWeight} (GPTQ tensors), or a {@link Prepared} handle made by
 *       {@link #prepare} on this op's backend and not closed. {@code k} and {@code n} are positive
 *       multiples of 8, the group size is 32, 64, 128 or {@code k}, and {@code k} is a multiple of
 *       it. Element {@code (kk, j)} of W is {@code (q − z) · s} of its group.</li>
 *   <li>{@code bias}: {@code null}, or rank 1 {@code [n]} of x's dtype or fp32.</li>
 *   <li>{@code y}: x's dtype, {@code [m, n]}, rows may be strided, sharing no byte with x, bias
 *       or (for the {@link QuantizedWeight} overload) the weight's tensors. Every element is
 *       written.</li>
 *   <li>Products accumulate in fp32 and each result is rounded once to y's dtype (nearest, ties
 *       to even). Relative L2 error ≤ 5e-3 against {@link W4A16Reference#product}.</li>
 * </ul>
 * Every argument is checked before any work; a violation throws
 * {@link IllegalArgumentException} naming the argument, the value given and what is accepted, and
 * leaves {@code y} untouched.
 *
 * <p><b>Weight packing</b> (GPTQ; see the {@linkplain org.offload4j.w4a16 package documentation}
 * for the zero-point convention):
 * <pre>
 * qweight INT32 [k/8, n]:  word (r, j) = column j, rows 8r … 8r+7, row 8r+i in bits 4i … 4i+3
 *   bit 31    28 27    24 23    20 19    16 15    12 11     8 7      4 3      0
 *      | q 8r+7 | q 8r+6 | q 8r+5 | q 8r+4 | q 8r+3 | q 8r+2 | q 8r+1 | q 8r+0 |
 * qzeros  INT32 [k/g, n/8]: word (gi, c) = group gi, column 8c+i in bits 4i … 4i+3 (none when symmetric: z = 8)
 *      | z 8c+7 | z 8c+6 | z 8c+5 | z 8c+4 | z 8c+3 | z 8c+2 | z 8c+1 | z 8c+0 |
 * scales  FP16 | BF16 | FP32 [k/g, n]
 * </pre>
 *
 * <p><b>Act-order weights</b> ({@link QuantizedWeight#actOrder()}, from GPTQ {@code desc_act}
 * checkpoints) have their rows stored permuted so that groups are contiguous. Each call gathers the
 * columns of x into that order (a copy of {@code m · k} 16-bit values) and multiplies by the
 * stored rows; the result is exactly {@code x · W} of the original W. A backend whose x may live
 * in device memory gathers there ({@link W4A16Kernel#gathersColumns}: the CUDA backend); for the
 * others this facade gathers on the host, which must then be able to read x.
 *
 * <p><b>Use.</b> Prepare each weight once ({@link #prepare}: the backend repacks it into its own
 * layout), then call {@link #matmul(Tensor, Prepared, Tensor, Tensor)} as often as needed, from
 * any number of threads; close the handle when done. The {@link QuantizedWeight} overload
 * repacks on every call and is meant for one-off use. Instances are immutable and thread-safe.
 */
public final class W4A16 {
    /** Activation (X and Y) dtypes. */
    public static final Set<DType> ACTIVATION_TYPES = Set.of(DType.BF16, DType.FP16);

    private final Backend backend;
    private final W4A16Kernel kernel;

    private W4A16(Backend backend, W4A16Kernel kernel) {
        this.backend = backend;
        this.kernel = kernel;
    }

    /** The op on the default backend ({@link Backends#kernelsFor}: the forced one, else the best that has it). */
    public static W4A16 create() {
        Backends.Selected<W4A16Kernel> s = Backends.kernelsFor(W4A16Kernel.class);
        return new W4A16(s.backend(), s.kernels());
    }

    /**
     * The op on {@code backend}.
     *
     * @throws org.offload4j.core.BackendUnavailableException if that backend lacks the op
     */
    public static W4A16 create(Backend backend) {
        Args.notNull(backend, "backend");
        Backends.Selected<W4A16Kernel> s = Backends.kernelsFrom(backend, W4A16Kernel.class);
        return new W4A16(s.backend(), s.kernels());
    }

    public Backend backend() {
        return backend;
    }

    /**
     * Repacks {@code w} into the backend's layout. The handle does not depend on {@code w}
     * afterwards; close it to free the backend's copy.
     */
    public Prepared prepare(QuantizedWeight w) {
        checkWeight(w, "w");
        PackedWeight packed = kernel.prepack(w);
        if (packed.k() != w.k() || packed.n() != w.n() || packed.groupSize() != w.groupSize()) {
            packed.close();
            throw new IllegalStateException("backend '" + backend.name() + "' packed " + w + " as [" + packed.k() + ", "
                    + packed.n() + "] g" + packed.groupSize() + ": a backend bug");
        }
        return new Prepared(kernel, backend.name(), packed, w.symmetric(), w.rowOrderShared());
    }

    /**
     * {@code y = x · w (+ bias)} with a prepared weight; see the class documentation.
     *
     * @param x    bf16 or fp16 {@code [m, k]}
     * @param w    a handle from {@link #prepare} on this backend, not closed
     * @param bias {@code [n]} of x's dtype or fp32, or {@code null}
     * @param y    x's dtype, {@code [m, n]}, disjoint from x and bias
     * @throws IllegalArgumentException for any violation of the contract; y is then untouched
     */
    public void matmul(Tensor x, Prepared w, Tensor bias, Tensor y) {
        Args.notNull(w, "w");
        if (w.kernel != kernel) {
            throw new IllegalArgumentException("w was prepared by backend '" + w.backendName + "'; this W4A16 runs on '"
                    + backend.name() + "': prepare the weight with this instance's backend");
        }
        if (!w.isAlive()) {
            throw new IllegalArgumentException("w (" + w + ") is closed");
        }
        QuantizedWeight.checkSizes(w.k(), w.n(), w.groupSize());
        checkCall(backend, x, w.k(), w.n(), bias, y);
        checkGatherable(x, w.rowOrder, kernel);
        if (x.dim(0) == 0) {
            return;
        }
        run(x, w.packed, w.rowOrder, bias, y);
    }

    /**
     * {@code y = x · w (+ bias)}, repacking {@code w} for this call only; see the class
     * documentation. Prefer {@link #prepare} for a weight used more than once.
     */
    public void matmul(Tensor x, QuantizedWeight w, Tensor bias, Tensor y) {
        checkWeight(w, "w");
        checkCall(backend, x, w.k(), w.n(), bias, y);
        checkGatherable(x, w.rowOrderShared(), kernel); // before the repack, which on a GPU is an upload
        Args.disjoint(w.qweight(), "w.qweight", y, "y");
        Args.disjoint(w.scales(), "w.scales", y, "y");
        if (w.qzeros() != null) {
            Args.disjoint(w.qzeros(), "w.qzeros", y, "y");
        }
        if (x.dim(0) == 0) {
            return;
        }
        try (PackedWeight packed = kernel.prepack(w)) {
            run(x, packed, w.rowOrderShared(), bias, y);
        }
    }

    /**
     * The kernel call, on x's columns gathered into the weight's stored row order when it has one:
     * by the kernel where it can ({@link W4A16Kernel#gathersColumns}), else here on the host.
     */
    private void run(Tensor x, PackedWeight w, int[] rowOrder, Tensor bias, Tensor y) {
        if (rowOrder == null) {
            kernel.matmul(x, w, bias, y);
            return;
        }
        if (kernel.gathersColumns()) {
            kernel.matmulActOrder(x, rowOrder, w, bias, y);
            return;
        }
        // The gathered copy is a temporary of this call: from the thread's workspace, not an arena of
        // its own, whose close alone cost 17–60 µs (Workspace).
        try (Workspace ws = Workspace.open()) {
            kernel.matmul(gatherColumns(x, rowOrder, ws.allocate(x.dtype(), x.shape())), w, bias, y);
        }
    }

    /** {@code out} ([m, k], contiguous) with column r = column order[r] of x (16-bit values copied bit for bit). */
    static Tensor gatherColumns(Tensor x, int[] order, Tensor out) {
        MemorySegment src = x.segment();
        MemorySegment dst = out.segment();
        ValueLayout.OfShort s16 = ValueLayout.JAVA_SHORT_UNALIGNED;
        for (long i = 0; i < x.rows(); i++) {
            long from = x.rowByteOffset(i);
            long to = out.rowByteOffset(i);
            for (int r = 0; r < order.length; r++) {
                dst.set(s16, to + 2L * r, src.get(s16, from + 2L * order[r]));
            }
        }
        return out;
    }

    private static void checkWeight(QuantizedWeight w, String name) {
        Args.notNull(w, name);
        if (!w.isAlive()) {
            throw new IllegalArgumentException(name + " (" + w + ") is closed, or one of its tensors is");
        }
        QuantizedWeight.checkSizes(w.k(), w.n(), w.groupSize());
    }

    /** An act-order weight's columns are gathered by the kernel where it can, else on the host, which must then reach x. */
    private static void checkGatherable(Tensor x, int[] rowOrder, W4A16Kernel kernel) {
        if (rowOrder != null && !x.device().hostAddressable() && !kernel.gathersColumns()) {
            throw new IllegalArgumentException("x (" + x.describe() + ") is in " + x.device() + " memory, and w is an "
                    + "act-order weight, whose column gather runs on the host with this backend: pass x in host memory");
        }
    }

    private static void checkCall(Backend backend, Tensor x, int k, int n, Tensor bias, Tensor y) {
        Args.live(x, "x");
        Args.live(y, "y");
        Args.writable(y, "y");
        Args.sameDevice(x, "x", y, "y");
        if (bias != null) {
            Args.live(bias, "bias");
            Args.sameDevice(x, "x", bias, "bias");
        }
        Args.reachable(backend, x, "x");
        Args.dtype(x, "x", ACTIVATION_TYPES);
        if (y.dtype() != x.dtype()) {
            throw new IllegalArgumentException("y has dtype " + y.dtype() + "; expected " + x.dtype() + " (the dtype of x)");
        }
        if (bias != null && bias.dtype() != x.dtype() && bias.dtype() != DType.FP32) {
            throw new IllegalArgumentException("bias has dtype " + bias.dtype() + "; accepted: " + x.dtype()
                    + " (the dtype of x), fp32");
        }
        if (x.rank() != 2 || x.dim(1) != k) {
            throw new IllegalArgumentException("x has shape " + shape(x) + "; expected [m, k] = [*, " + k + "] (k of the weight)");
        }
        if (x.dim(0) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("x has " + x.dim(0) + " rows; at most " + Integer.MAX_VALUE + " accepted");
        }
        long m = x.dim(0);
        if (y.rank() != 2 || y.dim(0) != m || y.dim(1) != n) {
            throw new IllegalArgumentException("y has shape " + shape(y) + "; expected [m, n] = [" + m + ", " + n + "]");
        }
        if (bias != null) {
            if (bias.rank() != 1 || bias.dim(0) != n) {
                throw new IllegalArgumentException("bias has shape " + shape(bias) + "; expected [n] = [" + n + "]");
            }
            Args.disjoint(bias, "bias", y, "y");
        }
        Args.disjoint(x, "x", y, "y");
    }

    private static String shape(Tensor t) {
        return java.util.Arrays.toString(t.shape());
    }

    /**
     * A weight repacked by one backend ({@link #prepare}). Close it to free the backend's copy;
     * it must not be closed while a matmul on it is running.
     */
    public static final class Prepared implements AutoCloseable {
        private final W4A16Kernel kernel;
        private final String backendName;
        private final PackedWeight packed;
        private final boolean symmetric;
        /** The weight's act-order permutation (shared, never changed), or null. */
        private final int[] rowOrder;
        private volatile boolean closed;

        private Prepared(W4A16Kernel kernel, String backendName, PackedWeight packed, boolean symmetric, int[] rowOrder) {
            this.kernel = kernel;
            this.backendName = backendName;
            this.packed = packed;
            this.symmetric = symmetric;
            this.rowOrder = rowOrder;
        }

        public int k() {
            return packed.k();
        }

        public int n() {
            return packed.n();
        }

        public int groupSize() {
            return packed.groupSize();
        }

        public boolean symmetric() {
            return symmetric;
        }

        /** True when the weight is act-order: each call gathers x's columns first (see {@link W4A16}). */
        public boolean actOrder() {
            return rowOrder != null;
        }

        /** The name of the backend that packed it. */
        public String backendName() {
            return backendName;
        }

        /** The backend's packed weight, for backend-specific tools (benchmarks, diagnostics). */
        public PackedWeight packed() {
            return packed;
        }

        public boolean isAlive() {
            return !closed;
        }

        /** Frees the backend's copy. Idempotent, and safe when several threads close it at once. */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            packed.close();
        }

        @Override
        public String toString() {
            return "W4A16.Prepared[" + packed.k() + ", " + packed.n() + "] g" + packed.groupSize() + (symmetric ? " sym" : " asym")
                    + (rowOrder == null ? "" : " act-order") + " on " + backendName + (closed ? " (closed)" : "");
        }
    }
}
