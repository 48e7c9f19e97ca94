package org.offload4j.bench;

import java.util.List;
import java.util.SplittableRandom;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.cpu.Brgemm;

/**
 * The CPU backend's batch-reduce GEMM micro-kernel driven over whole matrices
 * ({@link Brgemm#gemm}, {@link Brgemm#gemmBf16}): {@code C[m×n] = A[m×k] · B[k×n]}, fp32 or bf16
 * inputs, fp32 accumulation and output. Not an op of the library: a yardstick of the kernel
 * under every CPU matrix product, against the FMA peak of the same run. Run only when named
 * ({@code offload bench --backend cpu brgemm}); size syntax {@code N} (N³) or {@code MxNxK}.
 */
final class BrgemmSuite implements OpSuite {
    private static final int SAMPLE_ROWS = 3;

    @Override
    public String name() {
        return "brgemm";
    }

    @Override
    public String sizeSyntax() {
        return "N (an N³ product) or MxNxK";
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        return full ? List.of("512", "1024", "2048", "4096") : List.of("512", "1024");
    }

    @Override
    public List<DType> dtypes() {
        return List.of(DType.FP32, DType.BF16);
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        int[] d = parse(backend, size);
        return new Case(d[0], d[1], d[2], dtype, seed);
    }

    @Override
    public void validate(Backend backend, String size) {
        parse(backend, size);
    }

    private int[] parse(Backend backend, String size) {
        if (!backend.name().equals("cpu")) {
            throw new IllegalArgumentException("brgemm is the CPU backend's micro-kernel; run it with --backend cpu (got "
                    + backend.name() + ")");
        }
        int[] mnk = size.contains("x") || size.contains("X") ? OpSuite.dims(size, 3, this) : square(size);
        long largest = Math.max((long) mnk[0] * mnk[2], Math.max((long) mnk[2] * mnk[1], (long) mnk[0] * mnk[1]));
        if (largest > MAX_ARRAY_FLOATS) {
            throw new IllegalArgumentException("brgemm size '" + size + "': a matrix of " + largest + " values; the benchmark "
                    + "keeps A, B and C in Java arrays, at most " + MAX_ARRAY_FLOATS + " values each");
        }
        return mnk;
    }

    /** The longest float[] the JVM allocates (a few words below Integer.MAX_VALUE). */
    private static final int MAX_ARRAY_FLOATS = Integer.MAX_VALUE - 8;

    private int[] square(String size) {
        int n = OpSuite.dims(size, 1, this)[0];
        return new int[] {n, n, n};
    }

    private static final class Case implements BenchCase {
        private final int m;
        private final int n;
        private final int k;
        private final DType dtype;
        private final float[] a;
        private final float[] b;
        private final short[] ah;
        private final short[] bh;
        private final float[] c;

        Case(int m, int n, int k, DType dtype, long seed) {
            this.m = m;
            this.n = n;
            this.k = k;
            this.dtype = dtype;
            SplittableRandom rnd = new SplittableRandom(seed);
            float[] af = new float[m * k];
            float[] bf = new float[k * n];
            for (int i = 0; i < af.length; i++) {
                af[i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < bf.length; i++) {
                bf[i] = (float) rnd.nextGaussian();
            }
            if (dtype == DType.BF16) {
                ah = toBf16(af);
                bh = toBf16(bf);
                a = widen(ah);
                b = widen(bh);
            } else {
                ah = null;
                bh = null;
                a = af;
                b = bf;
            }
            c = new float[m * n];
        }

        @Override
        public String op() {
            return "brgemm";
        }

        @Override
        public String label() {
            return "m=" + m + " n=" + n + " k=" + k;
        }

        @Override
        public double sizeMetric() {
            return (double) m * n * k;
        }

        @Override
        public String dtype() {
            return dtype.toString();
        }

        @Override
        public double bytesMoved() {
            return dtype.byteSize((long) m * k + (long) k * n) + 4.0 * m * n;
        }

        @Override
        public double flops() {
            return 2.0 * m * n * k;
        }

        @Override
        public void run() {
            if (dtype == DType.BF16) {
                Brgemm.gemmBf16(m, n, k, ah, bh, c);
            } else {
                Brgemm.gemm(m, n, k, a, b, c);
            }
        }

        @Override
        public double check() {
            java.util.Arrays.fill(c, Float.NaN);
            run();
            for (float v : c) { // every element written (the poison gone), not only the sampled rows
                if (!Float.isFinite(v)) {
                    return Double.NaN;
                }
            }
            double num = 0;
            double den = 0;
            for (int s = 0; s < SAMPLE_ROWS; s++) {
                int r = (int) ((long) s * (m - 1) / Math.max(1, SAMPLE_ROWS - 1));
                for (int j = 0; j < n; j++) {
                    double ref = 0;
                    for (int kk = 0; kk < k; kk++) {
                        ref += (double) a[r * k + kk] * b[kk * n + j];
                    }
                    float got = c[r * n + j];
                    if (!Float.isFinite(got)) {
                        return Double.NaN;
                    }
                    num += (got - ref) * (got - ref);
                    den += ref * ref;
                }
            }
            return Math.sqrt(num / den);
        }

        @Override
        public double tolerance() {
            return 1e-5;
        }

        @Override
        public void close() {
        }

        private static short[] toBf16(float[] x) {
            short[] s = new short[x.length];
            for (int i = 0; i < x.length; i++) {
                s[i] = Bf16.fromFloat(x[i]);
            }
            return s;
        }

        private static float[] widen(short[] s) {
            float[] x = new float[s.length];
            for (int i = 0; i < s.length; i++) {
                x[i] = Bf16.toFloat(s[i]);
            }
            return x;
        }
    }
}
