package org.offload4j.hadamard;

import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/**
 * The float64 reference of the Hadamard op, the oracle every backend is tested against: slow,
 * single-threaded and written to be obviously right.
 *
 * <p>Per row, in double precision: widen the input exactly, multiply by the pre-signs, run the
 * textbook radix-2 fast Walsh–Hadamard transform on each of the {@code m} contiguous blocks of
 * {@code n} elements ({@code H_n}, symmetric), then the dense product with {@code H_m} (or
 * {@code H_mᵀ}) across blocks, element by element; scale; multiply by the post-signs. Every sum
 * of at most 32768 inputs is exact to about 1e-12 relative, far below any tolerance here. The
 * dense {@code O(d²)} product with {@link HadamardMatrices#dense} is the test that this
 * factorization is {@code x · H_d}.
 *
 * <p>{@link #transform} rounds the float64 result once to the output dtype, round to nearest,
 * ties to even: it rounds to float with round-to-odd, then to bf16/fp16 with
 * {@code Bf16.fromFloat}/{@code Fp16.fromFloat}; float carries at least two more bits than either,
 * so that pair of roundings equals a single correct rounding.
 */
public final class HadamardReference {
    private HadamardReference() {}

    /**
     * The exact (float64) result for every row of {@code in}, row-major {@code rows × d}, before
     * any rounding to the output dtype. Arguments as {@link HadamardKernel#transform}.
     */
    public static double[] compute(Tensor in, HadamardSize size, double scale, boolean transpose,
                                   float[] preSigns, float[] postSigns) {
        int d = size.d();
        long rows = in.rows();
        double[] out = new double[Math.toIntExact(Math.multiplyExact(rows, (long) d))];
        int[][] hm = HadamardMatrices.of(size.m());
        double[] row = new double[d];
        double[] tmp = new double[d];
        for (long r = 0; r < rows; r++) {
            readRow(in, r, row, preSigns);
            transformRow(row, tmp, size, hm, scale, transpose, postSigns);
            System.arraycopy(row, 0, out, (int) (r * d), d);
        }
        return out;
    }

    /**
     * Writes the result into {@code out} (in place when it is {@code in}), rounded once to
     * {@code out}'s dtype. Arguments as {@link HadamardKernel#transform}.
     */
    public static void transform(Tensor in, Tensor out, HadamardSize size, double scale, boolean transpose,
                                 float[] preSigns, float[] postSigns) {
        int d = size.d();
        int[][] hm = HadamardMatrices.of(size.m());
        double[] row = new double[d];
        double[] tmp = new double[d];
        for (long r = 0; r < in.rows(); r++) {
            readRow(in, r, row, preSigns);
            transformRow(row, tmp, size, hm, scale, transpose, postSigns);
            for (int c = 0; c < d; c++) {
                out.setFloat(r, c, out.dtype() == DType.FP32 ? (float) row[c] : roundToOdd(row[c]));
            }
        }
    }

    /** The reference as a {@link HadamardKernel}, for facade tests that need no backend. */
    public static HadamardKernel kernel() {
        return (in, out, size, scale, transpose, pre, post) -> transform(in, out, size, scale, transpose, pre, post);
    }

    /**
     * {@code v} rounded to float with round-to-odd: the nearest float if exact, else whichever
     * of the two neighbouring floats has an odd significand. A later round-to-nearest-even to a
     * format with at least two fewer significand bits then gives the correctly rounded value of
     * {@code v}, with no double-rounding error.
     */
    static float roundToOdd(double v) {
        float f = (float) v;
        if ((double) f == v || Float.isInfinite(f) || Double.isNaN(v)) {
            return f;
        }
        return (Float.floatToRawIntBits(f) & 1) != 0 ? f : Math.nextAfter(f, v);
    }

    private static void readRow(Tensor in, long r, double[] row, float[] preSigns) {
        for (int c = 0; c < row.length; c++) {
            double x = in.getFloat(r, c);
            row[c] = preSigns == null ? x : x * preSigns[c];
        }
    }

    /** {@code row ← (scale · row · H_d(ᵀ)) ⊙ postSigns}, in float64. */
    private static void transformRow(double[] row, double[] tmp, HadamardSize size, int[][] hm, double scale,
                                     boolean transpose, float[] postSigns) {
        int m = size.m();
        int n = size.n();
        for (int a = 0; a < m; a++) {
            fwht(row, a * n, n);
        }
        // (u · (H_m ⊗ H_n))[a'·n + b] = Σ_a H_m[a][a'] · (u_a · H_n)[b]; transposed: H_m[a'][a].
        for (int ao = 0; ao < m; ao++) {
            for (int b = 0; b < n; b++) {
                double s = 0;
                for (int a = 0; a < m; a++) {
                    s += (transpose ? hm[ao][a] : hm[a][ao]) * row[a * n + b];
                }
                tmp[ao * n + b] = s;
            }
        }
        for (int i = 0; i < row.length; i++) {
            double y = scale * tmp[i];
            row[i] = postSigns == null ? y : y * postSigns[i];
        }
    }

    /** In-place radix-2 Walsh–Hadamard transform of {@code x[off, off + n)}, natural order. */
    private static void fwht(double[] x, int off, int n) {
        for (int h = 1; h < n; h *= 2) {
            for (int i = off; i < off + n; i += 2 * h) {
                for (int j = i; j < i + h; j++) {
                    double a = x[j];
                    double b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
            }
        }
    }
}
