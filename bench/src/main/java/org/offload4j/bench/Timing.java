package org.offload4j.bench;

import java.util.Arrays;

/**
 * Wall-clock timing of a host-synchronous op: warm-up until both a minimum count and a minimum
 * time are reached (so the JIT has compiled the kernels), then timed runs until a time budget or
 * a run cap is met; the median is reported because it ignores the odd run disturbed by the OS.
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

    public static Measured measure(Runnable op, Budget budget) {
        long start = System.nanoTime();
        for (int i = 0; i < budget.minWarmupRuns() || System.nanoTime() - start < budget.warmupNanos(); i++) {
            op.run();
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
}
