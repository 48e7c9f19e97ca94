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
 * and by {@link RtnQuantizer}. Once built the object is immutable apart from {@link #close()};
 * it does not copy the tensors, so changing their contents changes the weight.
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
    private volatile boolean closed;

    private QuantizedWeight(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales, boolean owner) {
        this.k = k;
        this.n = n;
        this.groupSize = groupSize;
        this.qweight = qweight;
        this.qzeros = qzeros;
        this.scales = scales;
        this.owner = owner;
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
        return new QuantizedWeight(k, n, g, qweight, qzeros, scales, false);
    }

    /** As {@link #wrap}, but {@link #close()} also closes the three tensors. */
    public static QuantizedWeight adopt(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales) {
        int g = validate(k, n, groupSize, qweight, qzeros, scales);
        return new QuantizedWeight(k, n, g, qweight, qzeros, scales, true);
    }

    /**
     * Checks k, n and the group size alone (the facade uses it for weights a backend reports too).
     *
     * @return the group size with {@code -1} resolved to {@code k}
     */
    static int checkSizes(long k, long n, long groupSize) {
        Args.require(k > 0 && k % 8 == 0 && k <= Integer.MAX_VALUE,
                "k = " + k + " is not accepted; k must be a positive multiple of 8");
        Args.require(n > 0 && n % 8 == 0 && n <= Integer.MAX_VALUE,
                "n = " + n + " is not accepted; n must be a positive multiple of 8");
        long g = groupSize == -1 ? k : groupSize;
        Args.require(g == k || (g > 0 && g <= 128 && GROUP_SIZES.contains((int) g)),
                "groupSize = " + groupSize + " is not accepted; accepted: 32, 64, 128 or k (= " + k + "; -1 also means k)");
        Args.require(k % g == 0, "k = " + k + " is not a multiple of groupSize = " + g);
        return (int) g;
    }

    private static int validate(int k, int n, int groupSize, Tensor qweight, Tensor qzeros, Tensor scales) {
        int g = checkSizes(k, n, groupSize);
        Args.live(qweight, "qweight");
        Args.dtype(qweight, "qweight", DType.INT32);
        Args.shape(qweight, "qweight", k / 8, n);
        if (qzeros != null) {
            Args.live(qzeros, "qzeros");
            Args.dtype(qzeros, "qzeros", DType.INT32);
            Args.shape(qzeros, "qzeros", k / g, n / 8);
        }
        Args.live(scales, "scales");
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

    /** The quantized value {@code q ∈ [0, 15]} of element ({@code row}, {@code col}), row along k. */
    public int q(int row, int col) {
        ensureOpen();
        return nibble(qweight.getInt(row >>> 3, col), row & 7);
    }

    /** The zero point of {@code group} and {@code col} ({@value #SYMMETRIC_ZERO} when symmetric). */
    public int zero(int group, int col) {
        ensureOpen();
        return qzeros == null ? SYMMETRIC_ZERO : nibble(qzeros.getInt(group, col >>> 3), col & 7);
    }

    /** The scale of {@code group} and {@code col}, widened exactly to float. */
    public float scale(int group, int col) {
        ensureOpen();
        return scales.getFloat(group, col);
    }

    /** Element ({@code row}, {@code col}) of W, exactly: {@code (q − z) · s} in double. */
    public double weight(int row, int col) {
        int gi = row / groupSize;
        return (double) (q(row, col) - zero(gi, col)) * scale(gi, col);
    }

    /**
     * The weight as a new FP32 {@code [k, n]} tensor owned by the caller. Exact for FP16 and BF16
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

    /** E.g. {@code W4[4096, 4096] g128 asym scales=fp16}. */
    @Override
    public String toString() {
        return "W4[" + k + ", " + n + "] g" + groupSize + (symmetric() ? " sym" : " asym") + " scales=" + scales.dtype();
    }
}
