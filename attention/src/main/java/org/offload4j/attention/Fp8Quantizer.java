package org.offload4j.attention;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

/**
 * Quantizes bf16 attention inputs {@code [B, H, S, D]} to FP8 E4M3 with amax-based float32
 * scales, optionally after an orthonormal {@link QkRotation} of each row.
 *
 * <p><b>Scales.</b> For each group (the whole tensor, or one (batch, head) slice):
 * <pre>
 *   amax  = max |x| over the group
 *   scale = amax / 448        (448 = largest finite E4M3 value; fp32 division; at least
 *                              Float.MIN_NORMAL, so that tiny groups get a usable scale)
 *   scale = 1                 when amax = 0 (an all-zero group; any positive scale would do)
 *   q     = e4m3(x / scale)   round to nearest even, saturating (Fp8Overflow.SATURATE)
 * </pre>
 * so that the largest magnitude of each group maps to 448 (below for groups whose scale the floor
 * raised) and dequantizes as
 * {@code e4m3 × scale}. The division is in fp32; when it lands a hair above 448 the saturating
 * conversion clamps it to 448.
 *
 * <p><b>Rotation.</b> With a rotation, the input is first rotated into a temporary bf16 tensor
 * ({@code x·R}, each row), and the rotated values are what is quantized; the caller's tensor
 * is never modified.
 *
 * <p><b>Rejected input</b> ({@link IllegalArgumentException}, nothing allocated survives):
 * null or closed {@code x}, a dtype other than bf16, a rank other than 4, a non-finite element
 * (NaN or ±∞ have no meaningful amax scale), or a rotation whose output is not finite.
 */
public final class Fp8Quantizer {
    private Fp8Quantizer() {}

    /** {@code 448}, the largest finite E4M3FN magnitude: the fp8 value that {@code amax} maps to. */
    public static final float E4M3_MAX = Fp8.E4M3_MAX;

    /** Quantizes {@code x} (bf16 {@code [B, H, S, D]}) with the given scale granularity, no rotation. */
    public static Fp8Tensor quantize(Tensor x, ScaleGranularity granularity) {
        return quantize(x, granularity, null);
    }

    /**
     * Quantizes {@code x} (bf16 {@code [B, H, S, D]}) with the given scale granularity, after
     * rotating each row by {@code rotation} when it is not null. The result owns new tensors;
     * close it to free them.
     */
    public static Fp8Tensor quantize(Tensor x, ScaleGranularity granularity, QkRotation rotation) {
        check(x, "x");
        Args.notNull(granularity, "granularity");
        return quantizeChecked(x, "x", granularity, rotation, Tensor::allocate);
    }

    /** Where the quantized tensors and the rotated temporary are allocated. */
    @FunctionalInterface
    interface Allocator {
        Tensor allocate(DType dtype, long... shape);
    }

    /**
     * The scale for a group whose largest magnitude is {@code amax}: {@code amax / 448}, at least
     * {@code Float.MIN_NORMAL} (below amax ≈ 6e-43 the quotient underflows to 0); 1 when
     * {@code amax = 0}.
     */
    public static float amaxScale(float amax) {
        if (!(amax >= 0) || Float.isInfinite(amax)) {
            throw new IllegalArgumentException("amax = " + amax + " must be finite and ≥ 0");
        }
        return Fp8.e4m3Scale(amax);
    }

    /** The checks on a bf16 input, naming it {@code name}. */
    static void check(Tensor x, String name) {
        Args.live(x, name);
        Args.dtype(x, name, DType.BF16);
        if (x.rank() != 4) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(x.shape()) + "; expected rank 4, [B, H, S, D]");
        }
    }

    /** Quantizes a checked input; errors about its values name it {@code name}. */
    static Fp8Tensor quantizeChecked(Tensor x, String name, ScaleGranularity granularity, QkRotation rotation,
                                     Allocator allocator) {
        float[] amax = groupAmax(x, name, granularity);
        if (rotation == null) {
            return encode(x, amax, granularity, allocator);
        }
        try (Tensor rotated = allocator.allocate(DType.BF16, x.shape())) {
            rotation.rotate(x, rotated);
            float[] rotatedAmax = groupAmax(rotated, "the rotation's output for " + name, granularity);
            return encode(rotated, rotatedAmax, granularity, allocator);
        }
    }

    /**
     * The amax of every group (one per tensor, or one per (b, h) in row-major order), throwing
     * when an element is not finite.
     */
    private static float[] groupAmax(Tensor x, String name, ScaleGranularity granularity) {
        int heads = (int) x.dim(1);
        long seqLen = x.dim(2);
        long cols = x.cols();
        boolean perHead = granularity == ScaleGranularity.PER_HEAD;
        float[] amax = new float[perHead ? Math.toIntExact(x.dim(0) * heads) : 1];
        MemorySegment seg = x.segment();
        for (long r = 0; r < x.rows(); r++) {
            long off = x.rowByteOffset(r);
            int g = perHead ? (int) (r / seqLen) : 0;
            float m = amax[g];
            for (long c = 0; c < cols; c++) {
                float v = Bf16.toFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2 * c));
                float a = Math.abs(v);
                if (!(a <= Float.MAX_VALUE)) {
                    long h = (r / seqLen) % heads;
                    long b = r / seqLen / heads;
                    throw new IllegalArgumentException(name + " holds a non-finite value, " + v + ", at [" + b + ", " + h + ", "
                            + (r % seqLen) + ", " + c + "]; FP8 quantization needs finite inputs");
                }
                m = Math.max(m, a);
            }
            amax[g] = m;
        }
        return amax;
    }

    private static Fp8Tensor encode(Tensor x, float[] amax, ScaleGranularity granularity, Allocator allocator) {
        boolean perHead = granularity == ScaleGranularity.PER_HEAD;
        long[] shape = x.shape();
        Tensor data = allocator.allocate(DType.FP8_E4M3FN, shape);
        Tensor scales;
        try {
            scales = perHead ? allocator.allocate(DType.FP32, shape[0], shape[1]) : allocator.allocate(DType.FP32, 1);
        } catch (RuntimeException | Error e) {
            data.close();
            throw e;
        }
        float[] scale = new float[amax.length];
        for (int g = 0; g < amax.length; g++) {
            scale[g] = amaxScale(amax[g]);
            scales.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, g, scale[g]);
        }
        long seqLen = shape[2];
        long cols = x.cols();
        MemorySegment in = x.segment();
        MemorySegment out = data.segment();
        for (long r = 0; r < x.rows(); r++) {
            long inOff = x.rowByteOffset(r);
            long outOff = data.rowByteOffset(r);
            float s = scale[perHead ? (int) (r / seqLen) : 0];
            for (long c = 0; c < cols; c++) {
                float v = Bf16.toFloat(in.get(ValueLayout.JAVA_SHORT_UNALIGNED, inOff + 2 * c));
                out.set(ValueLayout.JAVA_BYTE, outOff + c, Fp8.floatToE4m3(v / s, Fp8Overflow.SATURATE));
            }
        }
        return new Fp8Tensor(data, scales);
    }
}
