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
 * input against the copy bandwidth measured in the same JVM, each rep timing one copy of 256 MiB
 * and one transform back to back. Bytes counted: each input element read once and each output
 * element written once (4 bytes per bf16 element); for the copy, 256 MiB read plus 256 MiB
 * written. Run with
 * {@code java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp … org.offload4j.cpu.HadamardBench [dtype] [reps] [d…]}.
 */
public final class HadamardBench {
    public static void main(String[] args) {
        DType dtype = args.length > 0 ? DType.parse(args[0]) : DType.BF16;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 15;
        int[] ds = args.length > 2 ? Arrays.stream(args, 2, args.length).mapToInt(Integer::parseInt).toArray()
                : new int[] {128, 1024, 4096, 16384, 32768};
        long elements = 1L << 25;
        long copyBytes = 256L << 20;
        Hadamard h = Hadamard.create(new CpuBackendProvider().create());
        System.out.println(h.backend().description() + "; " + dtype + ", 2^25 elements, out of place; copy of 256 MiB; "
                + reps + " interleaved reps after warm-up");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment inSeg = arena.allocate(dtype.byteSize(elements), 64);
            MemorySegment outSeg = arena.allocate(dtype.byteSize(elements), 64);
            MemorySegment copySrc = arena.allocate(copyBytes, 64);
            MemorySegment copyDst = arena.allocate(copyBytes, 64);
            fill(inSeg, dtype);
            outSeg.fill((byte) 1);
            copySrc.fill((byte) 3);
            copyDst.fill((byte) 4);
            for (int d : ds) {
                Tensor in = Tensor.wrap(inSeg, dtype, new long[] {elements / d, d});
                Tensor out = Tensor.wrap(outSeg, dtype, new long[] {elements / d, d});
                for (int i = 0; i < 5; i++) {
                    h.transform(in, out);
                    copy(copySrc, copyDst);
                }
                long gc0 = gcCount();
                double[] tHad = new double[reps];
                double[] tCopy = new double[reps];
                double[] ratio = new double[reps];
                double bytes = 2.0 * dtype.byteSize(elements);
                for (int i = 0; i < reps; i++) {
                    // Copy and transform back to back, so that both see the same load from other processes.
                    long t0 = System.nanoTime();
                    copy(copySrc, copyDst);
                    long t1 = System.nanoTime();
                    h.transform(in, out);
                    long t2 = System.nanoTime();
                    tCopy[i] = (t1 - t0) / 1e9;
                    tHad[i] = (t2 - t1) / 1e9;
                    ratio[i] = (bytes / tHad[i]) / (2.0 * copyBytes / tCopy[i]);
                }
                Arrays.sort(tHad);
                Arrays.sort(tCopy);
                Arrays.sort(ratio);
                double gbs = bytes / tHad[reps / 2] / 1e9;
                double copyGbs = 2.0 * copyBytes / tCopy[reps / 2] / 1e9;
                System.out.printf(Locale.ROOT, "%s d=%-6d median %7.2f ms  %6.1f GB/s | copy %6.1f GB/s | ratio median %5.1f %% (of medians %5.1f %%; best times %5.1f GB/s vs %5.1f GB/s = %5.1f %%)  GCs %d%n",
                        dtype, d, tHad[reps / 2] * 1e3, gbs, copyGbs, 100 * ratio[reps / 2], 100 * gbs / copyGbs,
                        bytes / tHad[0] / 1e9, 2.0 * copyBytes / tCopy[0] / 1e9, 100 * (bytes / tHad[0]) / (2.0 * copyBytes / tCopy[0]),
                        gcCount() - gc0);
            }
        }
    }

    /** 256 MiB copied in 1 MiB pieces spread over the backend's threads. */
    static void copy(MemorySegment src, MemorySegment dst) {
        long chunk = 1 << 20;
        CpuThreads.forRange(src.byteSize() / chunk, 1, (from, to) ->
                MemorySegment.copy(src, from * chunk, dst, from * chunk, (to - from) * chunk));
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
