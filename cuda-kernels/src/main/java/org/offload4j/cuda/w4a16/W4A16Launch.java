package org.offload4j.cuda.w4a16;

import java.util.List;
import org.offload4j.core.DType;
import org.offload4j.cuda.kernels.KernelName;

/**
 * The launch contract of the two W4A16 kernels ({@code src/main/cuda/w4a16.cu}, whose header
 * comment is the full description) for one problem and split count. Pure Java.
 *
 * <pre>
 *   stage 1  o4j_w4a16_splitk_{bf16,f16}  grid (ceil(n/128), ceil(m/8), splits)  block 128  smem 0 (8 KiB static)
 *            args x, ldx, qweight, qzeros, scales, ws, m, n, k, groupSize, splits
 *   stage 2  o4j_w4a16_reduce_{bf16,f16}  grid (ceil(m·n/256))                   block 256  smem 0
 *            args ws, bias, biasKind, y, ldy, m, n, splits
 *   workspace  fp32 [splits][m][n]: splits·m·n·4 bytes, no initialisation needed (stage 1 writes all of it)
 * </pre>
 * Device weight layout: GPTQ {@code qweight} INT32 {@code [k/8, n]} and {@code qzeros} INT32
 * {@code [k/g, n/8]} (or a null pointer when symmetric) uploaded unchanged, scales widened to FP32
 * {@code [k/g, n]}.
 */
public final class W4A16Launch {
    /** Columns per stage-1 block (= its threads). */
    public static final int TILE_N = 128;
    /** Rows of x per stage-1 block. */
    public static final int TILE_M = 8;
    public static final int SPLITK_THREADS = TILE_N;
    public static final int REDUCE_THREADS = 256;
    /** gridDim.y limit, which bounds m per launch to 65535·8. */
    public static final int MAX_GRID_Y = 65535;

    /** {@code biasKind} argument: no bias (pass a null pointer). */
    public static final int BIAS_NONE = 0;
    /** {@code biasKind} argument: fp32 bias. */
    public static final int BIAS_FP32 = 1;
    /** {@code biasKind} argument: bias of y's dtype. */
    public static final int BIAS_SAME_AS_Y = 2;

    /** Stage 1 parameters in order, {@code T} = x's dtype; checked against w4a16.cu by a test. */
    public static final List<String> SPLITK_ARGUMENTS = List.of(
            "const T* x", "long long ldx", "const int* qweight", "const int* qzeros", "const float* scales",
            "float* ws", "int m", "int n", "int k", "int groupSize", "int splits");
    /** Stage 2 parameters in order, {@code T} = y's dtype. */
    public static final List<String> REDUCE_ARGUMENTS = List.of(
            "const float* ws", "const void* bias", "int biasKind", "T* y", "long long ldy", "int m", "int n", "int splits");

    private final int m;
    private final int n;
    private final int k;
    private final int groupSize;
    private final int splits;
    private final DType dtype;

    private W4A16Launch(int m, int n, int k, int groupSize, int splits, DType dtype) {
        this.m = m;
        this.n = n;
        this.k = k;
        this.groupSize = groupSize;
        this.splits = splits;
        this.dtype = dtype;
    }

    /**
     * The launches for {@code y[m, n] = x[m, k] · W} with {@code splits} k-splits.
     *
     * @throws IllegalArgumentException for sizes the kernels do not take (the facade has checked the
     *                                  op's own rules; these are the launch limits)
     */
    public static W4A16Launch of(int m, int n, int k, int groupSize, int splits, DType dtype) {
        splitKKernel(dtype);
        require(m >= 1, "m = " + m + "; launch nothing for m = 0");
        require(n > 0 && n % 8 == 0, "n = " + n + "; must be a positive multiple of 8");
        require(k > 0 && k % 8 == 0, "k = " + k + "; must be a positive multiple of 8");
        require(groupSize > 0 && groupSize % 8 == 0 && k % groupSize == 0,
                "groupSize = " + groupSize + "; must be a multiple of 8 dividing k = " + k);
        require(splits >= 1 && splits <= k / 8, "splits = " + splits + "; must be in [1, k/8 = " + k / 8 + "]");
        require((m + TILE_M - 1) / TILE_M <= MAX_GRID_Y, "m = " + m + "; at most " + (long) MAX_GRID_Y * TILE_M + " rows per launch");
        require((long) m * n / REDUCE_THREADS < Integer.MAX_VALUE, "m·n = " + (long) m * n + " is too large for one reduce launch");
        return new W4A16Launch(m, n, k, groupSize, splits, dtype);
    }

    public static KernelName splitKKernel(DType dtype) {
        return switch (dtype) {
            case BF16 -> KernelName.W4A16_SPLITK_BF16;
            case FP16 -> KernelName.W4A16_SPLITK_F16;
            default -> throw new IllegalArgumentException("dtype = " + dtype + "; the W4A16 kernels take BF16 or FP16 activations");
        };
    }

    public static KernelName reduceKernel(DType dtype) {
        return switch (dtype) {
            case BF16 -> KernelName.W4A16_REDUCE_BF16;
            case FP16 -> KernelName.W4A16_REDUCE_F16;
            default -> throw new IllegalArgumentException("dtype = " + dtype + "; the W4A16 kernels take BF16 or FP16 outputs");
        };
    }

    /** {@link #BIAS_NONE} for null, {@link #BIAS_FP32} for fp32, {@link #BIAS_SAME_AS_Y} for y's dtype. */
    public static int biasKind(DType biasType, DType yType) {
        if (biasType == null) {
            return BIAS_NONE;
        }
        if (biasType == DType.FP32) {
            return BIAS_FP32;
        }
        if (biasType == yType) {
            return BIAS_SAME_AS_Y;
        }
        throw new IllegalArgumentException("bias dtype " + biasType + "; accepted: FP32 or y's dtype " + yType);
    }

    public KernelName splitKKernel() {
        return splitKKernel(dtype);
    }

    public KernelName reduceKernel() {
        return reduceKernel(dtype);
    }

    public int splitKGridX() {
        return (n + TILE_N - 1) / TILE_N;
    }

    public int splitKGridY() {
        return (m + TILE_M - 1) / TILE_M;
    }

    public int splitKGridZ() {
        return splits;
    }

    public int reduceGridX() {
        return (int) (((long) m * n + REDUCE_THREADS - 1) / REDUCE_THREADS);
    }

    /** Bytes of the fp32 workspace {@code [splits][m][n]}. */
    public long workspaceBytes() {
        return 4L * splits * m * n;
    }

    public int m() {
        return m;
    }

    public int n() {
        return n;
    }

    public int k() {
        return k;
    }

    public int groupSize() {
        return groupSize;
    }

    public int splits() {
        return splits;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    @Override
    public String toString() {
        return splitKKernel().symbol() + "<<<(" + splitKGridX() + ", " + splitKGridY() + ", " + splits + "), " + SPLITK_THREADS
                + ">>> + " + reduceKernel().symbol() + "<<<" + reduceGridX() + ", " + REDUCE_THREADS + ">>> m=" + m + " n=" + n
                + " k=" + k + " g=" + groupSize + " ws=" + workspaceBytes() + " B";
    }
}
