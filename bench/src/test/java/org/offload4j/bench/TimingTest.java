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
