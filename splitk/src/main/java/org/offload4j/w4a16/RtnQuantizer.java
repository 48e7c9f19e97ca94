package org.offload4j.w4a16;

import java.util.Set;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;

/**
 * Round-to-nearest (RTN) quantization of a float weight {@code W[k, n]} into the GPTQ
 * interchange format, one scale and zero per group of {@code groupSize} rows and column.
 *
 * <p><b>Asymmetric.</b> Per group and column, {@code lo = min(min w, 0)} and
 * {@code hi = max(max w, 0)} (widened to contain 0, as GPTQ does, so that 0 is exactly
 * representable and {@code z} needs no clamp), {@code s = (hi − lo) / 15},
 * {@code z = rint(−lo / s)}, {@code q = clamp(rint(w / s) + z, 0, 15)}.
 *
 * <p><b>Symmetric.</b> {@code s = max|w| / 7}, {@code z = 8}, {@code q = rint(w / s) + 8}, which
 * lies in {@code [1, 15]}: dividing by 7 rather than 8 gives up the level {@code −8·s} so that no
 * value is ever clamped. (GPTQ's own symmetric quantizer uses {@code s = 2·max|w| / 15}; any
 * scale dequantizes the same way.)
 *
 * <p><b>Rounding.</b> The scale is computed in double and rounded <em>up</em> to the scale dtype
 * (to the smallest representable value ≥ the exact one), so that the 15 steps always span the
 * group's range; {@code z} and {@code q} are then computed from that stored scale with
 * {@link Math#rint} (ties to even, like {@code torch.round}). Hence every dequantized element is
 * within {@code s / 2} of its input. A group whose range is 0 (all zeros), or whose scale
 * underflows to 0, gets {@code s = 0}, {@code z = 0} (8 when symmetric) and {@code q = z}: it
 * dequantizes to exact zeros. A scale too large for the scale dtype is rejected.
 */
public final class RtnQuantizer {
    private RtnQuantizer() {}

    private static final Set<DType> WEIGHT_TYPES = Set.of(DType.FP32, DType.BF16, DType.FP16);
    /** The most values of {@code w} one call takes: they are held in Java arrays ({@link Tensor#MAX_ARRAY_ELEMENTS}). */
    public static final int MAX_ELEMENTS = Tensor.MAX_ARRAY_ELEMENTS;

    /**
     * Quantizes {@code w}.
     *
     * @param w         FP32, BF16 or FP16 {@code [k, n]}, every value finite; k a multiple of 8, n of 8;
     *                  {@code k · n ≤} {@link #MAX_ELEMENTS}
     * @param groupSize 32, 64, 128 or k ({@code -1} also means k); k must be a multiple of it
     * @param symmetric true for the symmetric variant (no qzeros, zero 8)
     * @param scaleType FP16, BF16 or FP32
     * @return a new weight that owns its tensors
     * @throws IllegalArgumentException for a bad argument, a non-finite weight, or a scale that overflows {@code scaleType}
     */
    public static QuantizedWeight quantize(Tensor w, int groupSize, boolean symmetric, DType scaleType) {
        Args.live(w, "w");
        Args.host(w, "w");
        Args.dtype(w, "w", WEIGHT_TYPES);
        Args.require(w.rank() == 2, "w has rank " + w.rank() + "; expected 2 ([k, n])");
        Args.notNull(scaleType, "scaleType");
        Args.require(QuantizedWeight.SCALE_TYPES.contains(scaleType),
                "scaleType = " + scaleType + " is not accepted; accepted: bf16, fp16, fp32");
        int g = QuantizedWeight.checkSizes(w.dim(0), w.dim(1), groupSize);
        int k = (int) w.dim(0);
        int n = (int) w.dim(1);
        Args.require((long) k * n <= MAX_ELEMENTS, "w has k · n = " + k + " · " + n + " = " + (long) k * n
                + " values; this quantizer holds them in Java arrays and takes at most " + MAX_ELEMENTS
                + " (quantize a larger weight in slices of columns)");
        int groups = k / g;
        float[] values = w.toFloatArray();
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw new IllegalArgumentException("w[" + i / n + ", " + i % n + "] = " + values[i] + "; weights must be finite");
            }
        }

        int[] q = new int[k * n];
        int[] z = new int[groups * n];
        float[] s = new float[groups * n];
        for (int gi = 0; gi < groups; gi++) {
            for (int j = 0; j < n; j++) {
                quantizeGroup(values, q, z, s, gi, j, g, n, symmetric, scaleType);
            }
        }

        Tensor qweight = Tensor.allocate(DType.INT32, k / 8, n);
        Tensor qzeros = symmetric ? null : Tensor.allocate(DType.INT32, groups, n / 8);
        Tensor scales = Tensor.allocate(scaleType, groups, n);
        for (int r = 0; r < k / 8; r++) {
            for (int j = 0; j < n; j++) {
                int word = 0;
                for (int i = 0; i < 8; i++) {
                    word |= q[(8 * r + i) * n + j] << (4 * i);
                }
                qweight.setInt(r, j, word);
            }
        }
        for (int gi = 0; gi < groups; gi++) {
            for (int j = 0; j < n; j++) {
                scales.setFloat(gi, j, s[gi * n + j]);
            }
            if (qzeros != null) {
                for (int c = 0; c < n / 8; c++) {
                    int word = 0;
                    for (int i = 0; i < 8; i++) {
                        word |= z[gi * n + 8 * c + i] << (4 * i);
                    }
                    qzeros.setInt(gi, c, word);
                }
            }
        }
        return QuantizedWeight.adopt(k, n, g, qweight, qzeros, scales);
    }

    private static void quantizeGroup(float[] w, int[] q, int[] z, float[] s, int gi, int j, int g, int n,
                                      boolean symmetric, DType scaleType) {
        double lo = 0;
        double hi = 0;
        for (int r = gi * g; r < (gi + 1) * g; r++) {
            double v = w[r * n + j];
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        double exact = symmetric ? Math.max(hi, -lo) / 7 : (hi - lo) / 15;
        float scale = roundUp(exact, scaleType);
        if (Float.isInfinite(scale)) {
            throw new IllegalArgumentException("w: group " + gi + " of column " + j + " needs scale " + exact
                    + ", which overflows " + scaleType + "; use fp32 or bf16 scales");
        }
        int zero;
        if (scale == 0) {
            zero = symmetric ? QuantizedWeight.SYMMETRIC_ZERO : 0;
        } else if (symmetric) {
            zero = QuantizedWeight.SYMMETRIC_ZERO;
        } else {
            zero = clamp((int) Math.rint(-lo / scale));
        }
        s[gi * n + j] = scale;
        z[gi * n + j] = zero;
        for (int r = gi * g; r < (gi + 1) * g; r++) {
            q[r * n + j] = scale == 0 ? zero : clamp((int) Math.rint(w[r * n + j] / (double) scale) + zero);
        }
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(15, v));
    }

    /** The smallest value of {@code type} that is ≥ {@code x} (x ≥ 0); infinity past the largest. */
    static float roundUp(double x, DType type) {
        float f = (float) x;
        if (f < x) {
            f = Math.nextUp(f);
        }
        return switch (type) {
            case FP32 -> f;
            case BF16 -> {
                short b = Bf16.fromFloat(f);
                yield Bf16.toFloat(b) < x ? Bf16.toFloat((short) (b + 1)) : Bf16.toFloat(b);
            }
            case FP16 -> {
                short h = Fp16.fromFloat(f);
                yield Fp16.toFloat(h) < x ? Fp16.toFloat((short) (h + 1)) : Fp16.toFloat(h);
            }
            default -> throw new IllegalArgumentException("scaleType " + type + " is not a scale type");
        };
    }
}
