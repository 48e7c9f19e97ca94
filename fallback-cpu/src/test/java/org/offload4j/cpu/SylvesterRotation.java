package org.offload4j.cpu;

import org.offload4j.attention.QkRotation;
import org.offload4j.core.Tensor;

/**
 * A test rotation: each row times the Sylvester Hadamard matrix {@code H_d / √d}
 * ({@code H[i][j] = (−1)^popcount(i & j)}), in float64, rounded to bf16. Orthonormal and
 * symmetric; slow ({@code O(d²)} per row) and obviously right.
 */
final class SylvesterRotation implements QkRotation {
    private final int d;
    private final double[][] h;

    SylvesterRotation(int d) {
        if (Integer.bitCount(d) != 1) {
            throw new IllegalArgumentException("d = " + d + " must be a power of two");
        }
        this.d = d;
        h = new double[d][d];
        double norm = 1 / Math.sqrt(d);
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                h[i][j] = (Integer.bitCount(i & j) & 1) == 0 ? norm : -norm;
            }
        }
    }

    @Override
    public void rotate(Tensor in, Tensor out) {
        if (in.cols() != d) {
            throw new IllegalArgumentException("rows of " + in.cols() + " elements; this rotation is for d = " + d);
        }
        double[] x = new double[d];
        for (long r = 0; r < in.rows(); r++) {
            for (int c = 0; c < d; c++) {
                x[c] = in.getFloat(r, c);
            }
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int i = 0; i < d; i++) {
                    s += x[i] * h[i][j];
                }
                out.setFloat(r, j, (float) s);
            }
        }
    }
}
