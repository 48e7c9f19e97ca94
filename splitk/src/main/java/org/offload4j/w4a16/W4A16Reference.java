package org.offload4j.w4a16;

import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Fp64;

/**
 * The float64 reference of the W4A16 op: slow (one multiply-add per {@code m·n·k}) and
 * obviously right. Every backend is tested against {@link #product}.
 *
 * <p>X, the dequantized weight {@code (q − z)·s} and the bias are widened exactly to double; the
 * sums are formed in double, row by row of W. {@link #matmul} then rounds each result once to
 * Y's dtype, to nearest with ties to even.
 */
public final class W4A16Reference {
    private W4A16Reference() {}

    /**
     * {@code X · W (+ bias)} in float64, row-major {@code [m, n]}.
     *
     * @param x    any float dtype, {@code [m, k]}
     * @param w    the weight, k matching x
     * @param bias {@code [n]} of any float dtype, or {@code null}
     */
    public static double[] product(Tensor x, QuantizedWeight w, Tensor bias) {
        Args.live(x, "x");
        Args.notNull(w, "w");
        Args.require(w.isAlive(), "w (" + w + ") is closed");
        Args.shape(x, "x", -1, w.k());
        if (bias != null) {
            Args.live(bias, "bias");
            Args.shape(bias, "bias", w.n());
        }
        int m = (int) x.dim(0);
        int k = w.k();
        int n = w.n();
        double[] xs = x.toDoubleArray();
        double[] out = new double[m * n];
        if (bias != null) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    out[i * n + j] = bias.getFloat(0, j);
                }
            }
        }
        double[] wRow = new double[n];
        for (int kk = 0; kk < k; kk++) {
            for (int j = 0; j < n; j++) {
                wRow[j] = w.weight(kk, j);
            }
            for (int i = 0; i < m; i++) {
                double xv = xs[i * k + kk];
                if (xv == 0) {
                    continue;
                }
                int o = i * n;
                for (int j = 0; j < n; j++) {
                    out[o + j] += xv * wRow[j];
                }
            }
        }
        return out;
    }

    /**
     * Writes {@link #product} into {@code y} ({@code [m, n]}, any float dtype), each element
     * rounded once to y's dtype.
     */
    public static void matmul(Tensor x, QuantizedWeight w, Tensor bias, Tensor y) {
        double[] p = product(x, w, bias);
        Args.live(y, "y");
        Args.shape(y, "y", x.dim(0), w.n());
        Args.require(y.dtype().isFloatingPoint(), "y has dtype " + y.dtype() + "; expected a floating-point dtype");
        int n = w.n();
        for (int i = 0; i < y.rows(); i++) {
            for (int j = 0; j < n; j++) {
                y.setFloat(i, j, y.dtype() == DType.FP32 ? (float) p[i * n + j] : Fp64.toFloatRoundedToOdd(p[i * n + j]));
            }
        }
    }
}
