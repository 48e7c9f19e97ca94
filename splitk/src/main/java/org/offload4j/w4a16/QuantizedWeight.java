package org.offload4j.w4a16;

import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * A 4-bit weight {@code W[k, n]} in the GPTQ interchange format: {@code qweight} INT32
 * {@code [k/8, n]}, {@code qzeros} INT32 {@code [k/g, n/8]} (absent when symmetric) and
 * {@code scales} FP16/BF16/FP32 {@code [k/g, n]}; the exact bit layout is drawn in the
 * {@linkplain org.offload4j.w4a16 package documentation}. Element {@code (kk, j)} is
 * {@code (q(kk, j) − zero(kk / g, j)) · scale(kk / g, j)}.
 *
 * <p>Instances are made by {@link #wrap} (the caller keeps ownership of the tensors) or
 * {@link #adopt} (this object closes them), both of which validate every shape, dtype and size,
 * by {@link #fromGptqActOrder} and by {@link RtnQuantizer}. Once built the object is immutable
 * apart from {@link #close()}; it does not copy the tensors, so changing their contents changes
 * the weight.
 *
 * <p><b>Act-order.</b> A GPTQ checkpoint quantized with {@code desc_act} assigns rows to groups
 * through {@code g_idx} ({@code g_idx[kk]} is the group of row {@code kk}), so a group's rows are
 * scattered over k. No GEMM kernel has to know: {@link #fromGptqActOrder} permutes the rows once,
 * at load time, so that each group's rows are contiguous again, and records the permutation
 * ({@link #rowOrder()}): stored row {@code r} holds row {@code rowOrder[r]} of the original W.
 * Because {@code X · W = X[:, rowOrder] · W[rowOrder, :]}, each call gathers the columns of X in
 * that order and multiplies by the stored rows as by an ordinary weight: the backend gathers on
 * its device where it can ({@link W4A16Kernel#gathersColumns}, CUDA), else the {@link W4A16}
 * facade gathers on the host before it calls the backend.
 * {@link #q}, {@link #zero} and {@link #scale} index the stored rows; {@link #weight} and
 * {@link #dequantize} give the original W.
 *
 * <p><b>Host memory.</b> The tensors are in host memory: the factories read every scale to
 * validate it, and each backend repacks the weight from the host ({@link W4A16#prepare}), which is
 * also where a GPU backend uploads it. A tensor in device memory is refused with an
 * {@link IllegalArgumentException} naming it.
 */
public final class QuantizedWeight implements AutoCloseable {
    /** The zero point of the symmetric variant. */
    public static final int SYMMETRIC_ZERO = 8;

    /** The group sizes accepted besides {@code k} itself (one group per column). */
    public static final Set<Integer> GROUP_SIZES = Set.of(32, 64, 128);

    /** Scale dtypes accepted. */
    public static final Set<DType> SCALE_TYPES = Set.of(DType.FP16, DType.BF16, DType.FP32);

    private final int k;
    private final int n;
    private final int groupSize;
    private final Tensor qweight;
    private final Tensor qzeros;
    private final Tensor scales;
    private final boolean owner;
    /** Stored row r is row rowOrder[r] of W; null when rows are stored in order. */
    private final int[] rowOrder;
    /** The inverse of rowOrder: row kk of W is stored row storedRow[kk]; null with rowOrder. */
    private final int[] storedRow;
    private volatile boolean closed;

    private QuantizedWeight(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales, boolean owner,
            int[] rowOrder) {
        this.k = k;
        this.n = n;
        this.groupSize = groupSize;
        this.qweight = qweight;
        this.qzeros = qzeros;
        this.scales = scales;
        this.owner = owner;
        this.rowOrder = rowOrder;
        this.storedRow = rowOrder == null ? null : inverse(rowOrder);
    }

    /**
     * A weight over the caller's tensors, which stay the caller's to close; {@link #close()} only
     * marks this view unusable.
     *
     * @param k         rows of W (the reduction dimension), a positive multiple of 8 and of the group size
     * @param n         columns of W, a positive multiple of 8
     * @param groupSize 32, 64, 128 or {@code k}; GPTQ's {@code -1} (one group per column) means {@code k}
     * @param qweight   INT32 {@code [k/8, n]}
     * @param qzeros    INT32 {@code [k/g, n/8]}, or {@code null} for the symmetric variant (zero 8)
     * @param scales    FP16, BF16 or FP32 {@code [k/g, n]}, every value finite
     * @throws IllegalArgumentException naming the first argument that breaks the format
     */
    public static QuantizedWeight wrap(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales) {
        int g = validate(k, n, groupSize, qweight, qzeros, scales);
        return new QuantizedWeight(k, n, g, qweight, qzeros, scales, false, null);
    }

    /** As {@link #wrap}, but {@link #close()} also closes the three tensors. */
    public static QuantizedWeight adopt(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales) {
        int g = validate(k, n, groupSize, qweight, qzeros, scales);
        return new QuantizedWeight(k, n, g, qweight, qzeros, scales, true, null);
    }

    /**
     * A weight from act-order GPTQ tensors ({@code desc_act}): rows are assigned to groups by
     * {@code gIdx} instead of {@code kk / groupSize}. The rows are permuted once so that groups are
     * contiguous (stable: within a group, rows keep their order), and the permutation is kept as
     * {@link #rowOrder()} (see the class documentation). When {@code gIdx} is already
     * {@code kk / groupSize} the result has no row order.
     *
     * <p>The result owns new tensors (the repacked qweight, copies of qzeros and scales); the
     * given tensors stay the caller's.
     *
     * @param gIdx INT32 {@code [k]}, each value in {@code [0, k/g)}, exactly {@code g} rows per group
     * @throws IllegalArgumentException naming the argument that breaks the format
     */
    public static QuantizedWeight fromGptqActOrder(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales,
            Tensor gIdx) {
        int g = validate(k, n, groupSize, qweight, qzeros, scales);
        int[] order = rowOrderOf(gIdx, k, g);
        Tensor qw = order == null ? copy(qweight) : permuteRows(qweight, order, n);
        Tensor qz = null;
        Tensor sc = null;
        try {
            qz = qzeros == null ? null : copy(qzeros);
            sc = copy(scales);
            return new QuantizedWeight(k, n, g, qw, qz, sc, true, order);
        } catch (RuntimeException | Error e) {
            qw.close();
            if (qz != null) {
                qz.close();
            }
            throw e;
        }
    }

    /** The stable sort of rows by group, or null when g_idx is the plain kk / g. */
    private static int[] rowOrderOf(Tensor gIdx, int k, int g) {
        Args.live(gIdx, "gIdx");
        Args.host(gIdx, "gIdx");
        Args.dtype(gIdx, "gIdx", DType.INT32);
        Args.shape(gIdx, "gIdx", k);
        int groups = k / g;
        int[] count = new int[groups];
        boolean plain = true;
        for (int kk = 0; kk < k; kk++) {
            int gi = gIdx.getInt(0, kk);
            Args.require(gi >= 0 && gi < groups, "gIdx[" + kk + "] = " + gi + " is outside [0, " + groups + ") (k / groupSize groups)");
            count[gi]++;
            plain &= gi == kk / g;
        }
        for (int gi = 0; gi < groups; gi++) {
            Args.require(count[gi] == g, "gIdx assigns " + count[gi] + " rows to group " + gi + "; act-order needs exactly "
                    + "groupSize = " + g + " rows in every group");
        }
        if (plain) {
            return null;
        }
        int[] next = new int[groups];
        for (int gi = 0; gi < groups; gi++) {
            next[gi] = gi * g;
        }
        int[] order = new int[k];
        for (int kk = 0; kk < k; kk++) {
            order[next[gIdx.getInt(0, kk)]++] = kk;
        }
        return order;
    }

    /** A new qweight whose row r (nibble r % 8 of word row r / 8) is row order[r] of the given one. */
    private static Tensor permuteRows(Tensor qweight, int[] order, int n) {
        Tensor out = Tensor.allocate(DType.INT32, qweight.shape());
        for (int r0 = 0; r0 < order.length; r0 += 8) {
            for (int j = 0; j < n; j++) {
                int word = 0;
                for (int i = 0; i < 8; i++) {
                    int src = order[r0 + i];
                    word |= nibble(qweight.getInt(src >>> 3, j), src & 7) << (4 * i);
                }
                out.setInt(r0 >>> 3, j, word);
            }
        }
        return out;
    }

    private static Tensor copy(Tensor t) {
        Tensor c = Tensor.allocate(t.dtype(), t.shape());
        long rowBytes = t.dtype().byteSize(t.cols());
        for (long r = 0; r < t.rows(); r++) {
            java.lang.foreign.MemorySegment.copy(t.segment(), t.rowByteOffset(r), c.segment(), c.rowByteOffset(r), rowBytes);
        }
        return c;
    }

    private static int[] inverse(int[] order) {
        int[] inv = new int[order.length];
        for (int r = 0; r < order.length; r++) {
            inv[order[r]] = r;
        }
        return inv;
    }

    /**
     * Checks k, n and the group size alone (the facade uses it for weights a backend reports too,
     * the benchmark for its sizes before it runs anything).
     *
     * @return the group size with {@code -1} resolved to {@code k}
     * @throws IllegalArgumentException naming the size that is not accepted
     */
    public static int checkSizes(long k, long n, long groupSize) {
        // Explicit tests rather than Args.require: this runs on every matmul, and a message
        // argument would be concatenated on every call, failing or not.
        if (k <= 0 || k % 8 != 0 || k > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("k = " + k + " is not accepted; k must be a positive multiple of 8");
        }
        if (n <= 0 || n % 8 != 0 || n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("n = " + n + " is not accepted; n must be a positive multiple of 8");
        }
        long g = groupSize == -1 ? k : groupSize;
        if (g != k && !(g > 0 && g <= 128 && GROUP_SIZES.contains((int) g))) {
            throw new IllegalArgumentException("groupSize = " + groupSize + " is not accepted; accepted: 32, 64, 128 or k (= " + k
                    + "; -1 also means k)");
        }
        if (k % g != 0) {
            throw new IllegalArgumentException("k = " + k + " is not a multiple of groupSize = " + g);
        }
        return (int) g;
    }

    private static int validate(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales) {
        int g = checkSizes(k, n, groupSize);
        Args.live(qweight, "qweight");
        Args.host(qweight, "qweight");
        Args.dtype(qweight, "qweight", DType.INT32);
        Args.shape(qweight, "qweight", k / 8, n);
        if (qzeros != null) {
            Args.live(qzeros, "qzeros");
            Args.host(qzeros, "qzeros");
            Args.dtype(qzeros, "qzeros", DType.INT32);
            Args.shape(qzeros, "qzeros", k / g, n / 8);
        }
        Args.live(scales, "scales");
        Args.host(scales, "scales");
        Args.dtype(scales, "scales", SCALE_TYPES);
        Args.shape(scales, "scales", k / g, n);
        for (int gi = 0; gi < k / g; gi++) {
            for (int j = 0; j < n; j++) {
                float s = scales.getFloat(gi, j);
                if (!Float.isFinite(s)) {
                    throw new IllegalArgumentException("scales[" + gi + ", " + j + "] = " + s + "; every scale must be finite");
                }
            }
        }
        return g;
    }

    /**
     * Converts AutoGPTQ "v1" zeros ({@code z − 1} per nibble) to this format's {@code z}: a new
     * INT32 tensor of the same shape, owned by the caller, where every nibble {@code v} becomes
     * {@code (v + 1) mod 16}, without carries between nibbles.
     */
    public static Tensor fromGptqV1Zeros(Tensor qzerosV1) {
        Args.live(qzerosV1, "qzerosV1");
        Args.host(qzerosV1, "qzerosV1");
        Args.dtype(qzerosV1, "qzerosV1", DType.INT32);
        Args.require(qzerosV1.rank() == 2, "qzerosV1 has rank " + qzerosV1.rank() + "; expected 2 ([k/g, n/8])");
        Tensor out = Tensor.allocate(DType.INT32, qzerosV1.shape());
        for (long r = 0; r < qzerosV1.rows(); r++) {
            for (long c = 0; c < qzerosV1.cols(); c++) {
                int v = qzerosV1.getInt(r, c);
                // Add 1 to every nibble at once: low 3 bits of each nibble plus 1, then put back the top bits by xor.
                int lowSum = (v & 0x77777777) + 0x11111111;
                out.setInt(r, c, lowSum ^ (v & 0x88888888));
            }
        }
        return out;
    }

    /** Nibble {@code i} (0..7) of a packed word. */
    public static int nibble(int word, int i) {
        return (word >>> (4 * i)) & 0xF;
    }

    public int k() {
        return k;
    }

    public int n() {
        return n;
    }

    public int groupSize() {
        return groupSize;
    }

    /** Number of groups along k: {@code k / groupSize}. */
    public int groups() {
        return k / groupSize;
    }

    /** True when there are no {@code qzeros} and every zero is {@value #SYMMETRIC_ZERO}. */
    public boolean symmetric() {
        return qzeros == null;
    }

    public DType scaleType() {
        return scales.dtype();
    }

    public Tensor qweight() {
        return qweight;
    }

    /** The zeros tensor, or {@code null} for the symmetric variant. */
    public Tensor qzeros() {
        return qzeros;
    }

    public Tensor scales() {
        return scales;
    }

    /**
     * The act-order permutation: stored row {@code r} is row {@code rowOrder()[r]} of W (a copy),
     * or {@code null} when rows are stored in order (no act-order).
     */
    public int[] rowOrder() {
        return rowOrder == null ? null : rowOrder.clone();
    }

    /** The permutation itself, not copied, for the facade (null when none). */
    int[] rowOrderShared() {
        return rowOrder;
    }

    /** True when the rows are stored permuted ({@link #rowOrder()} is not null). */
    public boolean actOrder() {
        return rowOrder != null;
    }

    /** The quantized value {@code q ∈ [0, 15]} of stored row {@code row} (along k), column {@code col}. */
    public int q(int row, int col) {
        ensureOpen();
        return nibble(qweight.getInt(row >>> 3, col), row & 7);
    }

    /** The zero point of {@code group} (of stored rows) and {@code col} ({@value #SYMMETRIC_ZERO} when symmetric). */
    public int zero(int group, int col) {
        ensureOpen();
        return qzeros == null ? SYMMETRIC_ZERO : nibble(qzeros.getInt(group, col >>> 3), col & 7);
    }

    /** The scale of {@code group} and {@code col}, widened exactly to float. */
    public float scale(int group, int col) {
        ensureOpen();
        return scales.getFloat(group, col);
    }

    /**
     * Element ({@code row}, {@code col}) of W in its original row order, exactly:
     * {@code (q − z) · s} in double of the stored row that holds it.
     */
    public double weight(int row, int col) {
        int r = storedRow == null ? row : storedRow[row];
        int gi = r / groupSize;
        return (double) (q(r, col) - zero(gi, col)) * scale(gi, col);
    }

    /**
     * The weight W (original row order) as a new FP32 {@code [k, n]} tensor owned by the caller. Exact for FP16 and BF16
     * scales ({@code |q − z| ≤ 15} adds at most 4 bits to their 11- or 8-bit significands); with
     * FP32 scales each element is rounded once to float.
     */
    public Tensor dequantize() {
        ensureOpen();
        Tensor out = Tensor.allocate(DType.FP32, k, n);
        for (int row = 0; row < k; row++) {
            for (int col = 0; col < n; col++) {
                out.setFloat(row, col, (float) weight(row, col));
            }
        }
        return out;
    }

    /** False once closed, or once any of its tensors is closed. */
    public boolean isAlive() {
        return !closed && qweight.isAlive() && scales.isAlive() && (qzeros == null || qzeros.isAlive());
    }

    /** Marks this weight unusable and, if it {@linkplain #adopt adopted} its tensors, closes them. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (owner) {
            qweight.close();
            scales.close();
            if (qzeros != null) {
                qzeros.close();
            }
        }
    }

    private void ensureOpen() {
        if (!isAlive()) {
            throw new IllegalStateException("quantized weight " + this + " is closed");
        }
    }

    /** E.g. {@code W4[4096, 4096] g128 asym scales=fp16} ({@code act-order} appended when rows are permuted). */
    @Override
    public String toString() {
        return "W4[" + k + ", " + n + "] g" + groupSize + (symmetric() ? " sym" : " asym") + " scales=" + scales.dtype()
                + (rowOrder == null ? "" : " act-order");
    }
}
