package org.offload4j.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.offload4j.core.Floors;

/**
 * The CPU's ceilings: a 256 MiB copy split over the backend's threads (the same pool the
 * kernels use, so the floor is what they could reach), and the Vector API fp32 GEMM of
 * {@link VectorGemmProbe} at 1024³.
 */
final class CpuFloors implements Floors {
    static final long COPY_BYTES = 256L << 20;
    private static final int COPY_WARMUPS = 3;
    private static final int COPY_RUNS = 9;

    @Override
    public double copyBytesPerSecond() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment src = arena.allocate(COPY_BYTES, 64);
            MemorySegment dst = arena.allocate(COPY_BYTES, 64);
            src.fill((byte) 0x5A); // touch every page first: never time page faults or the zero page
            dst.fill((byte) 0x00);
            long chunks = CpuThreads.threads() * 4L;
            long chunk = (COPY_BYTES / chunks) & ~63L;
            CpuThreads.RangeBody copy = (from, to) -> {
                for (long c = from; c < to; c++) {
                    long off = c * chunk;
                    long len = c == chunks - 1 ? COPY_BYTES - off : chunk;
                    MemorySegment.copy(src, off, dst, off, len);
                }
            };
            for (int i = 0; i < COPY_WARMUPS; i++) {
                CpuThreads.forRange(chunks, 1, copy);
            }
            long[] nanos = new long[COPY_RUNS];
            for (int i = 0; i < COPY_RUNS; i++) {
                long t0 = System.nanoTime();
                CpuThreads.forRange(chunks, 1, copy);
                nanos[i] = System.nanoTime() - t0;
            }
            Arrays.sort(nanos);
            return 2.0 * COPY_BYTES / (nanos[COPY_RUNS / 2] * 1e-9);
        }
    }

    @Override
    public double matmulFlopsPerSecond() {
        return VectorGemmProbe.flopsPerSecond();
    }

    @Override
    public String method() {
        return "copy: 256 MiB MemorySegment.copy on " + CpuThreads.threads() + " threads, median of " + COPY_RUNS
                + "; matmul: Vector API fp32 GEMM 1024³ (VectorGemmProbe), median of 7";
    }
}
