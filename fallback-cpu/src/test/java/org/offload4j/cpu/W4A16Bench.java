package org.offload4j.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Reference;

/**
 * Throwaway benchmark of the CPU W4A16 kernel (not a test: surefire does not pick it up). Prints
 * the host's copy bandwidth, then GEMV (m = 1) time against it, then GEMM GFLOP/s.
 *
 * <pre>
 * ./mvnw -o -q -pl core,splitk,fallback-cpu -am test-compile
 * java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *   -cp core/target/classes:splitk/target/classes:fallback-cpu/target/classes:fallback-cpu/target/test-classes \
 *   org.offload4j.cpu.W4A16Bench [k n g copies m,m,…]
 * </pre>
 * Weights rotate over {@code copies} prepared copies (default 8, 8 × 9 MiB packed, larger than a
 * 32 MiB L3) so that the GEMV streams from DRAM; {@code copies = 1} times a cache-resident weight.
 */
public final class W4A16Bench {
    private W4A16Bench() {}

    public static void main(String[] args) throws Exception {
        int k = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        int g = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int copies = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        int[] ms = args.length > 4 ? Arrays.stream(args[4].split(",")).mapToInt(Integer::parseInt).toArray() : new int[] {1, 16, 64};
        W4A16 op = W4A16.create();
        System.out.printf("backend: %s — %s%n", op.backend().name(), op.backend().description());

        double[] copyBw = copyBandwidth();
        System.out.printf("copy bandwidth (256 MiB, read+written): 1 thread %.1f GB/s, 2 threads %.1f GB/s%n", copyBw[0], copyBw[1]);

        long seed = 42;
        QuantizedWeight w;
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.02)) {
            w = RtnQuantizer.quantize(wf, g, false, DType.FP16);
        }
        List<W4A16.Prepared> prepared = new ArrayList<>();
        for (int c = 0; c < copies; c++) {
            prepared.add(op.prepare(w));
        }
        double gptqBytes = (double) k * n / 2 + (double) (k / g) * n * 2 + (double) (k / g) * n / 2;
        long packedBytes = ((VectorW4A16Kernel.Packed) prepared.get(0).packed()).byteSize();
        System.out.printf("weight %dx%d g%d asym fp16 scales: GPTQ bytes %.2f MiB, packed %.2f MiB, %d copies%n",
                k, n, g, gptqBytes / (1 << 20), packedBytes / (double) (1 << 20), copies);

        for (int m : ms) {
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, k), seed + m, 1);
                 Tensor y = Tensor.allocate(DType.BF16, m, n)) {
                op.matmul(x, prepared.get(0), null, y);
                if (m <= 16) {
                    double err = Accuracy.relativeL2(W4A16Reference.product(x, w, null), y);
                    System.out.printf("m=%d check: relative L2 error %.2e%n", m, err);
                }
                int reps = m == 1 ? 400 : m <= 16 ? 40 : 12;
                for (int i = 0; i < reps; i++) { // warm-up
                    op.matmul(x, prepared.get(i % copies), null, y);
                }
                double[] t = new double[m == 1 ? 41 : 11];
                int inner = m == 1 ? 4 * copies : Math.max(1, copies / 2);
                for (int r = 0; r < t.length; r++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < inner; i++) {
                        op.matmul(x, prepared.get(i % copies), null, y);
                    }
                    t[r] = (System.nanoTime() - t0) / 1e9 / inner;
                }
                Arrays.sort(t);
                double med = t[t.length / 2];
                double flops = 2.0 * m * n * k;
                if (m == 1) {
                    double bw = gptqBytes / med / 1e9;
                    System.out.printf("GEMV m=1: median %.1f us (min %.1f, max %.1f), %.1f GB/s on GPTQ bytes = %.0f%% of 2-thread copy bandwidth; "
                            + "%.1f GB/s of packed bytes; %.1f GFLOP/s%n", med * 1e6, t[0] * 1e6, t[t.length - 1] * 1e6, bw,
                            100 * bw / copyBw[1], packedBytes / med / 1e9, flops / med / 1e9);
                } else {
                    System.out.printf("m=%d: median %.2f ms (min %.2f), %.1f GFLOP/s%n", m, med * 1e3, t[0] * 1e3, flops / med / 1e9);
                }
            }
        }
        for (W4A16.Prepared p : prepared) {
            p.close();
        }
        w.close();
    }

    /** memcpy-style bandwidth of 256 MiB with 1 and 2 threads, counting bytes read plus written; median of 7. */
    static double[] copyBandwidth() throws Exception {
        long size = 256L << 20;
        double[] out = new double[2];
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = arena.allocate(size, 4096);
            MemorySegment dst = arena.allocate(size, 4096);
            src.fill((byte) 1);
            dst.fill((byte) 2);
            ExecutorService ex = Executors.newFixedThreadPool(2);
            try {
                for (int threads = 1; threads <= 2; threads++) {
                    double[] t = new double[7];
                    for (int rep = 0; rep < t.length; rep++) {
                        long chunk = size / threads;
                        long t0 = System.nanoTime();
                        List<Future<?>> fs = new ArrayList<>();
                        for (int i = 0; i < threads; i++) {
                            long off = i * chunk;
                            fs.add(ex.submit(() -> MemorySegment.copy(src, off, dst, off, chunk)));
                        }
                        for (Future<?> f : fs) {
                            f.get();
                        }
                        t[rep] = (System.nanoTime() - t0) / 1e9;
                    }
                    Arrays.sort(t);
                    out[threads - 1] = 2.0 * size / t[3] / 1e9;
                }
            } finally {
                ex.shutdown();
            }
        }
        return out;
    }
}
