package org.offload4j.moe;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;

/**
 * Expert weights in the int4 format of the W4A16 op: per expert {@code e} one
 * {@link QuantizedWeight} for {@code W1[e]} ({@code k = d_model}, {@code n = 2·d_ff}, gate | up)
 * and one for {@code W2[e]} ({@code k = d_ff}, {@code n = d_model}), each in the GPTQ interchange
 * layout drawn in the {@linkplain org.offload4j.w4a16 W4A16 package documentation}:
 * {@code w[kk, j] = (q[kk, j] − z[kk/g, j]) · s[kk/g, j]}.
 *
 * <p><b>Accepted.</b> The W4A16 op's rules for each matrix ({@code k} and {@code n} multiples
 * of 8, group size 32, 64, 128 or {@code k}, {@code k} a multiple of it; so {@code d_model} and
 * {@code d_ff} are multiples of 8), and across experts one layout per matrix: the same shape,
 * group size, symmetric or not, and scale dtype for every {@code W1[e]}, and likewise for every
 * {@code W2[e]} (a grouped kernel can then treat the experts alike). {@code W1} and {@code W2}
 * may differ from each other, e.g. with one group per column ({@code g = k}) each has its own
 * {@code k}.
 *
 * <p><b>Decoding.</b> {@link #decode} writes {@code (q − z)·s} rounded once to fp32, i.e. exactly
 * {@code (float) QuantizedWeight.weight(row, col)} (the product of a 5-bit integer and a scale is
 * exact in double; with fp16 or bf16 scales it is exact in float too). It reads one packed word
 * per 8 rows of a column and one scale and zero per group of a column, and allocates nothing.
 *
 * <p><b>Ownership.</b> {@link #of} borrows the caller's weights: {@link #close()} only marks this
 * view unusable, and the caller closes the weights. {@link #quantize} makes new weights that this
 * object owns: {@link #close()} frees them. Either way the weights must stay open while a layer
 * uses them ({@link #isAlive()} turns false as soon as one is closed).
 */
public final class W4A16ExpertWeights implements ExpertWeights, AutoCloseable {
    private static final Set<DType> QUANTIZE_INPUT_TYPES = Set.of(DType.FP32, DType.BF16, DType.FP16);

    private final List<QuantizedWeight> w1;
    private final List<QuantizedWeight> w2;
    private final int experts;
    private final int dModel;
    private final int dFf;
    private final boolean owner;
    private volatile boolean closed;

    private W4A16ExpertWeights(List<QuantizedWeight> w1, List<QuantizedWeight> w2, boolean owner) {
        this.w1 = w1;
        this.w2 = w2;
        this.experts = w1.size();
        this.dModel = w1.getFirst().k();
        this.dFf = w2.getFirst().k();
        this.owner = owner;
    }

    /**
     * A view of the caller's quantized weights, one per expert in each list; the lists are
     * copied, the weights are not (and are not closed by {@link #close()}).
     *
     * @param w1 {@code E} weights {@code [d_model, 2·d_ff]}: columns {@code 0..d_ff−1} gate, the rest up
     * @param w2 {@code E} weights {@code [d_ff, d_model]}
     * @throws IllegalArgumentException naming the list (and the expert) when a list is null or
     *         empty, has more than {@link MoeLayer#MAX_EXPERTS} entries or not as many as the other,
     *         an entry is null or closed, an entry's shape does not fit {@code [d_model, 2·d_ff]} /
     *         {@code [d_ff, d_model]} as given by the first entries, or its group size, symmetry or
     *         scale dtype differs from the first entry of its list, or an entry is act-order
     *         ({@link QuantizedWeight#actOrder()})
     */
    public static W4A16ExpertWeights of(List<QuantizedWeight> w1, List<QuantizedWeight> w2) {
        List<QuantizedWeight> a = checkList(w1, "w1");
        List<QuantizedWeight> b = checkList(w2, "w2");
        if (b.size() != a.size()) {
            throw new IllegalArgumentException("w2 has " + b.size() + " experts; expected E = " + a.size() + " to match w1");
        }
        QuantizedWeight first1 = a.getFirst();
        long twoDff = first1.n();
        if (twoDff % 2 != 0 || twoDff / 2 % 8 != 0 || twoDff / 2 > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1[0] is " + first1 + "; expected [d_model, 2·d_ff] with d_ff a multiple of 8"
                    + " (the k of w2) and at most " + MoeLayer.MAX_DIM + ", so n a multiple of 16");
        }
        if (first1.k() > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1[0] is " + first1 + ", d_model = " + first1.k() + "; accepted: at most "
                    + MoeLayer.MAX_DIM);
        }
        int dModel = first1.k();
        int dFf = (int) (twoDff / 2);
        checkLayout(a, "w1", dModel, 2 * dFf, "[d_model, 2·d_ff]");
        checkLayout(b, "w2", dFf, dModel, "[d_ff, d_model]");
        return new W4A16ExpertWeights(a, b, false);
    }

    private static List<QuantizedWeight> checkList(List<QuantizedWeight> list, String name) {
        Args.notNull(list, name);
        if (list.isEmpty() || list.size() > MoeLayer.MAX_EXPERTS) {
            throw new IllegalArgumentException(name + " has " + list.size() + " experts; accepted: 1.." + MoeLayer.MAX_EXPERTS);
        }
        List<QuantizedWeight> copy = new ArrayList<>(list.size());
        for (int e = 0; e < list.size(); e++) {
            QuantizedWeight q = list.get(e);
            if (q == null) {
                throw new IllegalArgumentException(name + "[" + e + "] must not be null");
            }
            if (!q.isAlive()) {
                throw new IllegalArgumentException(name + "[" + e + "] (" + q + ") is closed");
            }
            if (q.actOrder()) {
                // The MoE kernels read expert weights directly, without the W4A16 facade's gather of x.
                throw new IllegalArgumentException(name + "[" + e + "] (" + q + ") is act-order; MoE experts need rows in order");
            }
            copy.add(q);
        }
        return List.copyOf(copy);
    }

    /** Every entry has shape [k, n] and the first entry's group size, symmetry and scale dtype. */
    private static void checkLayout(List<QuantizedWeight> list, String name, int k, int n, String expected) {
        QuantizedWeight first = list.getFirst();
        for (int e = 0; e < list.size(); e++) {
            QuantizedWeight q = list.get(e);
            if (q.k() != k || q.n() != n) {
                throw new IllegalArgumentException(name + "[" + e + "] is " + q + "; expected " + expected + " = [" + k + ", " + n
                        + "] (d_model and d_ff from w1[0])");
            }
            if (q.groupSize() != first.groupSize() || q.symmetric() != first.symmetric() || q.scaleType() != first.scaleType()) {
                throw new IllegalArgumentException(name + "[" + e + "] is " + q + "; expected the layout of " + name + "[0], "
                        + first + ": every expert of a matrix has the same group size, symmetry and scale dtype");
            }
        }
    }

    /**
     * Quantizes bf16, fp16 or fp32 expert weights with {@link RtnQuantizer}, expert by expert. The
     * result owns the new weights ({@link #close()} frees them); the inputs are only read.
     *
     * @param w1        {@code [E, d_model, 2·d_ff]} fp32, bf16 or fp16, any row stride, every value finite
     * @param w2        {@code [E, d_ff, d_model]}, same dtypes, every value finite
     * @param groupSize 32, 64 or 128 for both matrices; or {@code -1}: one group per column in each
     *                  matrix ({@code g = d_model} for W1, {@code g = d_ff} for W2); or a size equal
     *                  to a matrix's {@code k} (then it must suit the other matrix too)
     * @param symmetric true for the symmetric variant (no zeros stored, zero 8)
     * @param scaleType fp16, bf16 or fp32
     * @throws IllegalArgumentException naming the argument: a tensor null, closed, outside host memory
     *         (the weights are read on the host), of another dtype or rank, with {@code d_model} or {@code d_ff} not a positive multiple of 8, or the two
     *         disagreeing on {@code E}, {@code d_model} or {@code d_ff}; a group size that a matrix
     *         does not accept; a scale dtype not in the list; a non-finite weight or a scale that
     *         overflows {@code scaleType} (the message names the tensor and the expert)
     */
    public static W4A16ExpertWeights quantize(Tensor w1, Tensor w2, int groupSize, boolean symmetric, DType scaleType) {
        Args.live(w1, "w1");
        Args.live(w2, "w2");
        Args.host(w1, "w1");
        Args.host(w2, "w2");
        Args.dtype(w1, "w1", QUANTIZE_INPUT_TYPES);
        Args.dtype(w2, "w2", QUANTIZE_INPUT_TYPES);
        if (w1.rank() != 3) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + "; expected rank 3, [E, d_model, 2·d_ff]");
        }
        if (w2.rank() != 3) {
            throw new IllegalArgumentException("w2 has shape " + Arrays.toString(w2.shape()) + "; expected rank 3, [E, d_ff, d_model]");
        }
        long e = w1.dim(0);
        long dModel = w1.dim(1);
        long twoDff = w1.dim(2);
        if (e < 1 || e > MoeLayer.MAX_EXPERTS) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", E = " + e + " experts; accepted: 1.."
                    + MoeLayer.MAX_EXPERTS);
        }
        if (dModel < 8 || dModel % 8 != 0 || dModel > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", d_model = " + dModel
                    + "; accepted: a positive multiple of 8 (int4 words hold 8 rows) up to " + MoeLayer.MAX_DIM);
        }
        if (twoDff < 16 || twoDff % 16 != 0 || twoDff / 2 > MoeLayer.MAX_DIM) {
            throw new IllegalArgumentException("w1 has shape " + Arrays.toString(w1.shape()) + ", last dimension " + twoDff
                    + "; expected 2·d_ff with d_ff a positive multiple of 8 up to " + MoeLayer.MAX_DIM);
        }
        long dFf = twoDff / 2;
        if (w2.dim(0) != e || w2.dim(1) != dFf || w2.dim(2) != dModel) {
            throw new IllegalArgumentException("w2 has shape " + Arrays.toString(w2.shape()) + "; expected [E, d_ff, d_model] = ["
                    + e + ", " + dFf + ", " + dModel + "] to match w1 " + Arrays.toString(w1.shape()));
        }
        checkGroupSize(groupSize, "w1", "d_model", dModel);
        checkGroupSize(groupSize, "w2", "d_ff", dFf);
        Args.notNull(scaleType, "scaleType");
        if (!QuantizedWeight.SCALE_TYPES.contains(scaleType)) {
            throw new IllegalArgumentException("scaleType = " + scaleType + " is not accepted; accepted: bf16, fp16, fp32");
        }
        List<QuantizedWeight> a = new ArrayList<>((int) e);
        List<QuantizedWeight> b = new ArrayList<>((int) e);
        try {
            for (int x = 0; x < e; x++) {
                a.add(quantizeExpert(w1, "w1", x, groupSize, symmetric, scaleType));
                b.add(quantizeExpert(w2, "w2", x, groupSize, symmetric, scaleType));
            }
        } catch (RuntimeException | Error failure) {
            a.forEach(QuantizedWeight::close);
            b.forEach(QuantizedWeight::close);
            throw failure;
        }
        return new W4A16ExpertWeights(List.copyOf(a), List.copyOf(b), true);
    }

    /** The group size is accepted by a matrix with {@code k} rows: 32/64/128, −1, or k, and divides k. */
    private static void checkGroupSize(int groupSize, String name, String kName, long k) {
        long g = groupSize == -1 ? k : groupSize;
        boolean listed = g == 32 || g == 64 || g == 128;
        if (!(listed || g == k) || k % g != 0) {
            throw new IllegalArgumentException("groupSize = " + groupSize + " is not accepted for " + name + " (k = " + kName + " = "
                    + k + "); accepted: 32, 64 or 128 dividing k, or k itself (-1: one group per column in each matrix)");
        }
    }

    /** Expert {@code e}'s {@code [k, n]} matrix of a 3-D tensor, a strided view (no copy), quantized. */
    private static QuantizedWeight quantizeExpert(Tensor t, String name, int e, int groupSize, boolean symmetric, DType scaleType) {
        long k = t.dim(1);
        long n = t.dim(2);
        long first = t.rowByteOffset(e * k);
        long bytes = t.rowByteOffset(e * k + k - 1) + t.dtype().byteSize(n) - first;
        Tensor slice = Tensor.wrapStrided(t.segment().asSlice(first, bytes), t.dtype(), t.rowStride(), k, n);
        try {
            return RtnQuantizer.quantize(slice, groupSize == -1 ? (int) k : groupSize, symmetric, scaleType);
        } catch (IllegalArgumentException bad) {
            // RtnQuantizer names its input "w"; say which tensor and expert.
            throw new IllegalArgumentException(name + ", expert " + e + ": " + bad.getMessage(), bad);
        }
    }

    /** The quantized {@code matrix} of {@code expert}: {@code W1[e]} or {@code W2[e]}. */
    public QuantizedWeight weight(Matrix matrix, int expert) {
        Objects.checkIndex(expert, experts);
        return matrix == Matrix.GATE_UP ? w1.get(expert) : w2.get(expert);
    }

    /** The group size of {@code matrix} (the same for every expert). */
    public int groupSize(Matrix matrix) {
        return weight(matrix, 0).groupSize();
    }

    /** True when this object made its weights ({@link #quantize}) and frees them on {@link #close()}. */
    public boolean ownsWeights() {
        return owner;
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
        return "w4a16";
    }

    @Override
    public boolean isAlive() {
        if (closed) {
            return false;
        }
        for (int e = 0; e < experts; e++) {
            if (!w1.get(e).isAlive() || !w2.get(e).isAlive()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean overlaps(Tensor t) {
        for (int e = 0; e < experts; e++) {
            if (overlaps(w1.get(e), t) || overlaps(w2.get(e), t)) {
                return true;
            }
        }
        return false;
    }

    private static boolean overlaps(QuantizedWeight q, Tensor t) {
        return t.overlaps(q.qweight()) || t.overlaps(q.scales()) || (q.qzeros() != null && t.overlaps(q.qzeros()));
    }

    /**
     * {@inheritDoc}
     *
     * <p>Column by column: per group the scale and zero are read once, per 8 rows one int32 word,
     * and each nibble becomes {@code (float) (q − z) · s}.
     *
     * @throws IllegalStateException when this object or a weight behind it is closed
     */
    @Override
    public void decode(Matrix matrix, int expert, int row0, int rows, int col0, int cols,
                       float[] dst, int dstOffset, int dstStride) {
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
        QuantizedWeight q = weight(matrix, expert);
        Tensor qweight = q.qweight();
        Tensor qzeros = q.qzeros();
        Tensor scales = q.scales();
        MemorySegment words = qweight.segment();
        MemorySegment zeros = qzeros == null ? null : qzeros.segment();
        MemorySegment scaleSeg = scales.segment();
        DType scaleType = scales.dtype();
        long wordRowBytes = qweight.rowByteOffset(1);   // bytes between word rows (8 rows of W)
        int g = q.groupSize();
        int end = row0 + rows;
        for (int c = 0; c < cols; c++) {
            int col = col0 + c;
            long wordAt = 4L * col;
            int d = dstOffset + c;   // dst index of row r: advances by dstStride per row
            int r = row0;
            while (r < end) {
                int gi = r / g;
                int groupEnd = Math.min(end, (gi + 1) * g);
                float s = scale(scaleSeg, scaleType, scales.rowByteOffset(gi), col);
                float z = zeros == null ? QuantizedWeight.SYMMETRIC_ZERO : QuantizedWeight.nibble(
                        zeros.get(ValueLayout.JAVA_INT_UNALIGNED, qzeros.rowByteOffset(gi) + 4L * (col >>> 3)), col & 7);
                // (q − z) is an integer in [−15, 15], exact in float: one rounding, as (float) weight().
                while (r < groupEnd) {
                    int word = words.get(ValueLayout.JAVA_INT_UNALIGNED, (r >>> 3) * wordRowBytes + wordAt);
                    if ((r & 7) == 0 && r + 8 <= groupEnd) {
                        // A whole word: eight independent nibbles (no shift chain between them).
                        int st = dstStride;
                        dst[d] = ((word & 0xF) - z) * s;
                        dst[d + st] = (((word >>> 4) & 0xF) - z) * s;
                        dst[d + 2 * st] = (((word >>> 8) & 0xF) - z) * s;
                        dst[d + 3 * st] = (((word >>> 12) & 0xF) - z) * s;
                        dst[d + 4 * st] = (((word >>> 16) & 0xF) - z) * s;
                        dst[d + 5 * st] = (((word >>> 20) & 0xF) - z) * s;
                        dst[d + 6 * st] = (((word >>> 24) & 0xF) - z) * s;
                        dst[d + 7 * st] = ((word >>> 28) - z) * s;
                        r += 8;
                        d += 8 * st;
                        continue;
                    }
                    int wordEnd = Math.min(groupEnd, (r | 7) + 1);
                    for (word >>>= 4 * (r & 7); r < wordEnd; r++, word >>>= 4, d += dstStride) {
                        dst[d] = ((word & 0xF) - z) * s;
                    }
                }
            }
        }
    }

    /** The scale at byte offset {@code rowAt} (a group's row) and column {@code col}, widened exactly. */
    private static float scale(MemorySegment seg, DType type, long rowAt, int col) {
        return switch (type) {
            case FP32 -> seg.get(ValueLayout.JAVA_FLOAT_UNALIGNED, rowAt + 4L * col);
            case BF16 -> Float.intBitsToFloat((seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, rowAt + 2L * col) & 0xFFFF) << 16);
            case FP16 -> Float.float16ToFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, rowAt + 2L * col));
            default -> throw new IllegalStateException("scale dtype " + type);
        };
    }

    /**
     * Marks this view unusable; when it {@linkplain #quantize made} its weights, also closes them.
     * Borrowed weights ({@link #of}) stay open. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (owner) {
            w1.forEach(QuantizedWeight::close);
            w2.forEach(QuantizedWeight::close);
        }
    }

    /** E.g. {@code W4A16ExpertWeights[E=8, d_model=1024, d_ff=2816, W1 g128 asym fp16, W2 g128 asym fp16]}. */
    @Override
    public String toString() {
        QuantizedWeight a = w1.getFirst();
        QuantizedWeight b = w2.getFirst();
        return "W4A16ExpertWeights[E=" + experts + ", d_model=" + dModel + ", d_ff=" + dFf + ", W1 g" + a.groupSize()
                + (a.symmetric() ? " sym " : " asym ") + a.scaleType() + ", W2 g" + b.groupSize() + (b.symmetric() ? " sym " : " asym ")
                + b.scaleType() + "]";
    }
}
