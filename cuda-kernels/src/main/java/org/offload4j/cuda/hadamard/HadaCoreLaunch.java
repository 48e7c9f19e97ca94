package org.offload4j.cuda.hadamard;

import java.util.List;
import java.util.Optional;
import org.offload4j.core.DType;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.hadamard.HadamardSize;

/**
 * The launch contract of the tensor-core Hadamard kernels ({@code src/main/cuda/hadacore_tc.cu},
 * whose header comment is the full description), and the rule for when they apply. Pure Java.
 *
 * <pre>
 *   d = 2^k, k ≤ 11   o4j_hadamard_tc_regs{R}_{type}   R = 1 (k ≤ 8), 2, 4, 8 (k = 9, 10, 11)
 *                     block 128, grid min(ceil(groups / 4), 16·SMs), no shared memory;
 *                     a group is 256·R elements: one row, or 256/d rows when k &lt; 8
 *                     args in, out, rows, k, inStride, outStride, scale, pre, post
 *   d = 2^k, k ≥ 12   o4j_hadamard_tc_smem{k}_{type}
 *                     block 512, grid min(rows, 4·SMs), dynamic shared memory 4·d bytes
 *                     args in, out, rows, inStride, outStride, scale, pre, post
 *   d = m·2^kn        o4j_hadamard_tc_m_r{R}_{type}   R = 1 (kn ≤ 8), else 2^(kn−8)
 *                     block 256, grid min(rows, 4·SMs), dynamic shared memory 4·m·S bytes (S = n, or n + 4 from n = 8 on)
 *                     args in, out, rows, kn, m, inStride, outStride, scale, transpose, hm, pre, post
 * </pre>
 *
 * <p>Not covered (the CUDA-core kernel of {@link HadamardLaunch} runs these): fp32 rows with a
 * 2048-element power-of-two part (no spill-free register variant); rows whose strides or base addresses are
 * not multiples of 4 elements when k ≥ 2 (the kernels access 4 elements at a time); a row (4·d
 * bytes, 4·m·S for m·2^k) that does not fit the GPU's shared memory per block.
 */
public record HadaCoreLaunch(KernelName kernel, Kind kind, int gridX, int blockX, int dynamicSmemBytes) {

    /** Which kernel family, and so which argument list. */
    public enum Kind {
        /** {@link #REGS_ARGUMENTS}. */
        REGS,
        /** {@link #SMEM_ARGUMENTS}. */
        SMEM,
        /** {@link #MSEG_ARGUMENTS}. */
        MSEG
    }

    /** The regs kernels' arguments, C types, {@code T} the row dtype. */
    public static final List<String> REGS_ARGUMENTS = List.of(
            "const T* in", "T* out", "long long rows", "int k", "long long inStride", "long long outStride",
            "float scale", "const float* pre", "const float* post");
    /** The smem kernels' arguments. */
    public static final List<String> SMEM_ARGUMENTS = List.of(
            "const T* in", "T* out", "long long rows", "long long inStride", "long long outStride",
            "float scale", "const float* pre", "const float* post");

    /** The m·2^k kernels' arguments ({@code hm}: H_m row-major, as {@link HadamardLaunch#matrixArgument}). */
    public static final List<String> MSEG_ARGUMENTS = List.of(
            "const T* in", "T* out", "long long rows", "int kn", "int m", "long long inStride", "long long outStride",
            "float scale", "int transpose", "const float* hm", "const float* pre", "const float* post");

    /** The fused FP8 amax launch ({@code <regs or smem kernel>_amax}); k unused by the smem kernels. */
    public static final List<String> AMAX_ARGUMENTS = List.of(
            "const T* in", "long long rows", "int k", "long long inStride", "float scale", "long long rowsPerScale",
            "unsigned* amaxBits");
    /** The fused FP8 quantizing launch ({@code <regs or smem kernel>_fp8}). */
    public static final List<String> FP8_ARGUMENTS = List.of(
            "const T* in", "unsigned char* q", "long long rows", "int k", "long long inStride", "long long qStride",
            "float scale", "long long rowsPerScale", "const unsigned* amaxBits", "float* scales", "long long groups");

    static final int REGS_BLOCK = 128;
    static final int MSEG_BLOCK = 256;
    static final int SMEM_BLOCK = 512;

    /**
     * The launch for {@code rows ≥ 1} rows, or empty when the tensor-core kernels do not cover
     * the problem (see the class description).
     *
     * @param inAddress   device address of the first input element (alignment only)
     * @param outAddress  device address of the first output element
     * @param smemOptin   the GPU's shared memory per block with opt-in
     * @param smCount     the GPU's SM count
     */
    public static Optional<HadaCoreLaunch> plan(HadamardSize size, DType dtype, long rows, long inStride,
                                                long outStride, long inAddress, long outAddress, int smemOptin,
                                                int smCount) {
        if (rows < 1 || !(dtype == DType.BF16 || dtype == DType.FP16 || dtype == DType.FP32)) {
            return Optional.empty();
        }
        int k = size.log2n();
        if (k >= 2 || size.m() != 1) {
            long vectorBytes = 4L * dtype.byteSize(1);
            if (inStride % 4 != 0 || outStride % 4 != 0 || inAddress % vectorBytes != 0 || outAddress % vectorBytes != 0) {
                return Optional.empty();
            }
        }
        if (size.m() != 1) {
            return planSegments(size, dtype, rows, smemOptin, smCount);
        }
        if (k <= 11) {
            if (k == 11 && dtype == DType.FP32) {
                return Optional.empty();
            }
            int r = k <= 8 ? 1 : 1 << (k - 8);
            int rowsPerGroupLog = k < 8 ? 8 - k : 0;
            long groups = (rows + (1L << rowsPerGroupLog) - 1) >> rowsPerGroupLog;
            long blocks = Math.min((groups + 3) / 4, 16L * smCount);
            return Optional.of(new HadaCoreLaunch(regsKernel(r, dtype), Kind.REGS, (int) Math.max(1, blocks), REGS_BLOCK, 0));
        }
        int smem = 4 * size.d();
        if (smem > smemOptin) {
            return Optional.empty();
        }
        long blocks = Math.min(rows, 4L * smCount);
        return Optional.of(new HadaCoreLaunch(smemKernel(k, dtype), Kind.SMEM, (int) blocks, SMEM_BLOCK, smem));
    }

    private static Optional<HadaCoreLaunch> planSegments(HadamardSize size, DType dtype, long rows, int smemOptin,
                                                         int smCount) {
        int kn = size.log2n();
        if (kn == 11 && dtype == DType.FP32) {
            return Optional.empty();
        }
        // the row in shared memory with each segment's stride padded by 4 words from n = 8 on (hadacore_tc.cuh, mseg_stride)
        int stride = (1 << kn) + (kn >= 3 ? 4 : 0);
        int smem = 4 * size.m() * stride;
        if (smem > smemOptin) {
            return Optional.empty();
        }
        int r = kn <= 8 ? 1 : 1 << (kn - 8);
        KernelName kernel = KernelName.valueOf("HADAMARD_TC_M_R" + r + "_" + suffix(dtype));
        return Optional.of(new HadaCoreLaunch(kernel, Kind.MSEG, (int) Math.min(rows, 4L * smCount), MSEG_BLOCK, smem));
    }

    private static String suffix(DType dtype) {
        return switch (dtype) {
            case BF16 -> "BF16";
            case FP16 -> "F16";
            case FP32 -> "F32";
            default -> throw new IllegalArgumentException("no tensor-core Hadamard kernel for " + dtype);
        };
    }

    static KernelName regsKernel(int r, DType dtype) {
        return KernelName.valueOf("HADAMARD_TC_REGS" + r + "_" + suffix(dtype));
    }

    static KernelName smemKernel(int k, DType dtype) {
        return KernelName.valueOf("HADAMARD_TC_SMEM" + k + "_" + suffix(dtype));
    }

    /**
     * The fused rotate-and-quantize pair for this launch: the {@code _amax} and {@code _fp8}
     * variants of a REGS or SMEM kernel of bf16 or fp16 rows with d ≥ 4, or empty where there is
     * none (fp32, m·2^k, d = 2) or the quantized rows are not 4-byte aligned.
     */
    public Optional<KernelName[]> fp8Pair(long qStride, long qAddress) {
        String base = kernel.name();
        if (kind == Kind.MSEG || base.endsWith("_F32")) {
            return Optional.empty();
        }
        if (qStride % 4 != 0 || qAddress % 4 != 0) {
            return Optional.empty();
        }
        return Optional.of(new KernelName[] {KernelName.valueOf(base + "_AMAX"), KernelName.valueOf(base + "_FP8")});
    }
}
