package org.offload4j.bench;

import java.util.Arrays;
import org.offload4j.core.JitWatch;
import org.offload4j.core.Warmup;

/**
 * Timing of a host-synchronous op (wall clock, or a backend's own {@link Clock}: CUDA events): warm-up until both a minimum count and a minimum
 * time are reached and the JIT has gone quiet ({@link Warmup}, {@link JitWatch}), then timed runs until a time
 * budget or a run cap is met; the median is reported because it ignores the odd run disturbed by
 * the OS.
 *
 * <p><b>Why wait for the JIT.</b> A fixed warm-up is wall time, and on a loaded machine the
 * compiler threads get less of it: with two other busy processes on a 2-vCPU VM (Zen 4), the
 * Hadamard case d = 256, 4096 bf16 elements timed 92–220 µs in 4 of 6 fresh JVMs on one thread
 * and 4 of 6 on two (1.1–2.1 µs in the others, and without the load); its kernels were most
 * likely still running as C1 code, in which every Vector API vector is a Java object. With the
 * warm-up going on until no compile is queued or running: 1.04–1.25 µs in 6 of 6 (6 of 6 at
 * 208–645 µs before, same load, interleaved), for 0.7–1 s more per fresh JVM. The wait is capped
 * at {@link #MAX_JIT_WAIT_NANOS}.
 */
public final class Timing {
    private Timing() {}

    /** Timing budget of one case. */
    public record Budget(int minWarmupRuns, long warmupNanos, int minRuns, int maxRuns, long measureNanos) {
        /**
         * Enough warm-up for C2 to compile the vector kernels. 0.7 s was not, for the first case
         * that takes a code path (AVX-512 EPYC, quiet, -Xbatch): W4A16 m = 1 at 4096² timed 563 µs
         * first and 461–465 µs when repeated in the same run; with 1.5 s the three repeats were
         * within 3 %.
         */
        public static final Budget QUICK = new Budget(10, 1_500_000_000L, 7, 60, 500_000_000L);
        public static final Budget FULL = new Budget(20, 1_500_000_000L, 15, 300, 2_000_000_000L);
    }

    /** Result of timing: median and count. */
    public record Measured(double medianNanos, int runs) {}

    /** How one timed run is measured: the nanoseconds {@code op} took. */
    @FunctionalInterface
    public interface Clock {
        long nanos(Runnable op);
    }

    /** Wall-clock time of the whole call, as its caller sees it. */
    public static final Clock WALL = op -> {
        long t0 = System.nanoTime();
        op.run();
        return System.nanoTime() - t0;
    };

    public static Measured measure(Runnable op, Budget budget) {
        return measure(op, budget, WALL);
    }

    /** {@link #measure(Runnable, Budget)} with each timed run measured by {@code clock}. */
    public static Measured measure(Runnable op, Budget budget, Clock clock) {
        return measure(op, budget, JitWatch.system(), MAX_JIT_WAIT_NANOS, clock);
    }

    /** The longest the warm-up waits for the JIT beyond the budget's warm-up; then timing starts anyway. */
    static final long MAX_JIT_WAIT_NANOS = 30_000_000_000L;

    /** {@link #measure(Runnable, Budget)} with the JIT observed through {@code jit}, waiting for it at most {@code maxJitWaitNanos}. */
    static Measured measure(Runnable op, Budget budget, JitWatch jit, long maxJitWaitNanos) {
        return measure(op, budget, jit, maxJitWaitNanos, WALL);
    }

    static Measured measure(Runnable op, Budget budget, JitWatch jit, long maxJitWaitNanos, Clock clock) {
        long start = System.nanoTime();
        for (int i = 0; i < budget.minWarmupRuns() || System.nanoTime() - start < budget.warmupNanos(); i++) {
            op.run();
        }
        // Then until the JIT has been seen idle twice in a row, with runs between (a compile that ends
        // may queue the next, a deoptimized method's recompile; and a method still in C1 code needs
        // calls to reach C2's thresholds: an idle JIT over too few runs proves nothing).
        Warmup.run(op, 0, maxJitWaitNanos, jit);
        long[] samples = new long[budget.maxRuns()];
        int n = 0;
        long measureStart = System.nanoTime();
        while (n < budget.maxRuns() && (n < budget.minRuns() || System.nanoTime() - measureStart < budget.measureNanos())) {
            samples[n++] = clock.nanos(op);
        }
        long[] s = Arrays.copyOf(samples, n);
        Arrays.sort(s);
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
        return new Measured(median, n);
    }
}
