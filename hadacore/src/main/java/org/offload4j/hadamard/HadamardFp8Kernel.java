package org.offload4j.hadamard;

import org.offload4j.core.Tensor;

/**
 * The fused rotate-and-quantize of {@link Hadamard#transformToFp8}: what a backend that can do it
 * in one pass over its memory hands out through
 * {@link org.offload4j.core.Backend#kernels(Class) kernels(HadamardFp8Kernel.class)}. Backends
 * without it get {@link Fp8Composite}, the transform followed by a quantize pass on the host.
 * The facade validates every argument first.
 */
public interface HadamardFp8Kernel {

    /**
     * For every row {@code x} of {@code in}: {@code y = scale · x · H_d}, kept in fp32; for every
     * group of {@code rowsPerScale} consecutive rows {@code s = max(amax|y| / 448, Float.MIN_NORMAL)} (1 when the amax is
     * 0), {@code out = e4m3(y / s)} (saturating, round to nearest even), {@code scales[g] = s}.
     *
     * @param in           rows of {@code size.d()} elements, BF16, FP16 or FP32
     * @param out          FP8_E4M3FN, the shape of {@code in}
     * @param scales       FP32, {@code rows / rowsPerScale} elements (contiguous)
     * @param size         the plan for {@code d}
     * @param scale        finite
     * @param rowsPerScale ≥ 1, divides the row count
     */
    void transformToFp8(Tensor in, Tensor out, Tensor scales, HadamardSize size, float scale, long rowsPerScale);

    /**
     * The transform of {@code kernel} into a temporary fp32 host tensor, then the quantization on
     * the host: what the facade uses for backends without a fused kernel, and what a fused kernel
     * may fall back to for host tensors it does not cover.
     */
    static HadamardFp8Kernel composite(HadamardKernel kernel) {
        return new Fp8Composite(kernel);
    }
}
