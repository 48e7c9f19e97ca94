package org.offload4j.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;

/**
 * The CPU backend's worker pool and its one parallel loop, {@link #forRange}.
 *
 * <p>Threads default to {@code Runtime.availableProcessors()}; {@value #THREADS_PROPERTY}
 * overrides it (1 gives a single-threaded backend, for measurements). Worker threads are
 * daemons so that the pool never keeps a JVM alive.
 */
public final class CpuThreads {
    public static final String THREADS_PROPERTY = "offload.cpu.threads";

    private static final int THREADS = Math.max(1, Integer.getInteger(THREADS_PROPERTY,
            Runtime.getRuntime().availableProcessors()));

    /** Numbers the workers: {@code getPoolIndex()} is not assigned yet when the factory runs. */
    private static final java.util.concurrent.atomic.AtomicInteger WORKER_NUMBER = new java.util.concurrent.atomic.AtomicInteger();

    private static final ForkJoinPool POOL = new ForkJoinPool(THREADS, pool -> {
        ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
        t.setName("offload-cpu-" + WORKER_NUMBER.getAndIncrement());
        t.setDaemon(true);
        return t;
    }, null, false);

    private CpuThreads() {}

    public static int threads() {
        return THREADS;
    }

    /** Set while {@link #onTensors} runs work on a confined tensor: {@link #forRange} then stays on the caller. */
    private static final ThreadLocal<Boolean> CALLER_ONLY = ThreadLocal.withInitial(() -> Boolean.FALSE);

    /** A thread that is never started: memory it may not access is confined to the calling thread. */
    private static final Thread OTHER_THREAD = new Thread(() -> { }, "offload-cpu-access-probe");

    /**
     * Runs a kernel call that touches {@code tensors}: as is when the pool's threads may access
     * them all, else with every {@link #forRange} inside it on the calling thread. A tensor in a
     * confined arena ({@code Arena.ofConfined()}) may only be touched by its owner thread; a
     * worker touching it would throw {@code WrongThreadException} half-way through the output.
     * Null entries (optional tensors) are skipped.
     */
    public static void onTensors(Runnable call, org.offload4j.core.Tensor... tensors) {
        boolean shareable = true;
        for (org.offload4j.core.Tensor t : tensors) {
            if (t != null && !t.segment().isAccessibleBy(OTHER_THREAD)) {
                shareable = false;
                break;
            }
        }
        if (shareable || CALLER_ONLY.get()) {
            call.run();
            return;
        }
        CALLER_ONLY.set(Boolean.TRUE);
        try {
            call.run();
        } finally {
            CALLER_ONLY.set(Boolean.FALSE);
        }
    }

    /** Work for a half-open range of indices. */
    @FunctionalInterface
    public interface RangeBody {
        void run(long from, long to);
    }

    /**
     * Runs {@code body} over {@code [0, count)} in chunks of at least {@code grain} indices,
     * spread over the pool; runs inline when one chunk covers everything. Exceptions propagate
     * to the caller.
     */
    public static void forRange(long count, long grain, RangeBody body) {
        if (count <= 0) {
            return;
        }
        long g = Math.max(1, grain);
        if (THREADS == 1 || count <= g || CALLER_ONLY.get()) {
            body.run(0, count);
            return;
        }
        // A few chunks per thread balance uneven rows without paying per-row task overhead.
        long chunks = Math.min((count + g - 1) / g, THREADS * 4L);
        long chunk = (count + chunks - 1) / chunks;
        ForkJoinTask<?> task = new Split(0, count, chunk, body);
        if (ForkJoinTask.inForkJoinPool() && ForkJoinTask.getPool() == POOL) {
            task.invoke();
        } else {
            POOL.invoke(task);
        }
    }

    private static final class Split extends RecursiveAction {
        private final long from;
        private final long to;
        private final long chunk;
        private final RangeBody body;

        Split(long from, long to, long chunk, RangeBody body) {
            this.from = from;
            this.to = to;
            this.chunk = chunk;
            this.body = body;
        }

        @Override
        protected void compute() {
            if (to - from <= chunk) {
                body.run(from, to);
                return;
            }
            long mid = from + ((to - from) / chunk / 2) * chunk;
            if (mid == from) {
                mid = from + chunk;
            }
            invokeAll(new Split(from, mid, chunk, body), new Split(mid, to, chunk, body));
        }
    }
}
