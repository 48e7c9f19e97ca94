package org.offload4j.hadamard;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.Workspace;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

/**
 * {@link HadamardFp8Kernel} for backends without a fused kernel, on host tensors: the input
 * widened to a temporary fp32 tensor, the backend's transform of it in place (so the values are
 * rounded only once, to FP8), then the amax of each group and the quantization in Java.
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
        // Widened to fp32 first (exact), then transformed in place: the kernel contract wants one
        // dtype for in and out, and fp32 keeps the values unrounded until the FP8 encoding.
        // y is a temporary of this call: from the thread's workspace (Workspace says why).
        try (Workspace ws = Workspace.open()) {
            Tensor y = widen(in, ws.allocate(DType.FP32, in.rows(), in.cols()));
            kernel.transform(y, y, size, scale, false, null, null);
            quantize(y, out, scales, rowsPerScale);
        }
    }

    /** {@code y} (contiguous fp32, in's rows and cols) filled with {@code in}'s rows, any dtype and row stride. */
    private static Tensor widen(Tensor in, Tensor y) {
        MemorySegment dst = y.segment();
        long cols = in.cols();
        for (long r = 0; r < in.rows(); r++) {
            for (long c = 0; c < cols; c++) {
                dst.setAtIndex(ValueLayout.JAVA_FLOAT, r * cols + c, in.getFloat(r, c));
            }
        }
        return y;
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
            float s = Fp8.e4m3Scale(amax);
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
}
