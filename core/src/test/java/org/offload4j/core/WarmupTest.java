package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WarmupTest {

    /** The minimum calls, a first look, five calls and 50 ms, a second look: done. */
    @Test
    void endsAfterTwoIdleLooksWithCallsBetween() {
        AtomicInteger calls = new AtomicInteger();
        AtomicInteger looks = new AtomicInteger();
        Warmup.Report r = Warmup.run(() -> {
            calls.incrementAndGet();
            sleep(20);
        }, Warmup.MIN_CALLS, 60_000_000_000L, () -> looks.incrementAndGet() > 0);
        assertTrue(r.jitIdle());
        assertEquals(2, looks.get());
        assertEquals(Warmup.MIN_CALLS + 5, calls.get(), "5 calls between the two idle looks");
        assertEquals(calls.get(), r.calls());
        assertTrue(r.elapsedNanos() >= 15 * 20_000_000L, r.elapsedNanos() + " ns");
    }

    /** A busy answer starts the count again: the JIT must be idle twice in a row. */
    @Test
    void aBusyJitKeepsTheWarmUpGoing() {
        AtomicInteger looks = new AtomicInteger();
        int[] answers = {1, 0, 1, 0, 0, 1, 1}; // idle, busy, idle, busy, busy, idle, idle
        Warmup.Report r = Warmup.run(() -> sleep(1), 0, 60_000_000_000L, () -> answers[looks.getAndIncrement()] == 1);
        assertTrue(r.jitIdle());
        assertEquals(answers.length, looks.get());
        assertTrue(r.elapsedNanos() >= 6 * 50_000_000L, "at least 50 ms of calls between looks: " + r.elapsedNanos() + " ns");
    }

    /** Fast calls: the looks are 50 ms apart, not 5 calls apart. */
    @Test
    void looksAreAtLeastFiftyMillisecondsApart() {
        AtomicInteger calls = new AtomicInteger();
        Warmup.Report r = Warmup.run(calls::incrementAndGet, 0, 60_000_000_000L, () -> true);
        assertTrue(r.jitIdle());
        assertTrue(r.elapsedNanos() >= 50_000_000L, r.elapsedNanos() + " ns");
        assertTrue(calls.get() > 5, calls.get() + " calls");
    }

    /** A JIT that never goes quiet ends the warm-up at the budget, reported as not idle. */
    @Test
    void theBudgetCapsTheWait() {
        long t0 = System.nanoTime();
        Warmup.Report r = Warmup.run(() -> sleep(1), 3, 300_000_000L, () -> false);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertFalse(r.jitIdle());
        assertTrue(r.calls() > 3);
        assertTrue(seconds >= 0.3 && seconds < 5, seconds + " s");
    }

    /** The minimum calls run even with no budget; the JIT is then not asked. */
    @Test
    void noBudgetRunsTheMinimumOnly() {
        AtomicInteger calls = new AtomicInteger();
        Warmup.Report r = Warmup.run(calls::incrementAndGet, 4, 0, () -> {
            throw new AssertionError("the JIT was asked");
        });
        assertEquals(4, calls.get());
        assertFalse(r.jitIdle());
    }

    @Test
    void exceptionsFromTheCallReachTheCaller() {
        IllegalStateException boom = new IllegalStateException("boom");
        assertSame(boom, assertThrows(IllegalStateException.class, () -> Warmup.run(() -> {
            throw boom;
        }, Duration.ofSeconds(1))));
    }

    @Test
    void rejectsBadArguments() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Warmup.run(null, Duration.ofSeconds(1)))
                .getMessage().contains("call must not be null"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Warmup.run(() -> { }, null))
                .getMessage().contains("budget must not be null"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Warmup.run(() -> { }, Duration.ZERO))
                .getMessage().contains("budget = PT0S must be positive"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Warmup.run(() -> { }, Duration.ofMillis(-1)))
                .getMessage().contains("must be positive"));
    }

    /** On this JVM's own JIT: a trivial call settles well within the budget (or at worst, ends at it). */
    @Test
    void warmsUpOnThisJvmsJit() {
        AtomicInteger calls = new AtomicInteger();
        long t0 = System.nanoTime();
        Warmup.Report r = Warmup.run(calls::incrementAndGet, Duration.ofSeconds(20));
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(r.calls() >= Warmup.MIN_CALLS);
        assertEquals(calls.get(), r.calls());
        assertTrue(seconds < 25, seconds + " s");
    }

    @Test
    void theCompilerQueueTextIsRead() {
        assertTrue(JitWatch.queueIsEmpty("Current compiles: \n\nC1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n\n"));
        assertFalse(JitWatch.queueIsEmpty("Current compiles: \nC2 CompilerThread0  1852       4       a.B::c (103 bytes)\n\n"
                + "C1 compile queue:\nEmpty\n\nC2 compile queue:\nEmpty\n"), "a compile running");
        assertFalse(JitWatch.queueIsEmpty("Current compiles: \n\nC1 compile queue:\n1895       2       a.B::equal (23 bytes)\n\n"
                + "C2 compile queue:\nEmpty\n"), "a compile queued");
        // This JVM's own queue reads as something the parser understands (idle or not, no exception).
        JitWatch.system().idle();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
