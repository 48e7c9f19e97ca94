package org.offload4j.cuda.hadamard;

import java.util.List;
import org.offload4j.core.DType;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;

/**
 * The launch contract of the Hadamard kernels ({@code src/main/cuda/hadamard.cu}, whose header
 * comment is the full description), computed for one problem: kernel, grid, block, dynamic shared
 * memory and the argument order. Pure Java; no device needed.
 *
 * <pre>
 *   kernel    o4j_hadamard_{f32,bf16,f16}
 *   grid      (min(rows, 65535), 1, 1)                blocks stride over rows
 *   block     (min(512, max(32, roundUp(d/2, 32))), 1, 1)
 *   dyn smem  4·d + (m &gt; 1 ? 4·m² : 0) bytes        &gt; 48 KiB needs MAX_DYNAMIC_SHARED_SIZE_BYTES raised
 *   args      in, out, rows, inStride, outStride, d, m, log2n, scale, transpose, hm, preSigns, postSigns
 * </pre>
 */
public final class HadamardLaunch {
    /** Upper bound of gridDim.x used; the kernel strides over the remaining rows. */
    public static final int MAX_GRID_X = 65535;
    /** Threads per block at most (the kernels' {@code __launch_bounds__}). */
    public static final int MAX_THREADS = 512;
    /** Dynamic shared memory a kernel gets without raising its attribute. */
    public static final int DEFAULT_SMEM_LIMIT = 48 * 1024;

    /**
     * The kernel parameters in order, C types with {@code T} the row dtype; a test checks them
     * against the {@code extern "C"} signatures in hadamard.cu.
     */
    public static final List<String> ARGUMENTS = List.of(
            "const T* in", "T* out", "long long rows", "long long inStride", "long long outStride",
            "int d", "int m", "int log2n", "float scale", "int transpose",
            "const float* hm", "const float* preSigns", "const float* postSigns");

    private final HadamardSize size;
    private final long rows;
    private final DType dtype;

    private HadamardLaunch(HadamardSize size, long rows, DType dtype) {
        this.size = size;
        this.rows = rows;
        this.dtype = dtype;
    }

    /**
     * The launch for {@code rows ≥ 1} rows of {@code size} in {@code dtype} (FP32, BF16 or FP16).
     *
     * @throws IllegalArgumentException for another dtype or {@code rows < 1}
     */
    public static HadamardLaunch of(HadamardSize size, long rows, DType dtype) {
        kernelFor(dtype);
        if (rows < 1) {
            throw new IllegalArgumentException("rows = " + rows + "; a launch needs at least one row (zero rows: launch nothing)");
        }
        return new HadamardLaunch(size, rows, dtype);
    }

    /** The kernel for a row dtype. */
    public static KernelName kernelFor(DType dtype) {
        return switch (dtype) {
            case FP32 -> KernelName.HADAMARD_F32;
            case BF16 -> KernelName.HADAMARD_BF16;
            case FP16 -> KernelName.HADAMARD_F16;
            default -> throw new IllegalArgumentException("dtype = " + dtype + "; the Hadamard kernels take FP32, BF16 or FP16");
        };
    }

    public KernelName kernel() {
        return kernelFor(dtype);
    }

    public int gridX() {
        return (int) Math.min(rows, MAX_GRID_X);
    }

    public int blockX() {
        return threadsFor(size.d());
    }

    /** {@code min(512, max(32, roundUp(d/2, 32)))}: one thread per butterfly, in whole warps. */
    public static int threadsFor(int d) {
        int half = d / 2;
        int warps = (half + 31) / 32;
        return Math.min(MAX_THREADS, Math.max(32, warps * 32));
    }

    /** Bytes of dynamic shared memory: the fp32 row and, for {@code m > 1}, H_m as floats. */
    public int dynamicSmemBytes() {
        return smemBytes(size);
    }

    /** {@code 4·d + (m > 1 ? 4·m² : 0)}. */
    public static int smemBytes(HadamardSize size) {
        int m = size.m();
        return 4 * size.d() + (m > 1 ? 4 * m * m : 0);
    }

    /** True when the kernel's {@code MAX_DYNAMIC_SHARED_SIZE_BYTES} must be raised before this launch. */
    public boolean needsSmemOptIn() {
        return dynamicSmemBytes() > DEFAULT_SMEM_LIMIT;
    }

    /**
     * True when this version can run on a device whose opt-in shared memory per block
     * ({@code CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN}) is {@code maxSmemOptin}: not
     * so for d = 28672 and 32768 on sm_86/sm_89 (99 KiB); a backend must decline those there.
     */
    public boolean fits(int maxSmemOptin) {
        return dynamicSmemBytes() <= maxSmemOptin;
    }

    /**
     * The {@code hm} argument's contents: {@link HadamardMatrices#of}{@code (m)} row-major as
     * floats ({@code H_m[a][a']} at {@code a·m + a'}), or {@code null} for {@code m = 1}. Upload once
     * per m; the kernel handles the transposed direction itself.
     */
    public static float[] matrixArgument(int m) {
        if (m == 1) {
            return null;
        }
        int[][] h = HadamardMatrices.of(m);
        float[] out = new float[m * m];
        for (int a = 0; a < m; a++) {
            for (int b = 0; b < m; b++) {
                out[a * m + b] = h[a][b];
            }
        }
        return out;
    }

    public HadamardSize size() {
        return size;
    }

    public long rows() {
        return rows;
    }

    public DType dtype() {
        return dtype;
    }

    @Override
    public String toString() {
        return kernel().symbol() + "<<<" + gridX() + ", " + blockX() + ", " + dynamicSmemBytes() + ">>> " + size + " rows=" + rows;
    }
}
