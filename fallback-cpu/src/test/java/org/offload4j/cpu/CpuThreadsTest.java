package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CpuThreadsTest {

    @Test
    void everyIndexRunsExactlyOnceForAwkwardCountsAndGrains() {
        for (long count : new long[] {1, 2, 7, 17, 129, 1000, 4098}) {
            for (long grain : new long[] {1, 3, 64, 5000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray((int) count);
                CpuThreads.forRange(count, grain, (from, to) -> {
                    for (long i = from; i < to; i++) {
                        hits.incrementAndGet((int) i);
                    }
                });
                for (int i = 0; i < count; i++) {
                    assertEquals(1, hits.get(i), "index " + i + " of " + count + " (grain " + grain + ")");
                }
            }
        }
    }

    @Test
    void theFirstFailureOfAChunkReachesTheCaller() {
        IllegalStateException boom = new IllegalStateException("boom");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> CpuThreads.forRange(64, 1, (from, to) -> {
            if (from <= 40 && 40 < to) {
                throw boom;
            }
        }));
        assertSame(boom, thrown);
        AtomicLong after = new AtomicLong();
        CpuThreads.forRange(64, 1, (from, to) -> after.addAndGet(to - from));
        assertEquals(64, after.get(), "the pool keeps working after a failure");
    }

    @Test
    void nestedLoopsAndConcurrentCallersComplete() throws Exception {
        List<Thread> callers = new ArrayList<>();
        AtomicLong total = new AtomicLong();
        for (int c = 0; c < 4; c++) {
            Thread t = new Thread(() -> {
                for (int rep = 0; rep < 20; rep++) {
                    CpuThreads.forRange(8, 1, (from, to) -> {
                        for (long i = from; i < to; i++) {
                            CpuThreads.forRange(100, 10, (a, b) -> total.addAndGet(b - a));
                        }
                    });
                }
            });
            callers.add(t);
            t.start();
        }
        for (Thread t : callers) {
            t.join(60_000);
        }
        assertEquals(4L * 20 * 8 * 100, total.get());
    }

    /**
     * A worker that helps with loops and spins between them allocates nothing: garbage made while
     * spinning (it once allocated an iterator per look for work, megabytes a second) brings young
     * collections that pause every thread.
     */
    @Test
    void workersAllocateNothingWhileHelpingAndSpinning() throws Exception {
        assumeTrue(CpuThreads.threads() > 1, "no worker threads with one thread");
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assumeTrue(mx.isThreadAllocatedMemorySupported() && mx.isThreadAllocatedMemoryEnabled(), "no per-thread allocation counts");
        AtomicLong sum = new AtomicLong();
        CpuThreads.RangeBody body = (from, to) -> sum.addAndGet(to - from);
        CpuThreads.forRange(1 << 16, 1, body); // the workers exist and have run once
        List<Thread> workers = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("offload-cpu-")).toList();
        assertEquals(CpuThreads.threads() - 1, workers.size(), "worker threads");
        long[] before = workers.stream().mapToLong(t -> mx.getThreadAllocatedBytes(t.threadId())).toArray();
        long calls = 0;
        long start = System.nanoTime();
        while (System.nanoTime() - start < 300_000_000L) { // loops 0.2 ms apart: the workers spin between them
            CpuThreads.forRange(1 << 16, 1, body);
            calls++;
            long pause = System.nanoTime();
            while (System.nanoTime() - pause < 200_000L) {
                Thread.onSpinWait();
            }
        }
        assertEquals(calls * (1 << 16) + (1 << 16), sum.get(), "every index ran");
        for (int i = 0; i < workers.size(); i++) {
            long allocated = mx.getThreadAllocatedBytes(workers.get(i).threadId()) - before[i];
            assertTrue(allocated < 4096, workers.get(i).getName() + " allocated " + allocated + " bytes over " + calls
                    + " loops and the spinning between them");
        }
    }
}
