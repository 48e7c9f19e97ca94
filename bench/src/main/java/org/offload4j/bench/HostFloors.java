package org.offload4j.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Measures the host's copy bandwidth: the memory floor of every CPU benchmark.
 *
 * <p>{@code threads} threads each copy their slice of a 256 MiB buffer into another (far larger
 * than any L3, so this is DRAM bandwidth); bytes read plus bytes written over the median time.
 * The same thread count as the backend's is used, because a single thread cannot saturate DRAM
 * on most machines and the floor must be what the backend could reach.
 */
public final class HostFloors {
    private HostFloors() {}

    public static final long COPY_BYTES = 256L << 20;

    /** Read + written bytes per second of a multi-threaded memcpy. */
    public static double copyBandwidth(int threads, Timing.Budget budget) {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "offload-bench-copy");
            t.setDaemon(true);
            return t;
        })) {
            MemorySegment src = arena.allocate(COPY_BYTES, 64);
            MemorySegment dst = arena.allocate(COPY_BYTES, 64);
            src.fill((byte) 0x5A); // touch every page, never time page faults or zero pages
            dst.fill((byte) 0x00);
            long slice = COPY_BYTES / threads & ~63L;
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                long off = i * slice;
                long len = i == threads - 1 ? COPY_BYTES - off : slice;
                tasks.add(() -> {
                    MemorySegment.copy(src, off, dst, off, len);
                    return null;
                });
            }
            Timing.Measured m = Timing.measure(() -> runAll(pool, tasks), budget);
            return 2.0 * COPY_BYTES / (m.medianNanos() * 1e-9);
        }
    }

    private static void runAll(ExecutorService pool, List<Callable<Void>> tasks) {
        try {
            for (Future<Void> f : pool.invokeAll(tasks)) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while measuring copy bandwidth", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("copy-bandwidth measurement failed", e.getCause());
        }
    }
}
