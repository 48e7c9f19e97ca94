package org.offload4j.attention;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Fp8;

/**
 * The float64 reference of {@link Attention}: slow, direct and obviously right. Every backend is
 * tested against it.
 *
 * <p>For each (b, h, i) it forms the logits of the visible keys in double, subtracts their
 * maximum, exponentiates, and divides; no tiling, no online softmax, no rounding of the output.
 * A row with no visible key gives {@code out = 0} and {@code lse = −∞}, as {@link Attention}
 * documents. Arguments are assumed valid (it is a test oracle, not a facade).
 */
public final class AttentionReference {
    private AttentionReference() {}

    /**
     * The reference result, row-major: {@code out} is {@code [B, Hq, Sq, D]}, {@code lse}
     * {@code [B, Hq, Sq]}.
     */
    public record Result(double[] out, double[] lse) {}

    /** Attention on the dequantized FP8 inputs ({@code e4m3 × scale}), with {@code opts.causal()} and {@code opts.scale()}. */
    public static Result forward(Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts) {
        return dequantized(shapeOf(q.data(), k.data()), q, k, v, opts);
    }

    /**
     * Attention over FP8 KV caches {@code [B, Hkv, C, D]} filled to {@code kvLen} keys per head,
     * as {@link Attention#forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, int, AttentionOptions, Tensor, Tensor)}:
     * keys {@code kvLen … C − 1} are never read.
     */
    public static Result forward(Fp8Tensor q, Fp8Tensor kCache, Fp8Tensor vCache, int kvLen, AttentionOptions opts) {
        return dequantized(shapeOf(q.data(), kCache.data()).filledTo(kvLen), q, kCache, vCache, opts);
    }

    private static Result dequantized(AttentionShape s, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, AttentionOptions opts) {
        return forward(s, dequantize(q), dequantize(k), dequantize(v), opts.causal(), opts.resolvedScale(s.headDim()));
    }

    /**
     * Attention on bf16, fp16 or fp32 tensors, each element widened exactly to double (for the
     * comparison with attention on the original bf16 inputs). For FP8 data use
     * {@link #forward(Fp8Tensor, Fp8Tensor, Fp8Tensor, AttentionOptions)}, which applies the scales.
     */
    public static Result forward(Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        AttentionShape s = shapeOf(q, k);
        return forward(s, q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(), opts.causal(),
                opts.resolvedScale(s.headDim()));
    }

    /**
     * Attention on row-major double arrays: {@code q [B, Hq, Sq, D]}, {@code k} and
     * {@code v [B, Hkv, C, D]} with {@code C = s.kvCapacity()}, of which the first
     * {@code Skv = s.kvLen()} keys of each head take part.
     */
    public static Result forward(AttentionShape s, double[] q, double[] k, double[] v, boolean causal, double scale) {
        int d = s.headDim();
        int sq = s.qLen();
        int skv = s.kvLen();
        double[] out = new double[Math.multiplyExact(s.batch() * s.qHeads() * sq, d)];
        double[] lse = new double[s.batch() * s.qHeads() * sq];
        double[] logits = new double[skv];
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < s.qHeads(); h++) {
                int g = s.kvHead(h);
                long kvBase = ((long) b * s.kvHeads() + g) * s.kvCapacity();
                long qBase = ((long) b * s.qHeads() + h) * sq;
                for (int i = 0; i < sq; i++) {
                    int row = (int) (qBase + i);
                    // Last visible key: all keys, or j ≤ i + (Skv − Sq) under the bottom-right causal mask.
                    int last = causal ? Math.min(skv - 1, i + s.keyOffset()) : skv - 1;
                    if (last < 0) {
                        lse[row] = Double.NEGATIVE_INFINITY; // no visible key: out stays 0
                        continue;
                    }
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last; j++) {
                        double dot = 0;
                        int qo = row * d;
                        int ko = (int) ((kvBase + j) * d);
                        for (int c = 0; c < d; c++) {
                            dot += q[qo + c] * k[ko + c];
                        }
                        logits[j] = scale * dot;
                        max = Math.max(max, logits[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) {
                        logits[j] = Math.exp(logits[j] - max);
                        sum += logits[j];
                    }
                    int oo = row * d;
                    for (int j = 0; j <= last; j++) {
                        double p = logits[j] / sum;
                        int vo = (int) ((kvBase + j) * d);
                        for (int c = 0; c < d; c++) {
                            out[oo + c] += p * v[vo + c];
                        }
                    }
                    lse[row] = max + Math.log(sum);
                }
            }
        }
        return new Result(out, lse);
    }

    /** The real values of an FP8 input, row-major {@code [B, H, S, D]}: {@code e4m3 × scale(b, h)}, exact in double. */
    public static double[] dequantize(Fp8Tensor t) {
        Tensor data = t.data();
        int heads = (int) data.dim(1);
        long seq = data.dim(2);
        int d = (int) data.cols();
        double[] out = new double[Math.toIntExact(data.elementCount())];
        MemorySegment seg = data.segment();
        int k = 0;
        for (long r = 0; r < data.rows(); r++) {
            long g = r / Math.max(1, seq);
            double scale = t.scale((int) (g / heads), (int) (g % heads));
            long off = data.rowByteOffset(r);
            for (int c = 0; c < d; c++) {
                out[k++] = Fp8.e4m3ToFloat(seg.get(ValueLayout.JAVA_BYTE, off + c)) * scale;
            }
        }
        return out;
    }

    private static AttentionShape shapeOf(Tensor q, Tensor k) {
        long[] qs = q.shape();
        long[] ks = k.shape();
        if (qs.length != 4 || ks.length != 4) {
            throw new IllegalArgumentException("reference inputs must be rank 4; q " + Arrays.toString(qs) + ", k "
                    + Arrays.toString(ks));
        }
        return new AttentionShape((int) qs[0], (int) qs[1], (int) ks[1], (int) qs[2], (int) ks[2], (int) qs[3]);
    }
}
