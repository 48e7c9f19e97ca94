package org.offload4j.hadamard;

import java.util.Optional;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Fp64;
import org.offload4j.core.numerics.Fp8;

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
 * ties to even: it rounds to float with round-to-odd ({@link Fp64#toFloatRoundedToOdd}), then to bf16/fp16 with
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
                out.setFloat(r, c, out.dtype() == DType.FP32 ? (float) row[c] : Fp64.toFloatRoundedToOdd(row[c]));
            }
        }
    }

    /** The reference as a {@link HadamardKernel}, for facade tests that need no backend. */
    public static HadamardKernel kernel() {
        return (in, out, size, scale, transpose, pre, post) -> transform(in, out, size, scale, transpose, pre, post);
    }

    /**
     * Test rows for the FP8 path's edge cases (at least 8 rows, d ≥ 8): Gaussian rows with a NaN in
     * row 0, −∞ in row 3, and rows 4 and 5 of normal values near 3e-37, none subnormal, so that
     * their amax / 448 falls below {@code Float.MIN_NORMAL} and the scale floor applies. Returns
     * {@code x}. The CPU and GPU tests fill their inputs with this and check with {@link #fp8Mismatch}.
     */
    public static Tensor fillFp8Extremes(Tensor x, long seed) {
        TensorFill.gaussian(x, seed, 1.0);
        int d = Math.toIntExact(x.cols());
        x.setFloat(0, 5, Float.NaN);
        x.setFloat(3, d - 1, Float.NEGATIVE_INFINITY);
        for (long r = 4; r < 6; r++) {
            for (int c = 0; c < d; c++) {
                float g = x.getFloat(r, c);
                x.setFloat(r, c, (g >= 0 ? 0.5f + g : g - 0.5f) * 3e-37f);
            }
        }
        return x;
    }

    /**
     * Checks a {@link Hadamard#transformToFp8} result against the float64 rotation
     * {@code y = scale · x · H_d} of {@code in}: empty when it keeps the contract, otherwise the
     * first departure. Per group of {@code rowsPerScale} rows, with {@code amax = max |y|}:
     * <ul>
     *   <li>finite amax: the scale is {@code amax / 448}, at least {@code Float.MIN_NORMAL}, 1 for an
     *       all-zero group (to 1e-5 relative, as the fp32 transform gives amax), and every
     *       {@code code · s} is the E4M3 value nearest to {@code y}: within half a unit in the last
     *       place of the smaller binade of {@code |y / s|} and {@code |code|} ({@code 2^(e − 4) · s}
     *       for {@code 2^e ≤ v < 2^(e+1)}, {@code e ≥ −6}; below, half the subnormal step
     *       {@code 2^-10 · s}), plus {@code 1e-6 · amax} for the fp32 transform's error. The
     *       neighbour on the far side of {@code y} is at least half a unit away, so it fails unless
     *       {@code y / s} is within that slack of a midpoint; the slack is {@code 4.5e-4} in units
     *       of {@code y / s}, so below about {@code |y| = amax / 3600} (binades −6 … −4, half
     *       units 9.8e-4 … 3.9e-3) the check lets a wrong neighbour pass for a fair share of values;</li>
     *   <li>a NaN in the group: the scale is NaN; an infinite amax: the scale is NaN or +∞ (the
     *       tensor-core splits of ±∞ give NaN); either way every element whose {@code y} is not
     *       finite is the NaN code, and the group's other codes are left unchecked.</li>
     * </ul>
     * The slack {@code 1e-6 · amax} is the CPU's fp32 transform's; a kernel with a larger transform
     * error passes its own to {@link #fp8Mismatch(Tensor, double, Tensor, Tensor, long, double)}.
     */
    public static Optional<String> fp8Mismatch(Tensor in, double scale, Tensor q, Tensor scales, long rowsPerScale) {
        return fp8Mismatch(in, scale, q, scales, rowsPerScale, 1e-6);
    }

    /**
     * {@link #fp8Mismatch(Tensor, double, Tensor, Tensor, long)} with a slack of
     * {@code transformError · amax} per element for the transform's own error before the E4M3
     * rounding, in place of {@code 1e-6 · amax}: the wrong neighbour then passes where {@code y / s}
     * lies within {@code 448 · transformError} of a midpoint. The tensor-core kernels' bf16 splits of
     * fp32 intermediates give about 4e-6 relative L2 at d ≥ 4096 (docs/ops/hadamard.md), about
     * 1e-6 · amax per element: a slack of 1e-6 there fails correct codes near midpoints.
     */
    public static Optional<String> fp8Mismatch(Tensor in, double scale, Tensor q, Tensor scales, long rowsPerScale,
                                               double transformError) {
        int d = Math.toIntExact(in.cols());
        double[] y = compute(in, HadamardSize.of(d), scale, false, null, null);
        for (long g = 0; g < in.rows() / rowsPerScale; g++) {
            long first = g * rowsPerScale * d;
            long end = first + rowsPerScale * d;
            double amax = 0;
            for (long i = first; i < end; i++) {
                amax = Math.max(amax, Math.abs(y[(int) i]));
            }
            float s = scales.getFloat(0, g);
            String group = "group " + g + " (amax " + amax + ", scale " + s + "): ";
            if (!Double.isFinite(amax)) {
                boolean scaleOk = Double.isNaN(amax) ? Float.isNaN(s) : Float.isNaN(s) || s == Float.POSITIVE_INFINITY;
                if (!scaleOk) {
                    return Optional.of(group + "a group with " + (Double.isNaN(amax) ? "NaN needs a NaN" : "±∞ needs a NaN or +∞")
                            + " scale");
                }
                for (long i = first; i < end; i++) {
                    float code = q.getFloat(i / d, i % d);
                    if (!Double.isFinite(y[(int) i]) && !Float.isNaN(code)) {
                        return Optional.of(group + "(" + i / d + ", " + i % d + "): y = " + y[(int) i] + " but code " + code);
                    }
                }
                continue;
            }
            double want = amax == 0 ? 1 : Math.max(amax / Fp8.E4M3_MAX, Float.MIN_NORMAL);
            if (!(Math.abs(s - want) <= 1e-5 * want)) {
                return Optional.of(group + "scale should be " + want);
            }
            for (long i = first; i < end; i++) {
                double code = q.getFloat(i / d, i % d);
                double got = code * s;
                // The smaller binade of y/s and the code: just above 2^e the spacing below 2^e is half as large.
                double bound = halfUlpE4m3(Math.min(Math.abs(y[(int) i] / s), Math.abs(code))) * s + transformError * amax;
                if (!(Math.abs(got - y[(int) i]) <= bound)) {
                    return Optional.of(group + "(" + i / d + ", " + i % d + "): code · s = " + got + ", y = " + y[(int) i]);
                }
            }
        }
        return Optional.empty();
    }

    /** Half the spacing of E4M3 values around {@code v}: {@code 2^(e − 4)} in the binade {@code [2^e, 2^(e+1))}, {@code 2^-10} below 2^-6. */
    static double halfUlpE4m3(double v) {
        int e = Math.max(Math.getExponent(v), -6);
        return Math.scalb(1.0, e - 4);
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
