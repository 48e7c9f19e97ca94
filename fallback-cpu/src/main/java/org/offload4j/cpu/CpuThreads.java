package org.offload4j.cpu;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.offload4j.core.Settings;
import org.offload4j.core.Tensor;

/**
 * The CPU backend's worker threads and its one parallel loop, {@link #forRange}.
 *
 * <p>Threads default to {@code Runtime.availableProcessors()}; {@value #THREADS_PROPERTY}
 * overrides it (1 gives a single-threaded backend, for measurements). That count includes the
 * calling thread: {@code threads − 1} daemon workers help it, so the pool never keeps a JVM alive.
 *
 * <p><b>Why not a ForkJoinPool.</b> The first version handed each loop to a ForkJoinPool and
 * blocked the caller. Its workers park as soon as they run dry, and waking a parked thread on an
 * idle vCPU took about 400 µs on the development VM: a 0.8 ms W4A16 GEMV got no help from the
 * second thread at all (measured: 2 threads as slow as 1). Here the caller always works on its
 * own loop, so a late helper costs nothing, and a worker that runs dry spins for 2 ms (about
 * the gap between the calls of a decode step; {@value #SPIN_PROPERTY} changes it, 0 parks at
 * once) before it parks, so that back-to-back calls find it awake — the wait policy OpenMP
 * runtimes use.
 *
 * <p>A loop is cut into at most {@code 4 · threads} chunks that threads claim from a shared
 * counter, which balances uneven chunks without per-index overhead. Several Java threads may
 * run loops at once; each caller works on its own loop and the workers help whichever loop has
 * chunks left. A loop inside a loop (a chunk that itself calls {@code forRange}) works the same
 * way, with the chunk's thread as its caller.
 */
public final class CpuThreads {
    public static final String THREADS_PROPERTY = "offload.cpu.threads";

    private static final int THREADS = Settings.integer(THREADS_PROPERTY, Runtime.getRuntime().availableProcessors(), 1, 1 << 16);

    /** Overrides {@link #SPIN_NANOS}: 0 makes workers park at once (passive waiting, no idle CPU use). */
    public static final String SPIN_PROPERTY = "offload.cpu.spin.nanos";

    /** How long a worker looks for new work before it parks (default 2 ms). */
    private static final long SPIN_NANOS = Settings.integer(SPIN_PROPERTY, 2_000_000L, 0L, 60_000_000_000L);

    /**
     * Loops that may still have unclaimed chunks, as an array replaced whole on every change
     * (copy on write). A spinning worker reads it a few million times a second; iterating a
     * {@code ConcurrentLinkedQueue} there allocated an iterator per look (C2 did not remove it),
     * about 17 MB/s of garbage per idle worker, and so young collections that pause every thread.
     */
    private static final AtomicReference<Loop[]> LOOPS = new AtomicReference<>(new Loop[0]);

    private static final Thread[] WORKERS = startWorkers();

    /** Set while {@link #onTensors} runs work on a confined tensor: {@link #forRange} then stays on the caller. */
    private static final ThreadLocal<Boolean> CALLER_ONLY = ThreadLocal.withInitial(() -> Boolean.FALSE);

    /** A thread that is never started: memory it may not access is confined to the calling thread. */
    private static final Thread OTHER_THREAD = new Thread(() -> { }, "offload-cpu-access-probe");

    private CpuThreads() {}

    /** Threads a loop runs on: the caller plus the workers. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs a kernel call that touches {@code tensors}: as is when the workers may access them all,
     * else with every {@link #forRange} inside it on the calling thread. A tensor in a confined
     * arena ({@code Arena.ofConfined()}) may only be touched by its owner thread; a worker touching
     * it would throw {@code WrongThreadException} half-way through the output. Null entries
     * (optional tensors) are skipped.
     */
    public static void onTensors(Runnable call, Tensor... tensors) {
        boolean shareable = true;
        for (Tensor t : tensors) {
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
     * Runs {@code body} over {@code [0, count)} in chunks of at least {@code grain} indices, on
     * the calling thread and the workers; inline when one chunk covers everything. Returns when
     * every chunk is done; the first exception a chunk throws is rethrown here (the chunks not
     * started by then are skipped).
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
        long chunks = Math.min((count + g - 1) / g, THREADS * 4L);
        long chunk = (count + chunks - 1) / chunks;
        Loop loop = new Loop(count, chunk, (count + chunk - 1) / chunk, body);
        publish(loop);
        for (Thread w : WORKERS) {
            LockSupport.unpark(w);
        }
        loop.work();
        withdraw(loop);
        loop.awaitDone();
        loop.rethrow();
    }

    private static void publish(Loop loop) {
        Loop[] before;
        Loop[] after;
        do {
            before = LOOPS.get();
            after = Arrays.copyOf(before, before.length + 1);
            after[before.length] = loop;
        } while (!LOOPS.compareAndSet(before, after));
    }

    private static void withdraw(Loop loop) {
        Loop[] before;
        Loop[] after;
        do {
            before = LOOPS.get();
            after = new Loop[before.length - 1];
            int j = 0;
            for (Loop l : before) {
                if (l != loop) {
                    after[j++] = l;
                }
            }
        } while (!LOOPS.compareAndSet(before, after));
    }

    /** One {@link #forRange} call: its chunks, who has claimed and finished them, its first failure. */
    private static final class Loop {
        private final long count;
        private final long chunk;
        private final long chunks;
        private final RangeBody body;
        private final Thread caller = Thread.currentThread();
        private final AtomicLong claimed = new AtomicLong();
        private final AtomicLong finished = new AtomicLong();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();

        Loop(long count, long chunk, long chunks, RangeBody body) {
            this.count = count;
            this.chunk = chunk;
            this.chunks = chunks;
            this.body = body;
        }

        boolean hasUnclaimed() {
            return claimed.get() < chunks;
        }

        /** Claims and runs chunks until none is left. */
        void work() {
            long c;
            while ((c = claimed.getAndIncrement()) < chunks) {
                try {
                    if (failure.get() == null) {
                        body.run(c * chunk, Math.min(count, (c + 1) * chunk));
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (finished.incrementAndGet() == chunks) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        }

        /** Waits for chunks other threads still run: spins briefly (they are short), then parks. */
        void awaitDone() {
            long start = System.nanoTime();
            while (finished.get() < chunks) {
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(this, 100_000L);
                }
            }
        }

        void rethrow() {
            Throwable t = failure.get();
            if (t instanceof RuntimeException r) {
                throw r;
            } else if (t instanceof Error e) {
                throw e;
            } else if (t != null) {
                throw new IllegalStateException("a parallel chunk failed", t);
            }
        }
    }

    private static Thread[] startWorkers() {
        Thread[] workers = new Thread[THREADS - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(CpuThreads::workerLoop, "offload-cpu-" + i);
            t.setDaemon(true);
            workers[i] = t;
        }
        for (Thread t : workers) {
            t.start();
        }
        return workers;
    }

    /** Helps any loop with chunks left; spins for {@link #SPIN_NANOS} when there is none, then parks. */
    private static void workerLoop() {
        long idleSince = System.nanoTime();
        while (true) {
            Loop loop = null;
            for (Loop l : LOOPS.get()) {
                if (l.hasUnclaimed()) {
                    loop = l;
                    break;
                }
            }
            if (loop != null) {
                loop.work();
                idleSince = System.nanoTime();
            } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(CpuThreads.class);
                idleSince = System.nanoTime();
            }
        }
    }
}
