package org.offload4j.bench;

import java.util.Arrays;

/**
 * Wall-clock timing of a host-synchronous op: warm-up until both a minimum count and a minimum
 * time are reached (so the JIT has compiled the kernels), then timed runs until a time budget or
 * a run cap is met; the median is reported because it ignores the odd run disturbed by the OS.
 */
public final class Timing {
    private Timing() {}

    /**
     * Timing budget of one case. After the minimum warm-up, warm-up goes on until the runs stop
     * getting faster ({@link #settle}), for at most {@code settleNanos} more: on a loaded machine
     * C2 may still be compiling the kernels when the minimum is reached, and the first case of a
     * run was then timed partly in slower code (measured: a W4A16 GEMV 4× slower as the first case
     * than as the second, 2026-12-04).
     */
    public record Budget(int minWarmupRuns, long warmupNanos, int minRuns, int maxRuns, long measureNanos,
                         long settleNanos) {
        /** Enough warm-up for C2 to compile the vector kernels (about half a second of runs); measured on 2 cores. */
        public static final Budget QUICK = new Budget(10, 700_000_000L, 7, 60, 500_000_000L, 3_000_000_000L);
        public static final Budget FULL = new Budget(20, 1_500_000_000L, 15, 300, 2_000_000_000L, 5_000_000_000L);

        /** Without the settling warm-up. */
        public Budget(int minWarmupRuns, long warmupNanos, int minRuns, int maxRuns, long measureNanos) {
            this(minWarmupRuns, warmupNanos, minRuns, maxRuns, measureNanos, 0);
        }
    }

    /** Warm-up runs compared at a time while settling. */
    static final int SETTLE_WINDOW = 5;
    /** Relative speed-up over the fastest window so far that counts as "still getting faster". */
    static final double SETTLE_GAIN = 0.05;
    /** Windows in a row without such a speed-up that end the warm-up. */
    static final int SETTLE_STABLE = 3;

    /** Result of timing: median and count. */
    public record Measured(double medianNanos, int runs) {}

    public static Measured measure(Runnable op, Budget budget) {
        long start = System.nanoTime();
        for (int i = 0; i < budget.minWarmupRuns() || System.nanoTime() - start < budget.warmupNanos(); i++) {
            op.run();
        }
        if (budget.settleNanos() > 0) {
            settle(op, budget.settleNanos());
        }
        long[] samples = new long[budget.maxRuns()];
        int n = 0;
        long measureStart = System.nanoTime();
        while (n < budget.maxRuns() && (n < budget.minRuns() || System.nanoTime() - measureStart < budget.measureNanos())) {
            long t0 = System.nanoTime();
            op.run();
            samples[n++] = System.nanoTime() - t0;
        }
        long[] s = Arrays.copyOf(samples, n);
        Arrays.sort(s);
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
        return new Measured(median, n);
    }

    /**
     * Warms up until {@link #SETTLE_STABLE} windows in a row have not beaten the fastest window so
     * far by {@link #SETTLE_GAIN} (a plateau of slow runs before C2's code arrives does not end it
     * early), or {@code maxNanos} have passed; returns the windows run.
     */
    static int settle(Runnable op, long maxNanos) {
        long start = System.nanoTime();
        long best = Long.MAX_VALUE;
        int stable = 0;
        int windows = 0;
        long[] w = new long[SETTLE_WINDOW];
        while (stable < SETTLE_STABLE && System.nanoTime() - start < maxNanos) {
            for (int i = 0; i < SETTLE_WINDOW; i++) {
                long t0 = System.nanoTime();
                op.run();
                w[i] = System.nanoTime() - t0;
            }
            Arrays.sort(w);
            windows++;
            long median = w[SETTLE_WINDOW / 2];
            if (median < (1 - SETTLE_GAIN) * best) {
                stable = 0;
            } else {
                stable++;
            }
            best = Math.min(best, median);
        }
        return windows;
    }
}
