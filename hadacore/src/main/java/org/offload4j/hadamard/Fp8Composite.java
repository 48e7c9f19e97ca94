package org.offload4j.hadamard;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

/**
 * {@link HadamardFp8Kernel} for backends without a fused kernel, on host tensors: the backend's
 * transform into a temporary fp32 tensor (so the values are rounded only once, to FP8), then the
 * amax of each group and the quantization in Java.
 */
final class Fp8Composite implements HadamardFp8Kernel {
    private final HadamardKernel kernel;

    Fp8Composite(HadamardKernel kernel) {
        this.kernel = kernel;
    }

    @Override
    public void transformToFp8(Tensor in, Tensor out, Tensor scales, HadamardSize size, float scale, long rowsPerScale) {
        if (!in.device().hostAddressable() || !out.device().hostAddressable() || !scales.device().hostAddressable()) {
            throw new UnsupportedOperationException("this backend has no fused FP8 Hadamard kernel for device tensors ("
                    + in.describe() + "); pass host tensors, or rotate and quantize in two steps");
        }
        try (Tensor y = Tensor.allocate(DType.FP32, in.rows(), in.cols())) {
            Tensor src = in.isContiguous() ? in : copyContiguous(in);
            try {
                kernel.transform(reshaped(src), y, size, scale, false, null, null);
            } finally {
                if (src != in) {
                    src.close();
                }
            }
            quantize(y, out, scales, rowsPerScale);
        }
    }

    private static Tensor reshaped(Tensor t) {
        return Tensor.wrap(t.segment(), t.dtype(), t.rows(), t.cols());
    }

    private static Tensor copyContiguous(Tensor t) {
        Tensor c = Tensor.allocate(t.dtype(), t.rows(), t.cols());
        long rowBytes = t.dtype().byteSize(t.cols());
        for (long r = 0; r < t.rows(); r++) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(r), c.segment(), c.rowByteOffset(r), rowBytes);
        }
        return c;
    }

    /** Group amax, scale, and e4m3 of y / scale, as {@link HadamardFp8Kernel} defines them. */
    static void quantize(Tensor y, Tensor out, Tensor scales, long rowsPerScale) {
        MemorySegment ys = y.segment();
        MemorySegment q = out.segment();
        long cols = y.cols();
        long groups = y.rows() / rowsPerScale;
        for (long g = 0; g < groups; g++) {
            float amax = 0f;
            for (long r = g * rowsPerScale; r < (g + 1) * rowsPerScale; r++) {
                for (long c = 0; c < cols; c++) {
                    float a = Math.abs(ys.getAtIndex(ValueLayout.JAVA_FLOAT, r * cols + c));
                    amax = a > amax || Float.isNaN(a) ? a : amax;
                }
            }
            float s = scaleOf(amax);
            scales.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, g, s);
            for (long r = g * rowsPerScale; r < (g + 1) * rowsPerScale; r++) {
                long off = out.rowByteOffset(r);
                for (long c = 0; c < cols; c++) {
                    float v = ys.getAtIndex(ValueLayout.JAVA_FLOAT, r * cols + c) / s;
                    q.set(ValueLayout.JAVA_BYTE, off + c, Fp8.floatToE4m3(v, Fp8Overflow.SATURATE));
                }
            }
        }
    }

    /** {@code amax / 448}, or 1 for an all-zero group. */
    static float scaleOf(float amax) {
        return amax == 0f ? 1f : amax / Fp8.E4M3_MAX;
    }
}
