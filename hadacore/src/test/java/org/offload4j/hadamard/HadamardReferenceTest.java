package org.offload4j.hadamard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp64;
import org.offload4j.core.numerics.Fp16;

class HadamardReferenceTest {

    /** The definition, term by term: y_j = post_j · scale · Σ_i pre_i · x_i · H[i][j] (H[j][i] transposed). */
    static double[] dense(double[] x, int rows, int[][] h, double scale, boolean transpose, float[] pre, float[] post) {
        int d = h.length;
        double[] y = new double[rows * d];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int i = 0; i < d; i++) {
                    s += (pre == null ? 1 : pre[i]) * x[r * d + i] * (transpose ? h[j][i] : h[i][j]);
                }
                y[r * d + j] = (post == null ? 1 : post[j]) * scale * s;
            }
        }
        return y;
    }

    static float[] signs(int d, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] s = new float[d];
        for (int i = 0; i < d; i++) {
            s[i] = rnd.nextBoolean() ? 1 : -1;
        }
        return s;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4, 8, 64, 512, 12, 24, 96, 20, 28, 56, 448, 40, 80, 320})
    void fastFloat64MatchesTheDenseProduct(int d) {
        long seed = 1000L + d;
        HadamardSize size = HadamardSize.of(d);
        int[][] h = HadamardMatrices.dense(size);
        int rows = 3;
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, rows, d), seed, 1.0)) {
            double[] xs = x.toDoubleArray();
            for (boolean transpose : new boolean[] {false, true}) {
                for (int variant = 0; variant < 3; variant++) {
                    float[] pre = variant == 1 ? signs(d, seed + 1) : null;
                    float[] post = variant == 2 ? signs(d, seed + 2) : null;
                    double scale = variant == 0 ? 1.0 : 0.37;
                    double[] want = dense(xs, rows, h, scale, transpose, pre, post);
                    double[] got = HadamardReference.compute(x, size, scale, transpose, pre, post);
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 1e-12 * Math.sqrt(d),
                                "d=" + d + " transpose=" + transpose + " variant=" + variant + " element " + i + " seed=" + seed);
                    }
                }
            }
        }
    }

    @Test
    void inverseUndoesTheForwardTransform() {
        for (int d : new int[] {12, 40, 28 * 4, 256}) {
            HadamardSize size = HadamardSize.of(d);
            double scale = 1 / Math.sqrt(d);
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 2, d), d, 1.0);
                 Tensor y = Tensor.allocate(DType.FP32, 2, d);
                 Tensor z = Tensor.allocate(DType.FP32, 2, d)) {
                HadamardReference.transform(x, y, size, scale, false, null, null);
                HadamardReference.transform(y, z, size, scale, true, null, null);
                double[] xs = x.toDoubleArray();
                double[] zs = z.toDoubleArray();
                for (int i = 0; i < xs.length; i++) {
                    assertEquals(xs[i], zs[i], 1e-5, "d=" + d + " element " + i);
                }
            }
        }
    }

    /** Round to nearest even at {@code bits} significant bits, exponent floored at {@code minExp}; all in double, exact. */
    static double roundDirect(double v, int bits, int minExp) {
        int e = Math.max(Math.getExponent(v), minExp);
        double ulp = Math.scalb(1.0, e - (bits - 1));
        return Math.rint(v / ulp) * ulp;
    }

    @Test
    void writesAreRoundedOnceEvenWhereDoubleRoundingWouldDiffer() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 20000; i++) {
            // A bf16/fp16 tie plus or minus far less than a float ulp: (float) v lands exactly on the tie.
            double base = (1 + rnd.nextInt(1 << 10) / 1024.0) * Math.scalb(1.0, rnd.nextInt(20) - 10);
            double tiny = Math.scalb(base, -40) * (rnd.nextBoolean() ? 1 : -1);
            float b = Bf16.round((float) base);
            double bf16Tie = b + Math.ulp(b) * 0x1p15; // half a bf16 ulp: 2^16 float ulps / 2
            float h = Fp16.round((float) base);
            double fp16Tie = h + Math.ulp(h) * 0x1p12; // half an fp16 ulp: 2^13 float ulps / 2
            for (double v : new double[] {base + tiny, bf16Tie + tiny, bf16Tie - tiny, fp16Tie + tiny, fp16Tie - tiny,
                    rnd.nextGaussian()}) {
                float odd = Fp64.toFloatRoundedToOdd(v);
                assertEquals((float) roundDirect(v, 8, -126), Bf16.toFloat(Bf16.fromFloat(odd)), "bf16 of " + v);
                assertEquals((float) roundDirect(v, 11, -14), Fp16.toFloat(Fp16.fromFloat(odd)), "fp16 of " + v);
            }
        }
        // The concrete case: 1 + 2^-8 (a bf16 tie) plus 2^-40 must round up to 1 + 2^-7.
        double v = 1 + 0x1p-8 + 0x1p-40;
        assertEquals(1 + 0x1p-7, Bf16.toFloat(Bf16.fromFloat(Fp64.toFloatRoundedToOdd(v))));
        assertTrue(Bf16.toFloat(Bf16.fromFloat((float) v)) == 1f, "plain double→float→bf16 would round down");
    }
}
