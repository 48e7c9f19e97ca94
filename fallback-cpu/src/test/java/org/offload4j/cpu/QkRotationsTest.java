package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.attention.AccuracyReport;
import org.offload4j.attention.QkRotation;
import org.offload4j.attention.QkRotations;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.RandomizedRotation;

/**
 * The library's Q/K rotations on the CPU backend: against the float64 Sylvester matrix
 * ({@link SylvesterRotation}), the invariance of {@code Q·Kᵀ}, what the random signs change, in
 * place, and the rejected input. Inputs are fresh random each run; failures print the seed and
 * {@code -Doffload.test.seed=…} replays it.
 */
class QkRotationsTest {
    private static final CpuBackend CPU = CpuBackend.create();
    private static final long SIGN_SEED = 0x5EED_0F_5165L;

    /** The two rotations of {@link QkRotations}, on the CPU backend. */
    enum Kind {
        HADAMARD, RANDOMIZED;

        QkRotation rotation() {
            return this == HADAMARD ? QkRotations.hadamard(CPU) : QkRotations.randomizedHadamard(CPU, SIGN_SEED);
        }
    }

    private static String why(long seed) {
        return "seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
    }

    @ParameterizedTest
    @ValueSource(ints = {64, 128, 256})
    void bothMatchTheFloat64SylvesterMatrix(int d) {
        long seed = AttentionInputs.seed();
        long[] shape = {2, 3, 5, d};
        float[] signs = RandomizedRotation.of(Hadamard.create(CPU), d, SIGN_SEED).signs();
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, shape), seed, 1.0);
             Tensor xs = Tensor.allocate(DType.BF16, shape);
             Tensor plain = Tensor.allocate(DType.BF16, shape);
             Tensor randomized = Tensor.allocate(DType.BF16, shape);
             Tensor plainRef = Tensor.allocate(DType.BF16, shape);
             Tensor randomizedRef = Tensor.allocate(DType.BF16, shape)) {
            for (long r = 0; r < x.rows(); r++) {
                for (int c = 0; c < d; c++) {
                    xs.setFloat(r, c, x.getFloat(r, c) * signs[c]); // exact: a sign flip
                }
            }
            Kind.HADAMARD.rotation().rotate(x, plain);
            Kind.RANDOMIZED.rotation().rotate(x, randomized);
            SylvesterRotation sylvester = new SylvesterRotation(d);
            sylvester.rotate(x, plainRef);
            sylvester.rotate(xs, randomizedRef); // (x ⊙ s) · H / √d
            assertWithinOneBf16Step(plainRef, plain, "plain, d = " + d + ", " + why(seed));
            assertWithinOneBf16Step(randomizedRef, randomized, "randomized, d = " + d + ", " + why(seed));
        }
    }

    /**
     * Both sides round once to bf16 from values that differ only by fp32 versus float64
     * summation, so they agree to one bf16 step (2⁻⁷ relative), plus a little for cancellation.
     */
    private static void assertWithinOneBf16Step(Tensor ref, Tensor got, String where) {
        for (long r = 0; r < ref.rows(); r++) {
            double norm = 0;
            for (long c = 0; c < ref.cols(); c++) {
                norm += (double) ref.getFloat(r, c) * ref.getFloat(r, c);
            }
            norm = Math.sqrt(norm);
            for (long c = 0; c < ref.cols(); c++) {
                float a = ref.getFloat(r, c);
                float b = got.getFloat(r, c);
                double tol = 0x1p-7 * Math.max(Math.abs(a), Math.abs(b)) + 1e-6 * norm;
                assertTrue(Math.abs(a - b) <= tol, "row " + r + " col " + c + ": " + b + " vs float64 " + a + ", " + where);
            }
        }
    }

    static Stream<Arguments> kindsAndSizes() {
        return Stream.of(Kind.values()).flatMap(k -> Stream.of(64, 96, 128, 256).map(d -> Arguments.of(k, d)));
    }

    /** {@code (Q·R)·(K·R)ᵀ = Q·Kᵀ} on fp32 rows, with channel outliers, to fp32 accuracy. */
    @ParameterizedTest
    @MethodSource("kindsAndSizes")
    void qkTransposeIsUnchangedOnFp32Rows(Kind kind, int d) {
        long seed = AttentionInputs.seed();
        QkRotation rotation = kind.rotation();
        try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.FP32, 1, 2, 16, d), seed, 1.0);
             Tensor k = TensorFill.gaussian(Tensor.allocate(DType.FP32, 1, 1, 16, d), seed + 1, 1.0);
             Tensor qr = Tensor.allocate(DType.FP32, 1, 2, 16, d);
             Tensor kr = Tensor.allocate(DType.FP32, 1, 1, 16, d)) {
            AccuracyReport.addChannelOutliers(q, seed + 2, 4, 20, 100);
            AccuracyReport.addChannelOutliers(k, seed + 2, 4, 20, 100);
            rotation.rotate(q, qr);
            rotation.rotate(k, kr);
            double worst = 0;
            for (long i = 0; i < q.rows(); i++) {
                for (long j = 0; j < k.rows(); j++) {
                    double ref = dot(q, i, k, j);
                    double got = dot(qr, i, kr, j);
                    // Relative to |q|·|k|, the size of the terms: a logit near 0 has no relative accuracy.
                    double err = Math.abs(got - ref) / Math.sqrt(dot(q, i, q, i) * dot(k, j, k, j));
                    worst = Math.max(worst, err);
                }
            }
            assertTrue(worst <= 1e-5, kind + ", d = " + d + ": largest |Δ logit| / (|q|·|k|) = " + worst + ", " + why(seed));
        }
    }

    private static double dot(Tensor a, long i, Tensor b, long j) {
        double s = 0;
        for (long c = 0; c < a.cols(); c++) {
            s += (double) a.getFloat(i, c) * b.getFloat(j, c);
        }
        return s;
    }

    @Test
    void randomSignsChangeTheOutputDeterministically() {
        long seed = AttentionInputs.seed();
        long[] shape = {1, 2, 8, 128};
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, shape), seed, 1.0);
             Tensor plain = Tensor.allocate(DType.BF16, shape);
             Tensor randomized = Tensor.allocate(DType.BF16, shape);
             Tensor again = Tensor.allocate(DType.BF16, shape);
             Tensor otherSeed = Tensor.allocate(DType.BF16, shape)) {
            Kind.HADAMARD.rotation().rotate(x, plain);
            Kind.RANDOMIZED.rotation().rotate(x, randomized);
            Kind.RANDOMIZED.rotation().rotate(x, again);
            QkRotations.randomizedHadamard(CPU, SIGN_SEED + 1).rotate(x, otherSeed);
            assertArrayEquals(randomized.toFloatArray(), again.toFloatArray(), "same seed, same rotation, " + why(seed));
            assertTrue(fractionDiffering(plain, randomized) > 0.9, "randomized vs plain, " + why(seed));
            assertTrue(fractionDiffering(randomized, otherSeed) > 0.9, "two sign seeds, " + why(seed));
        }
    }

    private static double fractionDiffering(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        int n = 0;
        for (int i = 0; i < x.length; i++) {
            n += x[i] != y[i] ? 1 : 0;
        }
        return (double) n / x.length;
    }

    /**
     * A constant row is the first row of {@code H}: the plain rotation turns it into a single
     * spike {@code c·√D} (an outlier it created); with random signs the mass stays spread.
     */
    @Test
    void randomSignsBreakAStructuredOutlier() {
        int d = 128;
        float c = 0.5f;
        try (Tensor x = Tensor.allocate(DType.BF16, 1, 1, 4, d);
             Tensor plain = Tensor.allocate(DType.BF16, 1, 1, 4, d);
             Tensor randomized = Tensor.allocate(DType.BF16, 1, 1, 4, d)) {
            for (long r = 0; r < x.rows(); r++) {
                for (int i = 0; i < d; i++) {
                    x.setFloat(r, i, c);
                }
            }
            Kind.HADAMARD.rotation().rotate(x, plain);
            Kind.RANDOMIZED.rotation().rotate(x, randomized);
            double spike = c * Math.sqrt(d);
            assertEquals(spike, amax(plain), 0x1p-7 * spike, "plain rotation of a constant row");
            // (x ⊙ s)·H/√D is c times a ±1 sum of 128 terms over √D: about c, a few c at most.
            assertTrue(amax(randomized) < spike / 2, "randomized amax " + amax(randomized) + " vs spike " + spike
                    + " (sign seed " + SIGN_SEED + ")");
        }
    }

    private static double amax(Tensor t) {
        double m = 0;
        for (float v : t.toFloatArray()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void inPlaceEqualsOutOfPlace(Kind kind) {
        long seed = AttentionInputs.seed();
        QkRotation rotation = kind.rotation();
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 2, 7, 64), seed, 1.0);
             Tensor out = Tensor.allocate(DType.BF16, 2, 2, 7, 64)) {
            rotation.rotate(x, out);
            rotation.rotate(x, x);
            assertArrayEquals(out.toFloatArray(), x.toFloatArray(), kind + ", " + why(seed));
        }
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void rejectsBadTensorsNamingTheArgument(Kind kind) {
        QkRotation rotation = kind.rotation();
        try (Arena arena = Arena.ofConfined()) {
            Tensor ok = Tensor.allocate(arena, DType.BF16, 1, 1, 4, 64);
            Tensor closed = Tensor.allocate(DType.BF16, 1, 1, 4, 64);
            closed.close();
            Tensor d100 = Tensor.allocate(arena, DType.BF16, 1, 1, 4, 100);
            Tensor fp8 = Tensor.allocate(arena, DType.FP8_E4M3FN, 1, 1, 4, 64);
            Tensor fp32 = Tensor.allocate(arena, DType.FP32, 1, 1, 4, 64);
            Tensor shorter = Tensor.allocate(arena, DType.BF16, 1, 1, 3, 64);
            Tensor halfOverlap = Tensor.wrap(ok.segment().asSlice(2 * 64), DType.BF16, 1, 1, 3, 64);
            Tensor fromOk = Tensor.wrap(ok.segment().asSlice(0, 2 * 3 * 64), DType.BF16, 1, 1, 3, 64);
            assertRejected(() -> rotation.rotate(null, ok), "in must not be null");
            assertRejected(() -> rotation.rotate(ok, null), "out must not be null");
            assertRejected(() -> rotation.rotate(closed, ok), "in (");
            assertRejected(() -> rotation.rotate(d100, d100), "in has last dimension d = 100");
            assertRejected(() -> rotation.rotate(fp8, fp8), "in has dtype fp8_e4m3");
            assertRejected(() -> rotation.rotate(ok, fp32), "out has dtype fp32");
            assertRejected(() -> rotation.rotate(ok, shorter), "out has shape [1, 1, 3, 64]");
            assertRejected(() -> rotation.rotate(fromOk, halfOverlap), "out partially overlaps in");
        }
        assertRejected(() -> QkRotations.hadamard(null), "backend must not be null");
        assertRejected(() -> QkRotations.randomizedHadamard(null, 1), "backend must not be null");
    }

    private static void assertRejected(Executable call, String messageStart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(messageStart), "message \"" + e.getMessage() + "\" should start with \""
                + messageStart + "\"");
    }

    @Test
    void describesItself() {
        assertTrue(Kind.HADAMARD.rotation().toString().startsWith("Hadamard Q/K rotation on "));
        assertTrue(Kind.RANDOMIZED.rotation().toString().contains("seed " + SIGN_SEED));
    }
}
