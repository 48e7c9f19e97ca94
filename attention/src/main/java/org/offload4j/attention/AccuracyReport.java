package org.offload4j.attention;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * How far FP8 attention lands from exact attention, with and without a Q/K rotation.
 *
 * <p>{@link #measure} quantizes bf16 inputs with {@link Fp8Quantizer} (once plainly, once after
 * the rotation when one is given), runs the op, and compares the output with two float64
 * references ({@link AttentionReference}):
 * <ul>
 *   <li><b>vs dequantized</b>: attention on the dequantized FP8 inputs the kernel saw. This is
 *       the kernel's own error (fp32 accumulation, bf16 output); the contract bounds it by 3e-2.</li>
 *   <li><b>vs original</b>: attention on the original bf16 inputs. This adds the FP8
 *       quantization error of Q, K and V: what a user of the op actually gets.</li>
 * </ul>
 * Errors are relative L2 ({@link Accuracy#relativeL2(double[], double[])}) over the whole
 * output, plus the largest absolute error of the log-sum-exp against the original inputs.
 *
 * <p><b>Why rotate.</b> Activations often have a few channels (columns of Q and K) far larger
 * than the rest. One amax scale per tensor or head is then set by the outliers, and since each
 * logit error grows with the magnitude of the terms of {@code q·k}, the outlier products
 * dominate it. An orthonormal rotation keeps {@code Q·Kᵀ} but spreads each outlier over all
 * {@code D} coordinates, which shrinks the largest terms and with them the logit error
 * ({@link #addChannelOutliers} builds such inputs).
 *
 * @param shape       the sizes measured
 * @param options     the options used (causal, scale, granularity; the rotation, if any)
 * @param plain       errors with Q and K quantized as they are
 * @param rotatedOrNull errors with Q and K rotated by {@code options.rotation()} before
 *                    quantization, or {@code null} when no rotation was given
 */
public record AccuracyReport(AttentionShape shape, AttentionOptions options, Errors plain, Errors rotatedOrNull) {

    /**
     * The errors of one configuration.
     *
     * @param vsDequantized       relative L2 of the output against float64 attention on the dequantized inputs
     * @param vsOriginal          relative L2 of the output against float64 attention on the original inputs
     * @param lseMaxAbsVsOriginal the largest |lse − lse_ref| against the original inputs (0 when both are −∞)
     */
    public record Errors(double vsDequantized, double vsOriginal, double lseMaxAbsVsOriginal) {}

    /** The errors with the rotation, when one was given. */
    public Optional<Errors> rotated() {
        return Optional.ofNullable(rotatedOrNull);
    }

    /**
     * Runs {@code attention} on bf16 {@code q}, {@code k}, {@code v} quantized at
     * {@code opts.granularity()}, without and (when {@code opts.rotation()} is set) with the
     * rotation of Q and K, and reports the errors. Cost: two float64 references per
     * configuration, {@code O(B·Hq·Sq·Skv·D)} each; meant for modest sizes.
     *
     * @throws IllegalArgumentException for the inputs {@link Attention} rejects
     */
    public static AccuracyReport measure(Attention attention, Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        Args.notNull(attention, "attention");
        Args.notNull(opts, "opts");
        Fp8Quantizer.check(Args.notNull(q, "q"), "q");
        Fp8Quantizer.check(Args.notNull(k, "k"), "k");
        Fp8Quantizer.check(Args.notNull(v, "v"), "v");
        AttentionReference.Result original = null;
        Errors plain = null;
        Errors rotated = null;
        for (QkRotation rotation : opts.rotation() == null ? new QkRotation[] {null} : new QkRotation[] {null, opts.rotation()}) {
            try (Fp8Tensor q8 = Fp8Quantizer.quantizeChecked(q, "q", opts.granularity(), rotation, Tensor::allocate,
                         Fp8Quantizer.SCALAR);
                 Fp8Tensor k8 = Fp8Quantizer.quantizeChecked(k, "k", opts.granularity(), rotation, Tensor::allocate,
                         Fp8Quantizer.SCALAR);
                 Fp8Tensor v8 = Fp8Quantizer.quantizeChecked(v, "v", opts.granularity(), null, Tensor::allocate,
                         Fp8Quantizer.SCALAR);
                 Tensor out = Tensor.allocate(DType.BF16, q.shape());
                 Tensor lse = Tensor.allocate(DType.FP32, q.dim(0), q.dim(1), q.dim(2))) {
                attention.forward(q8, k8, v8, opts, out, lse);
                if (original == null) {
                    original = AttentionReference.forward(q, k, v, opts);
                }
                AttentionReference.Result dequantized = AttentionReference.forward(q8, k8, v8, opts);
                double[] o = out.toDoubleArray();
                Errors e = new Errors(Accuracy.relativeL2(dequantized.out(), o), Accuracy.relativeL2(original.out(), o),
                        maxAbsLseError(original.lse(), lse.toDoubleArray()));
                if (rotation == null) {
                    plain = e;
                } else {
                    rotated = e;
                }
            }
        }
        AttentionShape shape = new AttentionShape((int) q.dim(0), (int) q.dim(1), (int) k.dim(1), (int) q.dim(2),
                (int) k.dim(2), (int) q.dim(3));
        return new AccuracyReport(shape, opts, plain, rotated);
    }

    private static double maxAbsLseError(double[] ref, double[] got) {
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            if (ref[i] == got[i]) {
                continue; // also both −∞
            }
            double e = Math.abs(ref[i] - got[i]);
            worst = Double.isNaN(e) ? Double.NaN : Math.max(worst, e);
            if (Double.isNaN(worst)) {
                return worst;
            }
        }
        return worst;
    }

    /**
     * Makes channel outliers: picks {@code channels} distinct columns of {@code t} (seeded, so
     * the same seed picks the same columns in Q and K) and multiplies every element of each by
     * its own factor, drawn uniformly from {@code [minFactor, maxFactor]}; the products are
     * rounded to the tensor's dtype. Returns the chosen columns in increasing order.
     *
     * @param t         a floating-point tensor; its last dimension is the channel
     * @param seed      picks the columns and the factors
     * @param channels  how many columns, {@code 0 ≤ channels ≤ t.cols()}
     * @param minFactor finite, {@code > 0}
     * @param maxFactor finite, {@code ≥ minFactor}
     */
    public static int[] addChannelOutliers(Tensor t, long seed, int channels, double minFactor, double maxFactor) {
        Args.live(t, "t");
        Args.require(t.dtype().isFloatingPoint(), "t has dtype " + t.dtype() + "; expected a floating-point dtype");
        Args.require(channels >= 0 && channels <= t.cols(), "channels = " + channels + " must be in [0, " + t.cols() + "]");
        Args.require(Double.isFinite(minFactor) && minFactor > 0 && Double.isFinite(maxFactor) && maxFactor >= minFactor,
                "factors [" + minFactor + ", " + maxFactor + "] must be finite with 0 < minFactor ≤ maxFactor");
        SplittableRandom rnd = new SplittableRandom(seed);
        int cols = Math.toIntExact(t.cols());
        int[] perm = new int[cols];
        for (int i = 0; i < cols; i++) {
            perm[i] = i;
        }
        for (int i = 0; i < channels; i++) { // partial Fisher–Yates: the first `channels` entries
            int j = i + rnd.nextInt(cols - i);
            int x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
        int[] chosen = Arrays.copyOf(perm, channels);
        for (int c : chosen) {
            float f = (float) (minFactor + (maxFactor - minFactor) * rnd.nextDouble());
            for (long r = 0; r < t.rows(); r++) {
                t.setFloat(r, c, t.getFloat(r, c) * f);
            }
        }
        Arrays.sort(chosen);
        return chosen;
    }

    /** A few lines for logs and the benchmark: the shape, the options and both error sets. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "FP8 attention accuracy, %s, %s, %s%n", shape,
                options.causal() ? "causal" : "not causal", options.granularity()));
        sb.append(line("no rotation", plain));
        if (rotatedOrNull != null) {
            sb.append(line("rotated", rotatedOrNull));
        }
        return sb.toString();
    }

    private static String line(String name, Errors e) {
        return String.format(Locale.ROOT, "  %-12s rel L2 vs dequantized %.3e, vs original %.3e; lse max |err| vs original %.3e%n",
                name, e.vsDequantized(), e.vsOriginal(), e.lseMaxAbsVsOriginal());
    }
}
