package org.offload4j.cuda;

/**
 * Op calls timed on the GPU's clock with CUDA events: while {@link #time} runs an action on the
 * calling thread, every {@link CudaCall} it makes records an event on its stream when it begins
 * and one when its work is queued ({@link CudaCall#finish()}, before the wait), and the elapsed
 * time between the two is added up. That is the stream's timeline from the call's start to the
 * end of its last copy or kernel: the work itself, plus any time the stream sat idle while the
 * host was still staging, filling parameters or submitting the launch (the start event runs at
 * once on an idle stream). Left out: the facade's argument checks before the call, and the wait
 * and return after it. Work an op does outside a {@link CudaCall} (a {@link CudaDevice#copy} of
 * its own) is not in it.
 *
 * <p>Rejected: queuing several calls between one pair of events to hide the submission time, as
 * kernel benchmarks do. The op calls are synchronous (each waits for its result), so calls cannot
 * be queued back to back from Java.
 */
public final class CudaTimer {
    private static final ThreadLocal<CudaTimer> ACTIVE = new ThreadLocal<>();

    private double millis;
    private int calls;

    private CudaTimer() {}

    /**
     * What one run of an action took.
     *
     * @param deviceNanos the summed device time of its CUDA calls
     * @param calls       how many {@link CudaCall}s it made (0: it did no CUDA work; then
     *                    {@code deviceNanos} is 0 and only the wall time means anything)
     * @param wallNanos   wall-clock time of the whole action
     */
    public record Timed(long deviceNanos, int calls, long wallNanos) {}

    /** Runs {@code action} on this thread and times its CUDA calls (nested use times the outer one only). */
    public static Timed time(Runnable action) {
        if (ACTIVE.get() != null) {
            long t0 = System.nanoTime();
            action.run();
            return new Timed(0, 0, System.nanoTime() - t0);
        }
        CudaTimer timer = new CudaTimer();
        ACTIVE.set(timer);
        long t0 = System.nanoTime();
        try {
            action.run();
        } finally {
            ACTIVE.remove();
        }
        long wall = System.nanoTime() - t0;
        return new Timed(Math.round(timer.millis * 1e6), timer.calls, wall);
    }

    /** The timer of the action running on this thread, or null. */
    static CudaTimer active() {
        return ACTIVE.get();
    }

    void add(float elapsedMillis) {
        millis += elapsedMillis;
        calls++;
    }
}
