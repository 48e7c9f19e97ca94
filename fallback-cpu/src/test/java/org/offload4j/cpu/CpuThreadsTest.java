package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
}
