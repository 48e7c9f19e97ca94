package org.offload4j.cuda.attention;

import org.offload4j.attention.AttentionShape;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.driver.KernelParams;

/**
 * The launch contract of the FP8 attention kernels of {@code src/main/cuda/attention.cu}, in
 * Java: which kernel, grid, block and shared memory for a problem, and the arguments in the
 * kernel's order. Pure arithmetic (no CUDA), unit-tested on the CPU; the header comment of
 * {@code attention.cu} is the other half of the contract.
 *
 * <pre>
 *   kernel  o4j_attention_fp8_fwd_d{64,128,256}
 *   grid    (ceil(Sq / 16) · B · Hq, 1, 1)    flat: block x → q tile x % ceil(Sq/16), b·Hq + h = x / ceil(Sq/16)
 *   block   (128, 1, 1)                      4 warps × 4 query rows
 *   dynamic shared memory 0 (static: {@link #staticSharedBytes(int)})
 * </pre>
 *
 * @param kernel      the kernel's name in the module image
 * @param gridX       blocks
 * @param blockX      threads per block
 * @param sharedBytes dynamic shared memory per block
 */
public record AttentionLaunch(String kernel, int gridX, int blockX, int sharedBytes) {
    /** Query rows per block. */
    public static final int BLOCK_M = 16;
    /** Keys per shared-memory tile. */
    public static final int BLOCK_N = 32;
    /** Threads per block. */
    public static final int THREADS = 128;

    /**
     * The launch for {@code shape} ({@code Sq ≥ 1}; the facade returns before the kernel when
     * {@code Sq = 0}).
     *
     * @throws IllegalArgumentException when D is not 64, 128 or 256, Sq is 0, or the grid exceeds
     *         {@code 2^31 − 1} blocks
     */
    public static AttentionLaunch of(AttentionShape shape) {
        if (shape.qLen() < 1) {
            throw new IllegalArgumentException("Sq = 0 launches nothing; got " + shape);
        }
        long qTiles = (shape.qLen() + (long) BLOCK_M - 1) / BLOCK_M;
        long blocks = qTiles * shape.batch() * shape.qHeads();
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("attention grid of " + blocks + " blocks exceeds 2^31 − 1 (" + shape + ")");
        }
        return new AttentionLaunch(kernelName(shape.headDim()), (int) blocks, THREADS, 0);
    }

    /** {@code o4j_attention_fp8_fwd_d64}, {@code _d128} or {@code _d256}. */
    public static String kernelName(int headDim) {
        return switch (headDim) {
            case 64, 128, 256 -> "o4j_attention_fp8_fwd_d" + headDim;
            default -> throw new IllegalArgumentException("head dimension D = " + headDim + "; accepted: 64, 128, 256");
        };
    }

    /**
     * The kernel's static shared memory for head dimension {@code d}: Q tile {@code 16·D} fp32,
     * K tile {@code 32·(D/4 + 1)} words, V tile {@code 32·D/4} words, P tile {@code 16·32} fp32
     * (10368, 18560 and 34944 bytes, as ptxas reports).
     */
    public static int staticSharedBytes(int d) {
        return 4 * BLOCK_M * d + 4 * BLOCK_N * (d / 4 + 1) + BLOCK_N * d + 4 * BLOCK_M * BLOCK_N;
    }

    /**
     * The scale strides {@code {stride_b, stride_h}} in elements: {0, 0} for one scale per tensor,
     * {row stride, 1} for a {@code [B, H]} tensor of one per (batch, head), whose rows may be
     * padded (a host tensor is staged with its gaps, a device one is read in place).
     */
    public static long[] scaleStrides(Tensor scales) {
        return scales.rank() == 2 ? new long[] {scales.rowStride(), 1} : new long[] {0, 0};
    }

    /**
     * Whether a row stride in bytes of an fp8 input suits the kernel's 32-bit loads (a multiple
     * of 4); the adapter repacks an input that does not.
     */
    public static boolean inputStrideOk(long rowStrideBytes) {
        return rowStrideBytes % 4 == 0;
    }

    /** Whether a bf16 output row stride (elements) suits the kernel's 32-bit stores (even). */
    public static boolean outputStrideOk(long rowStrideElements) {
        return rowStrideElements % 2 == 0;
    }

    /**
     * Writes the kernel's 27 arguments in order (see the argument table in {@code attention.cu}).
     * Addresses are device pointers; {@code lse} may be 0 (not written).
     */
    public static KernelParams params(KernelParams p, AttentionShape s,
                                      long q, long qLd, long k, long kLd, long v, long vLd,
                                      long qScales, long[] qScaleStrides, long kScales, long[] kScaleStrides,
                                      long vScales, long[] vScaleStrides,
                                      long out, long outLd, long lse, long lseLd,
                                      boolean causal, float softmaxScale) {
        return p.clear()
                .pointer(q).i64(qLd)
                .pointer(k).i64(kLd)
                .pointer(v).i64(vLd)
                .pointer(qScales).i64(qScaleStrides[0]).i64(qScaleStrides[1])
                .pointer(kScales).i64(kScaleStrides[0]).i64(kScaleStrides[1])
                .pointer(vScales).i64(vScaleStrides[0]).i64(vScaleStrides[1])
                .pointer(out).i64(outLd)
                .pointer(lse).i64(lseLd)
                .i32(s.batch()).i32(s.qHeads()).i32(s.kvHeads()).i32(s.qLen()).i32(s.kvLen()).i32(s.kvCapacity())
                .i32(causal ? 1 : 0).f32(softmaxScale);
    }
}
