package org.offload4j.tornado;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.hadamard.RandomizedRotation;

/**
 * The TornadoVM Hadamard kernels against the float64 reference, through the facade: every kernel
 * path (the three forms, forced with {@code offload.tornado.hadamard}: the fused kernel up to
 * d = 4096, the passes with either transform, the per-row {@code float8} one where n ≥ 8), every block family,
 * the smallest and largest d, odd row counts, in place, and the transposed product.
 */
@Tag("tornado")
class TornadoHadamardTest {
    private static final String FORM = "offload.tornado.hadamard";

    static double tolerance(DType t) {
        return switch (t) {
            case BF16 -> 4e-3;
            case FP16 -> 1e-3;
            default -> 1e-6;
        };
    }

    static void check(String form, DType dtype, int d, int rows, boolean inPlace) {
        withForm(form, () -> check(dtype, d, rows, inPlace));
    }

    /** Runs {@code body} with {@code -Doffload.tornado.hadamard=form}, then restores the property. */
    static void withForm(String form, Runnable body) {
        TornadoTests.withProperty(FORM, form, body);
    }

    private static void check(DType dtype, int d, int rows, boolean inPlace) {
        Hadamard hadamard = Hadamard.create(TornadoTests.backend());
        HadamardSize size = HadamardSize.of(d);
        for (boolean transpose : new boolean[] {false, true}) {
            if (transpose && size.isPowerOfTwo() && !inPlace) {
                continue; // H_d symmetric: the same kernel with the same matrix; covered in place
            }
            long seed = TornadoTests.seed(dtype, d, rows, transpose, inPlace);
            String what = dtype + " d=" + d + " rows=" + rows + (transpose ? " inverse" : " forward") + (inPlace ? " in place" : "");
            float scale = Hadamard.defaultScale(d);
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), seed, 1.0);
                 Tensor y = inPlace ? null : TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                double[] want = HadamardReference.compute(x, size, scale, transpose, null, null);
                Tensor out = inPlace ? x : y;
                if (transpose) {
                    hadamard.inverse(x, out);
                } else {
                    hadamard.transform(x, out);
                }
                TornadoTests.assertClose(want, out, tolerance(dtype), seed, what);
            }
        }
    }

    static Stream<Arguments> sizes() {
        List<Arguments> out = new ArrayList<>();
        // d, rows: the smallest d, both kernel paths (LOCAL_D = 4096), the largest d; odd row counts.
        int[][] fp32 = {{2, 3}, {16, 129}, {1024, 17}, {4096, 5}, {8192, 3}, {32768, 1},
            {12, 7}, {20, 5}, {28, 3}, {40, 9}, {12 * 256, 3}, {40 * 512, 2}, {28 * 1024, 1}};
        for (int[] c : fp32) {
            addForms(out, DType.FP32, c[0], c[1]);
        }
        int[][] half = {{2, 1}, {256, 33}, {8192, 2}, {12 * 64, 5}, {40 * 256, 1}};
        for (DType t : new DType[] {DType.BF16, DType.FP16}) {
            for (int[] c : half) {
                addForms(out, t, c[0], c[1]);
            }
        }
        return out.stream();
    }

    /** Every form that applies: fused where d ≤ 4096 (HadamardKernels.LOCAL_D), rows where n ≥ 8. */
    private static void addForms(List<Arguments> out, DType t, int d, int rows) {
        out.add(Arguments.of("passes", t, d, rows));
        if (d <= 4096) {
            out.add(Arguments.of("fused", t, d, rows));
        }
        if (HadamardSize.of(d).n() >= 8) {
            out.add(Arguments.of("rows", t, d, rows));
        }
    }

    @ParameterizedTest(name = "{0} {1} d={2} rows={3}")
    @MethodSource("sizes")
    void againstReference(String form, DType dtype, int d, int rows) {
        check(form, dtype, d, rows, false);
    }

    @Test
    void inPlace() {
        for (String form : new String[] {"passes", "fused", "rows"}) {
            check(form, DType.BF16, 1024, 7, true);
            check(form, DType.FP32, 20, 3, true);
        }
    }

    /**
     * The kernel itself with distinct random pre- and post-signs (the facade passes none), in
     * both forms, forward and transposed: a swap of the two sign vectors, or one of them ignored,
     * fails against the reference.
     */
    @Test
    void signsAgainstReference() {
        HadamardKernel kernel = TornadoTests.backend().kernels(HadamardKernel.class).orElseThrow();
        for (String form : new String[] {"passes", "fused", "rows"}) {
            for (DType dtype : new DType[] {DType.FP32, DType.BF16}) {
                for (int d : new int[] {1024, 20, 8192, 12 * 64}) {
                    for (boolean transpose : new boolean[] {false, true}) {
                        long seed = TornadoTests.seed("signs", form, dtype, d, transpose);
                        SplittableRandom rnd = new SplittableRandom(seed);
                        float[] pre = new float[d];
                        float[] post = new float[d];
                        for (int i = 0; i < d; i++) {
                            pre[i] = rnd.nextBoolean() ? 1f : -1f;
                            post[i] = rnd.nextBoolean() ? 1f : -1f;
                        }
                        HadamardSize size = HadamardSize.of(d);
                        float scale = Hadamard.defaultScale(d);
                        String what = form + " " + dtype + " d=" + d + (transpose ? " transposed" : "") + " with signs";
                        try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, 3, d), seed, 1.0);
                             Tensor y = TensorFill.poison(Tensor.allocate(dtype, 3, d))) {
                            double[] want = HadamardReference.compute(x, size, scale, transpose, pre, post);
                            withForm(form, () -> kernel.transform(x, y, size, scale, transpose, pre, post));
                            TornadoTests.assertClose(want, y, tolerance(dtype), seed, what);
                        }
                    }
                }
            }
        }
    }

    @Test
    void randomizedRotationRoundTrip() {
        Hadamard hadamard = Hadamard.create(TornadoTests.backend());
        long seed = TornadoTests.seed("rotation");
        RandomizedRotation rot = RandomizedRotation.of(hadamard, 96, seed);
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 5, 96), seed, 1.0);
             Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, 5, 96));
             Tensor z = TensorFill.poison(Tensor.allocate(DType.FP32, 5, 96))) {
            rot.rotate(x, y);
            rot.unrotate(y, z);
            TornadoTests.assertClose(x.toDoubleArray(), z, 1e-6, seed, "rotation then inverse, d=96");
        }
    }
}
