package org.offload4j.core;

import java.time.Duration;

/**
 * Runs a call until the JIT has compiled what it runs, so that an application serves (or times)
 * compiled kernels from its first real request.
 *
 * <p><b>Why.</b> The CPU backend's kernels are Vector API code. Until C2 has compiled them they
 * run as interpreted or C1 code, in which every vector is a Java object: 100–500× slower
 * (measured on the bench's cases), and some kernels need seconds of calls before C2 is done (FP8
 * decode attention took more than 1.5 s of calls in a fresh JVM). A fixed number of calls or a
 * fixed time is either too little or wasted: the compiler threads get less CPU on a busy machine,
 * and a short call reaches C2's thresholds sooner than a long one. So the warm-up runs the call
 * until the JIT has been seen idle ({@link JitWatch}) twice in a row with calls in between:
 * at least {@value #POLL_RUNS} calls and {@value #POLL_MILLIS} ms apart, or
 * {@value #POLL_MAX_MILLIS} ms apart for slow calls (a method still in C1 code needs calls to
 * reach C2's thresholds, so an idle JIT over too few calls proves nothing).
 *
 * <p>Warm up on the sizes that will be served: the kernels choose their code path by shape (a
 * GEMV for one row, a blocked GEMM for many; Hadamard plans by row length and dtype), and each
 * path is compiled when it runs. For example:
 * <pre>{@code
 * Warmup.Report r = Warmup.run(() -> op.matmul(x, prepared, null, y), Duration.ofSeconds(30));
 * if (!r.jitIdle()) log.warning("still compiling after " + r);
 * }</pre>
 * The benchmark ({@code offload bench}) waits the same way before it times a case.
 */
public final class Warmup {
    private Warmup() {}

    /** Calls made before the JIT is first asked. */
    static final int MIN_CALLS = 10;

    // The JIT is asked at most every POLL_MILLIS and POLL_RUNS calls, or every POLL_MAX_MILLIS
    // whatever the calls (for calls slower than 10 ms).
    static final long POLL_MILLIS = 50;
    static final int POLL_RUNS = 5;
    static final long POLL_MAX_MILLIS = 1_000;

    /**
     * What a warm-up did.
     *
     * @param calls        how many times it ran the call
     * @param elapsedNanos how long it took
     * @param jitIdle      whether it ended because the JIT was idle twice in a row; false when the
     *                     budget ran out first (the call may still run partly uncompiled)
     */
    public record Report(long calls, long elapsedNanos, boolean jitIdle) {}

    /**
     * Runs {@code call} {@value #MIN_CALLS} times, then until this JVM's JIT has been seen idle
     * twice in a row (see the class description), or until {@code budget} has passed since the
     * start, whichever comes first. Exceptions from {@code call} reach the caller.
     *
     * @param call   the work to warm up, on the sizes that will be served
     * @param budget the longest the warm-up may take, counted from its start (it takes longer only
     *               when its first {@value #MIN_CALLS} calls, which always run, take longer, or by
     *               the call in progress when the budget runs out), positive
     */
    public static Report run(Runnable call, Duration budget) {
        Args.notNull(call, "call");
        Args.notNull(budget, "budget");
        if (budget.isNegative() || budget.isZero()) {
            throw new IllegalArgumentException("budget = " + budget + " must be positive");
        }
        long nanos;
        try {
            nanos = budget.toNanos();
        } catch (ArithmeticException e) {
            nanos = Long.MAX_VALUE;
        }
        return run(call, MIN_CALLS, nanos, JitWatch.system());
    }

    /**
     * {@link #run(Runnable, Duration)} with {@code minCalls} calls before the first look at the JIT,
     * the JIT seen through {@code jit}, and a budget in nanoseconds counted from the start,
     * minimum calls included (0: the minimum calls only).
     */
    public static Report run(Runnable call, int minCalls, long budgetNanos, JitWatch jit) {
        Args.notNull(call, "call");
        Args.notNull(jit, "jit");
        if (minCalls < 0 || budgetNanos < 0) {
            throw new IllegalArgumentException("minCalls = " + minCalls + " and budgetNanos = " + budgetNanos + " must be ≥ 0");
        }
        long start = System.nanoTime();
        long calls = 0;
        for (; calls < minCalls; calls++) {
            call.run();
        }
        long lastPoll = 0;
        boolean polled = false;
        int callsSincePoll = 0;
        int quiet = 0;
        while (System.nanoTime() - start < budgetNanos) {
            long now = System.nanoTime();
            long sincePoll = now - lastPoll;
            if (!polled || (sincePoll >= POLL_MILLIS * 1_000_000L && callsSincePoll >= POLL_RUNS)
                    || sincePoll >= POLL_MAX_MILLIS * 1_000_000L) {
                polled = true;
                lastPoll = now;
                callsSincePoll = 0;
                quiet = jit.idle() ? quiet + 1 : 0;
                if (quiet == 2) {
                    return new Report(calls, System.nanoTime() - start, true);
                }
            }
            call.run();
            calls++;
            callsSincePoll++;
        }
        return new Report(calls, System.nanoTime() - start, false);
    }
}
