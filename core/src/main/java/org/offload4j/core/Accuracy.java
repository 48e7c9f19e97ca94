package org.offload4j.core;

/** Error measures used by tests and the benchmark's correctness check. */
public final class Accuracy {
    private Accuracy() {}

    /** ‖out − ref‖₂ / ‖ref‖₂ (the absolute norm when the reference is all zero). NaN if any output is not finite. */
    public static double relativeL2(double[] ref, double[] out) {
        if (ref.length != out.length) {
            throw new IllegalArgumentException("ref has " + ref.length + " elements, out has " + out.length);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            if (!Double.isFinite(out[i])) {
                return Double.NaN;
            }
            double d = out[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    /** {@link #relativeL2(double[], double[])} against a tensor's elements. */
    public static double relativeL2(double[] ref, Tensor out) {
        return relativeL2(ref, out.toDoubleArray());
    }

    /** Index of the first non-finite element, or −1. */
    public static long firstNonFinite(Tensor t) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                return i;
            }
        }
        return -1;
    }
}
