package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TimingTest {
    @Test
    void warmsUpThenTimesAtLeastTheMinimumRuns() {
        AtomicInteger calls = new AtomicInteger();
        Timing.Budget b = new Timing.Budget(3, 0, 5, 7, 0);
        Timing.Measured m = Timing.measure(calls::incrementAndGet, b);
        assertEquals(5, m.runs());
        assertEquals(8, calls.get(), "3 warm-up runs + 5 timed");
        assertTrue(m.medianNanos() >= 0);
    }

    @Test
    void settlingWarmUpRunsWhileTheRunsGetFaster() {
        // 12 slow runs (as before C2 has compiled), then fast ones: the warm-up must reach the fast ones.
        AtomicInteger calls = new AtomicInteger();
        Runnable op = () -> sleep(calls.incrementAndGet() <= 12 ? 20 : 1);
        int windows = Timing.settle(op, 10_000_000_000L);
        assertTrue(calls.get() > 12, "stopped at " + calls.get() + " runs");
        assertTrue(windows >= 6, windows + " windows: at least slow, slow, the drop, then three stable ones");
        AtomicInteger flat = new AtomicInteger();
        int flatWindows = Timing.settle(() -> {
            flat.incrementAndGet();
            sleep(2);
        }, 10_000_000_000L);
        // Flat times: the first window, then three stable ones (more only if the sleeps jitter by > 5 %).
        assertTrue(flatWindows >= 4 && flat.get() == 5 * flatWindows, flatWindows + " windows");
    }

    @Test
    void medianIgnoresAnOutlier() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Timing.Budget b = new Timing.Budget(0, 0, 5, 5, 0);
        Timing.Measured m = Timing.measure(() -> {
            if (calls.incrementAndGet() == 3) {
                sleep(200);
            } else {
                sleep(2);
            }
        }, b);
        assertTrue(m.medianNanos() < 100e6, "median " + m.medianNanos());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
