package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.offload4j.attention.AccuracyReport;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.QkRotations;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * On inputs with channel outliers (four columns of Q and K scaled ×20–×100, σ = 0.1 otherwise,
 * so the outliers dominate the logits), rotating Q and K with the library's Hadamard rotations
 * ({@link QkRotations}, on the CPU backend's Hadamard kernel) before FP8 quantization lowers the
 * error against attention on the original inputs, while the kernel's own error (against the
 * dequantized inputs) stays where it was. The plain and the randomized rotation behave alike.
 *
 * <p>V holds values that FP8 represents exactly (±1, ±½, ±¼, ±⅛; a ±1 is always among them, so
 * the amax scale is 1/448 and {@code 448·2^−j} is an E4M3 value), so
 * the error against the original inputs is the part the rotation acts on: the quantization of Q
 * and K. With Gaussian V, V's own FP8 error (about 0.03 relative L2) is a floor under both the
 * rotated and the unrotated error; when the four outlier factors happen to be mild the unrotated
 * error sits close to that floor, and over seeds 1000–1299 the ratio then exceeded 0.5 four
 * times (largest 0.61). That made the earlier version of this test flaky.
 */
class AccuracyReportTest {
    private static final CpuBackend CPU = CpuBackend.create();
    private static final Attention ATTENTION = Attention.create(CPU);

    @ParameterizedTest
    @EnumSource(ScaleGranularity.class)
    void hadamardRotationsReduceTheErrorOnChannelOutliers(ScaleGranularity g) {
        // A fixed seed: the 2× reduction is a statistical property (held for seeds 1000–1299, see
        // above), and CI must not turn red on a rare draw. -Doffload.test.seed explores others.
        long seed = Long.getLong("offload.test.seed", 1000 + g.ordinal());
        int b = 1, hq = 2, hkv = 1, s = 128, d = 128;
        try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.BF16, b, hq, s, d), seed, 0.1);
             Tensor k = TensorFill.gaussian(Tensor.allocate(DType.BF16, b, hkv, s, d), seed + 1, 0.1);
             Tensor v = exactInFp8(Tensor.allocate(DType.BF16, b, hkv, s, d), seed + 2)) {
            // The same seed picks the same channels in Q and K, as in real activations.
            AccuracyReport.addChannelOutliers(q, seed + 3, 4, 20, 100);
            AccuracyReport.addChannelOutliers(k, seed + 3, 4, 20, 100);
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true).withGranularity(g);
            AccuracyReport hadamard = AccuracyReport.measure(ATTENTION, q, k, v, opts.withRotation(QkRotations.hadamard(CPU)));
            AccuracyReport randomized = AccuracyReport.measure(ATTENTION, q, k, v,
                    opts.withRotation(QkRotations.randomizedHadamard(CPU, seed + 4)));
            String where = "Hadamard:\n" + hadamard.summary() + "randomized Hadamard (sign seed " + (seed + 4) + "):\n"
                    + randomized.summary() + "seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
            AccuracyReport.Errors plain = hadamard.plain();
            assertEquals(plain, randomized.plain(), "the unrotated run is deterministic, " + where);
            // Over seeds 1000–1299 (granularities alternating), rotated/unrotated was 0.07–0.37
            // (Hadamard) and 0.07–0.31 (randomized) for the output; for the lse, a maximum over
            // rows and so noisier, 0.06–0.46 and 0.09–0.50.
            for (AccuracyReport r : new AccuracyReport[] {hadamard, randomized}) {
                AccuracyReport.Errors rotated = r.rotated().orElseThrow();
                assertTrue(plain.vsDequantized() <= 3e-2 && rotated.vsDequantized() <= 3e-2, "kernel error, " + where);
                assertTrue(rotated.vsOriginal() < 0.5 * plain.vsOriginal(), "rotation did not halve the output error, " + where);
                assertTrue(rotated.lseMaxAbsVsOriginal() < 0.75 * plain.lseMaxAbsVsOriginal(),
                        "rotation did not cut the lse error by a quarter, " + where);
            }
            // Neither rotation is systematically better: randomized/plain-Hadamard error was 0.56–1.99 over the same runs.
            double ratio = randomized.rotated().orElseThrow().vsOriginal() / hadamard.rotated().orElseThrow().vsOriginal();
            assertTrue(ratio > 1.0 / 3 && ratio < 3, "randomized/Hadamard rotated error " + ratio + ", " + where);
        }
    }

    /** Fills {@code t} with seeded ±2^−j, {@code j ∈ {0, 1, 2, 3}}: exact in bf16 and, under the scale 1/448, in FP8 E4M3. */
    private static Tensor exactInFp8(Tensor t, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (long r = 0; r < t.rows(); r++) {
            for (long c = 0; c < t.cols(); c++) {
                t.setFloat(r, c, (rnd.nextBoolean() ? 1f : -1f) / (1 << rnd.nextInt(4)));
            }
        }
        return t;
    }
}
