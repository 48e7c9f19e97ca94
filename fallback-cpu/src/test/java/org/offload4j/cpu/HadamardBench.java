package org.offload4j.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.hadamard.Hadamard;

/**
 * Throwaway measurement (not a test, not run by surefire): Hadamard throughput on a 64 MiB
 * input against the copy bandwidth measured in the same JVM. Bytes counted: each input element
 * read once and each output element written once. Run with
 * {@code java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp … org.offload4j.cpu.HadamardBench [dtype] [reps] [d…]}.
 */
public final class HadamardBench {
    public static void main(String[] args) {
        DType dtype = args.length > 0 ? DType.parse(args[0]) : DType.BF16;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 15;
        int[] ds = args.length > 2 ? Arrays.stream(args, 2, args.length).mapToInt(Integer::parseInt).toArray()
                : new int[] {128, 1024, 4096, 16384, 32768};
        long elements = 1L << 25;
        Hadamard h = Hadamard.create(new CpuBackendProvider().create());
        System.out.println(h.backend().description());
        double copy = copyBandwidth(reps);
        System.out.printf(Locale.ROOT, "copy 256 MiB, %d threads: %.1f GB/s read+written%n", CpuThreads.threads(), copy);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment inSeg = arena.allocate(dtype.byteSize(elements), 64);
            MemorySegment outSeg = arena.allocate(dtype.byteSize(elements), 64);
            fill(inSeg, dtype);
            outSeg.fill((byte) 1);
            for (int d : ds) {
                Tensor in = Tensor.wrap(inSeg, dtype, new long[] {elements / d, d});
                Tensor out = Tensor.wrap(outSeg, dtype, new long[] {elements / d, d});
                for (int i = 0; i < 5; i++) {
                    h.transform(in, out);
                }
                long gc0 = gcCount();
                double[] t = new double[reps];
                for (int i = 0; i < reps; i++) {
                    long t0 = System.nanoTime();
                    h.transform(in, out);
                    t[i] = (System.nanoTime() - t0) / 1e9;
                }
                Arrays.sort(t);
                double bytes = 2.0 * dtype.byteSize(elements);
                double gbs = bytes / t[reps / 2] / 1e9;
                System.out.printf(Locale.ROOT, "%s d=%-6d median %7.2f ms (min %7.2f)  %6.1f GB/s  %5.1f %% of copy   GCs during timing: %d%n",
                        dtype, d, t[reps / 2] * 1e3, t[0] * 1e3, gbs, 100 * gbs / copy, gcCount() - gc0);
            }
        }
    }

    /** Median of {@code reps} copies of 256 MiB split over the backend's threads; bytes read + written over time. */
    static double copyBandwidth(int reps) {
        long size = 256L << 20;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = arena.allocate(size, 64);
            MemorySegment dst = arena.allocate(size, 64);
            src.fill((byte) 3);
            dst.fill((byte) 4);
            long chunk = 1 << 20;
            double[] t = new double[reps + 3];
            for (int i = 0; i < t.length; i++) {
                long t0 = System.nanoTime();
                CpuThreads.forRange(size / chunk, 1, (from, to) ->
                        MemorySegment.copy(src, from * chunk, dst, from * chunk, (to - from) * chunk));
                t[i] = (System.nanoTime() - t0) / 1e9;
            }
            double[] timed = Arrays.copyOfRange(t, 3, t.length);
            Arrays.sort(timed);
            return 2.0 * size / timed[reps / 2] / 1e9;
        }
    }

    static void fill(MemorySegment s, DType dtype) {
        SplittableRandom rnd = new SplittableRandom(1);
        long n = s.byteSize() / (dtype.bits() / 8);
        for (long i = 0; i < n; i++) {
            float v = (float) rnd.nextGaussian();
            switch (dtype) {
                case FP32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
                case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, org.offload4j.core.numerics.Bf16.fromFloat(v));
                default -> s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(v));
            }
        }
    }

    static long gcCount() {
        return ManagementFactory.getGarbageCollectorMXBeans().stream().mapToLong(GarbageCollectorMXBean::getCollectionCount).sum();
    }
}
