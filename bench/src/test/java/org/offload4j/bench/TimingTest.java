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
        Timing.Measured m = Timing.measure(calls::incrementAndGet, b, () -> true, 0);
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
        }, b, () -> true, 0);
        assertTrue(m.medianNanos() < 100e6, "median " + m.medianNanos());
    }

    /** Warm-up goes on while the JIT is busy, until it is seen idle twice in a row. */
    @Test
    void warmUpWaitsForTheJit() {
        AtomicInteger calls = new AtomicInteger();
        AtomicInteger polls = new AtomicInteger();
        Timing.Budget b = new Timing.Budget(1, 0, 3, 3, 0);
        long t0 = System.nanoTime();
        Timing.measure(() -> {
            calls.incrementAndGet();
            sleep(1);
        }, b, () -> polls.incrementAndGet() > 3, 60_000_000_000L);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(5, polls.get(), "three busy answers, then two idle ones");
        assertTrue(seconds >= 0.2, "at least 50 ms of warm-up runs between polls: " + seconds + " s");
        assertTrue(calls.get() >= 1 + 4 + 3, calls.get() + " calls");
    }

    /** An idle JIT counts only over runs: slow runs get 5 between the two looks, not just 50 ms. */
    @Test
    void idleIsJudgedOverRunsNotJustTime() {
        AtomicInteger calls = new AtomicInteger();
        Timing.Budget b = new Timing.Budget(0, 0, 1, 1, 0);
        Timing.measure(() -> {
            calls.incrementAndGet();
            sleep(20);
        }, b, () -> true, 60_000_000_000L);
        assertEquals(5 + 1, calls.get(), "5 runs between the two idle looks, then the one timed run");
    }

    /** A JIT that never goes quiet delays timing by the cap, no more. */
    @Test
    void warmUpGivesUpOnTheJitAfterTheCap() {
        Timing.Budget b = new Timing.Budget(0, 0, 3, 3, 0);
        long t0 = System.nanoTime();
        Timing.Measured m = Timing.measure(() -> sleep(1), b, () -> false, 300_000_000L);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(3, m.runs());
        assertTrue(seconds >= 0.3 && seconds < 5, seconds + " s");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
