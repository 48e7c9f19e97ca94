package org.offload4j.cuda;

/**
 * A CUDA event for timing ({@link #elapsedMillis}) or ordering work between streams. Timing
 * with events measures the device's own clock between two points of a stream, without the
 * host's launch overhead: the way the benchmarks time kernels.
 */
public final class CudaEvent implements AutoCloseable {
    private final CudaDevice device;
    private final long handle;
    private volatile boolean closed;

    CudaEvent(CudaDevice device, long handle) {
        this.device = device;
        this.handle = handle;
    }

    long handle() {
        if (closed) {
            throw new IllegalStateException("event on " + device + " is closed");
        }
        return handle;
    }

    /** Records the event at the current end of {@code stream}. */
    public void record(CudaStream stream) {
        device.makeCurrent();
        device.driver().eventRecord(handle(), stream.handle());
    }

    public void synchronize() {
        device.makeCurrent();
        device.driver().eventSynchronize(handle());
    }

    /** Milliseconds of device time from {@code start} to this event; both recorded and completed. */
    public float elapsedMillis(CudaEvent start) {
        device.makeCurrent();
        return device.driver().eventElapsedTime(start.handle(), handle());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        device.driver().eventDestroy(handle);
    }
}
