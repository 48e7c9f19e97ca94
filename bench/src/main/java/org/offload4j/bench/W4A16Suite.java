package org.offload4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Reference;

/**
 * W4A16 cases: {@code Y[m,n] = X[m,k] · dequant(W)} with asymmetric int4 weights, fp16 scales.
 * Size syntax {@code MxNxK} or {@code MxNxK:g} (g = 32, 64, 128 or k; default 128).
 *
 * <p>The weight is built from random q, z and positive scales straight in the GPTQ format (an RTN
 * pass over a float matrix would dominate the set-up time and measures nothing). Several copies
 * of the weight are prepared and rotated through, at least 128 MiB in all (at most 16 copies),
 * so that every run reads its weight from DRAM rather than from the last-level cache or a GPU's L2
 * (50 MB on an H100).
 */
final class W4A16Suite implements OpSuite {
    private static final long ROTATION_BYTES = 128L << 20;
    private static final int MAX_COPIES = 16;
    private static final int SAMPLE_ROWS = 4;

    /**
     * The rows compared with the reference: the first {@value #SAMPLE_ROWS}, then one row of every
     * later group of 4 (at a different place in each group) and the last, so that every chunk and
     * row block a kernel splits m into is checked (the CPU GEMV path takes rows in fours, with a
     * one-row tail; the GEMM path in blocks).
     */
    static int[] sampleRows(int m) {
        java.util.TreeSet<Integer> rows = new java.util.TreeSet<>();
        for (int r = 0; r < Math.min(m, SAMPLE_ROWS); r++) {
            rows.add(r);
        }
        for (int c = 1; 4 * c < m; c++) {
            rows.add(Math.min(m - 1, 4 * c + c % 4));
        }
        if (m > 0) {
            rows.add(m - 1);
        }
        return rows.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public String name() {
        return "w4a16";
    }

    @Override
    public String sizeSyntax() {
        return "MxNxK or MxNxK:g (g ∈ {32, 64, 128, k}; default 128)";
    }

    @Override
    public List<String> defaultSizes(boolean full) {
        if (!full) {
            return List.of("1x4096x4096", "16x4096x4096", "64x4096x4096");
        }
        List<String> sizes = new ArrayList<>();
        for (int m : new int[] {1, 2, 4, 8, 16, 32, 64}) {
            sizes.add(m + "x4096x4096");
        }
        sizes.addAll(List.of("1x11008x4096", "1x4096x11008", "1x14336x4096", "16x14336x4096"));
        return sizes;
    }

    @Override
    public List<DType> dtypes() {
        return List.of(DType.BF16, DType.FP16);
    }

    @Override
    public void validate(Backend backend, String size) {
        int[] v = parse(size);
        try {
            org.offload4j.w4a16.QuantizedWeight.checkSizes(v[2], v[1], v[3]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("w4a16 size '" + size + "': " + e.getMessage());
        }
    }

    /** {m, n, k, g} of a size; g defaults to 128. */
    private int[] parse(String size) {
        String[] dims = size.split(":", 2);
        int[] mnk = OpSuite.dims(dims[0], 3, this);
        try {
            int g = dims.length == 2 ? Integer.parseInt(dims[1].trim()) : 128;
            return new int[] {mnk[0], mnk[1], mnk[2], g};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("w4a16 size '" + size + "' is not " + sizeSyntax());
        }
    }

    @Override
    public BenchCase create(Backend backend, String size, DType dtype, long seed, boolean full) {
        int[] v = parse(size);
        int m = v[0];
        int n = v[1];
        int k = v[2];
        int g = v[3];
        return new Case(W4A16.create(backend), DeviceTensors.forBackend(backend), m, n, k, g == k ? -1 : g, dtype, seed);
    }

    static QuantizedWeight randomWeight(int k, int n, int g, long seed) {
        int groups = k / (g < 0 ? k : g);
        Tensor qweight = TensorFill.gaussian(Tensor.allocate(DType.INT32, k / 8, n), seed, 1);
        Tensor qzeros = TensorFill.gaussian(Tensor.allocate(DType.INT32, groups, n / 8), seed + 1, 1);
        Tensor scales = Tensor.allocate(DType.FP16, groups, n);
        SplittableRandom rnd = new SplittableRandom(seed + 2);
        for (int r = 0; r < groups; r++) {
            for (int c = 0; c < n; c++) {
                scales.setFloat(r, c, (float) (0.004 + 0.004 * rnd.nextDouble()));
            }
        }
        return QuantizedWeight.adopt(k, n, g, qweight, qzeros, scales);
    }

    private static final class Case implements BenchCase {
        private final W4A16 op;
        private final int m;
        private final int n;
        private final int k;
        private final int g;
        private final DType dtype;
        private final Tensor x;
        private final Tensor y;
        private final QuantizedWeight weight;
        private final List<W4A16.Prepared> copies = new ArrayList<>();
        private final DeviceTensors device;
        private final Tensor deviceX;
        private final Tensor deviceY;
        private int next;

        Case(W4A16 op, DeviceTensors device, int m, int n, int k, int g, DType dtype, long seed) {
            this.op = op;
            this.device = device;
            this.m = m;
            this.n = n;
            this.k = k;
            this.g = g;
            this.dtype = dtype;
            this.weight = randomWeight(k, n, g, seed);
            this.x = TensorFill.gaussian(Tensor.allocate(dtype, m, k), seed + 3, 1.0);
            this.y = Tensor.allocate(dtype, m, n);
            this.deviceX = device.mirror(x);
            this.deviceY = device.mirror(y);
            long weightBytes = Math.max(1, (long) weightBytes(k, n, g));
            int count = (int) Math.min(MAX_COPIES, Math.max(1, (ROTATION_BYTES + weightBytes - 1) / weightBytes));
            for (int i = 0; i < count; i++) {
                copies.add(op.prepare(weight));
            }
        }

        private static double weightBytes(int k, int n, int g) {
            int groups = k / (g < 0 ? k : g);
            return k * (double) n / 2 + groups * (double) n * 2 + groups * (double) n / 2;
        }

        @Override
        public String op() {
            return "w4a16";
        }

        @Override
        public String label() {
            return "m=" + m + " n=" + n + " k=" + k + " g=" + (g < 0 ? "k" : Integer.toString(g));
        }

        @Override
        public double sizeMetric() {
            return (double) n * k * m;
        }

        @Override
        public String dtype() {
            return dtype.toString();
        }

        @Override
        public double bytesMoved() {
            return weightBytes(k, n, g) + dtype.byteSize((long) m * k) + dtype.byteSize((long) m * n);
        }

        @Override
        public double flops() {
            return 2.0 * m * n * k;
        }

        @Override
        public Map<String, Object> torchCase() {
            return Map.of("op", "w4a16", "dtype", dtype.toString(), "m", m, "n", n, "k", k, "group", g < 0 ? k : g);
        }

        @Override
        public void run() {
            op.matmul(deviceX, copies.get(next), null, deviceY);
            next = (next + 1) % copies.size();
        }

        @Override
        public double check() {
            TensorFill.poison(y);
            device.upload(y, deviceY);
            op.matmul(deviceX, copies.get(0), null, deviceY);
            device.download(deviceY, y);
            if (TensorFill.hasPoison(y)) {
                return Double.NaN;
            }
            int[] rows = sampleRows(m);
            try (Tensor xs = SampleRows.copy(x, rows); Tensor ys = SampleRows.copy(y, rows)) {
                return Accuracy.relativeL2(W4A16Reference.product(xs, weight, null), ys);
            }
        }

        @Override
        public double tolerance() {
            return 5e-3;
        }

        @Override
        public void close() {
            copies.forEach(W4A16.Prepared::close);
            device.close();
            weight.close();
            x.close();
            y.close();
        }
    }
}
