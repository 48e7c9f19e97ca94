package org.offload4j.attention;

import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * An FP8 attention input: a {@link DType#FP8_E4M3FN} tensor {@code [B, H, S, D]} and its float32
 * dequantization scales. The real value of element {@code (b, h, s, d)} is
 * <pre>
 *   e4m3(data[b, h, s, d]) × scale(b, h)
 * </pre>
 * where {@code scale(b, h)} is {@code scales[0]} when {@code scales} has shape {@code [1]}
 * ({@link ScaleGranularity#PER_TENSOR}) and {@code scales[b, h]} when it has shape
 * {@code [B, H]} ({@link ScaleGranularity#PER_HEAD}).
 *
 * <p>The constructor only rejects nulls: dtypes, shapes and scale values are checked by
 * {@link Attention} when the tensor is used (the tensors may change or close in between), and
 * reported under the argument's name ({@code q.data}, {@code k.scales}, …).
 *
 * <p>{@link #close()} closes both tensors (for tensors made by {@link Fp8Quantizer} or
 * {@link #perTensor}, that frees their memory).
 *
 * @param data   fp8_e4m3 {@code [B, H, S, D]}, any row stride
 * @param scales fp32 {@code [1]} or {@code [B, H]}; every value finite and {@code > 0}
 */
public record Fp8Tensor(Tensor data, Tensor scales) implements AutoCloseable {

    public Fp8Tensor {
        Args.notNull(data, "data");
        Args.notNull(scales, "scales");
    }

    /** {@code data} with one scale for the whole tensor (a new {@code [1]} fp32 scales tensor). */
    public static Fp8Tensor perTensor(Tensor data, float scale) {
        Args.notNull(data, "data");
        Tensor s = Tensor.allocate(DType.FP32, 1);
        s.setFloat(0, 0, scale);
        return new Fp8Tensor(data, s);
    }

    /** {@link ScaleGranularity#PER_HEAD} when {@code scales} has rank 2, else per tensor. */
    public ScaleGranularity granularity() {
        return scales.rank() == 2 ? ScaleGranularity.PER_HEAD : ScaleGranularity.PER_TENSOR;
    }

    /** The scale of (batch {@code b}, head {@code h}); assumes validated scales. */
    public float scale(int b, int h) {
        return scales.rank() == 2 ? scales.getFloat(b, h) : scales.getFloat(0, 0);
    }

    /** Closes {@code data} and {@code scales}. Idempotent. */
    @Override
    public void close() {
        try {
            data.close();
        } finally {
            scales.close();
        }
    }
}
