package org.offload4j.attention;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Optional;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.BackendUnavailableException;
import org.offload4j.core.Backends;
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
 * null or closed {@code x}, {@code x} outside host memory (quantization reads every element on
 * the host), a dtype other than bf16, a rank other than 4, a non-finite element
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
        return quantizeChecked(x, "x", granularity, rotation, Tensor::allocate, SCALAR);
    }

    /**
     * The quantization loops for inputs of an op on {@code backend}: its own {@link Fp8QuantizeKernel}
     * if it has one, else the first available backend's (the loops run on host memory, whatever
     * backend then takes the FP8 tensors: a GPU backend without them still gets the CPU
     * backend's vector loops, found as {@code Backends.kernelsFrom} finds any op's kernels), else
     * {@link #SCALAR}. Looking for another backend's probes every installed provider once per JVM.
     */
    public static Fp8QuantizeKernel hostKernel(Backend backend) {
        Args.notNull(backend, "backend");
        Optional<Fp8QuantizeKernel> own = backend.kernels(Fp8QuantizeKernel.class);
        if (own.isPresent()) {
            return own.get();
        }
        try {
            return Backends.kernelsFrom(null, Fp8QuantizeKernel.class).kernels();
        } catch (BackendUnavailableException e) {
            return SCALAR;
        }
    }

    /** The plain Java loops of {@link Fp8QuantizeKernel}, which every backend's kernel must match bit for bit. */
    public static final Fp8QuantizeKernel SCALAR = new Fp8QuantizeKernel() {
        @Override
        public float amax(Tensor x, long fromRow, long toRow) {
            MemorySegment seg = x.segment();
            long cols = x.cols();
            float m = 0f;
            for (long r = fromRow; r < toRow; r++) {
                long off = x.rowByteOffset(r);
                for (long c = 0; c < cols; c++) {
                    float a = Math.abs(Bf16.toFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2 * c)));
                    if (!(a <= Float.MAX_VALUE)) {
                        return a;
                    }
                    m = Math.max(m, a);
                }
            }
            return m;
        }

        @Override
        public void encode(Tensor x, long fromRow, long toRow, float scale, Tensor out) {
            MemorySegment in = x.segment();
            MemorySegment o = out.segment();
            long cols = x.cols();
            for (long r = fromRow; r < toRow; r++) {
                long inOff = x.rowByteOffset(r);
                long outOff = out.rowByteOffset(r);
                for (long c = 0; c < cols; c++) {
                    float v = Bf16.toFloat(in.get(ValueLayout.JAVA_SHORT_UNALIGNED, inOff + 2 * c));
                    o.set(ValueLayout.JAVA_BYTE, outOff + c, Fp8.floatToE4m3(v / scale, Fp8Overflow.SATURATE));
                }
            }
        }
    };

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
        Args.host(x, name);
        Args.dtype(x, name, DType.BF16);
        if (x.rank() != 4) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(x.shape()) + "; expected rank 4, [B, H, S, D]");
        }
    }

    /** Quantizes a checked input; errors about its values name it {@code name}. */
    static Fp8Tensor quantizeChecked(Tensor x, String name, ScaleGranularity granularity, QkRotation rotation,
                                     Allocator allocator, Fp8QuantizeKernel kernel) {
        float[] amax = groupAmax(x, name, granularity, kernel);
        if (rotation == null) {
            return encode(x, amax, granularity, allocator, kernel);
        }
        try (Tensor rotated = allocator.allocate(DType.BF16, x.shape())) {
            rotation.rotate(x, rotated);
            float[] rotatedAmax = groupAmax(rotated, "the rotation's output for " + name, granularity, kernel);
            return encode(rotated, rotatedAmax, granularity, allocator, kernel);
        }
    }

    /**
     * The amax of every group (one per tensor, or one per (b, h) in row-major order), throwing
     * when an element is not finite.
     */
    private static float[] groupAmax(Tensor x, String name, ScaleGranularity granularity, Fp8QuantizeKernel kernel) {
        boolean perHead = granularity == ScaleGranularity.PER_HEAD;
        long groupRows = perHead ? x.dim(2) : x.rows();
        float[] amax = new float[perHead ? Math.toIntExact(x.dim(0) * x.dim(1)) : 1];
        for (int g = 0; g < amax.length; g++) {
            amax[g] = kernel.amax(x, g * groupRows, (g + 1) * groupRows);
            if (!(amax[g] <= Float.MAX_VALUE)) {
                throw nonFinite(x, name, g * groupRows, (g + 1) * groupRows);
            }
        }
        return amax;
    }

    /** The error for the first non-finite element of rows [fromRow, toRow), which hold one. */
    private static IllegalArgumentException nonFinite(Tensor x, String name, long fromRow, long toRow) {
        long heads = x.dim(1);
        long seqLen = x.dim(2);
        MemorySegment seg = x.segment();
        for (long r = fromRow; r < toRow; r++) {
            long off = x.rowByteOffset(r);
            for (long c = 0; c < x.cols(); c++) {
                float v = Bf16.toFloat(seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, off + 2 * c));
                if (!Float.isFinite(v)) {
                    long h = (r / seqLen) % heads;
                    long b = r / seqLen / heads;
                    return new IllegalArgumentException(name + " holds a non-finite value, " + v + ", at [" + b + ", " + h + ", "
                            + (r % seqLen) + ", " + c + "]; FP8 quantization needs finite inputs");
                }
            }
        }
        throw new IllegalStateException("the FP8 amax kernel reported a non-finite value in rows [" + fromRow + ", " + toRow
                + ") of " + name + ", which hold none");
    }

    private static Fp8Tensor encode(Tensor x, float[] amax, ScaleGranularity granularity, Allocator allocator,
                                    Fp8QuantizeKernel kernel) {
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
        long groupRows = perHead ? shape[2] : x.rows();
        try {
            for (int g = 0; g < amax.length; g++) {
                float scale = amaxScale(amax[g]);
                scales.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, g, scale);
                kernel.encode(x, g * groupRows, (g + 1) * groupRows, scale, data);
            }
        } catch (RuntimeException | Error e) {
            data.close(); // the caller gets no tensor to close
            scales.close();
            throw e;
        }
        return new Fp8Tensor(data, scales);
    }
}
