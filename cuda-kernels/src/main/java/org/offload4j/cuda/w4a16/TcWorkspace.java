package org.offload4j.cuda.w4a16;

import java.util.concurrent.locks.ReentrantLock;
import org.offload4j.cuda.CudaCall;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.DeviceBuffer;

/**
 * The SplitK workspace of the tensor-core W4A16 kernels: fp32 partials (uninitialised) and int32
 * counters, which must be zero before a launch. The counters are zeroed with a memset when they are
 * allocated (on the call's stream, before the launch that uses them); every launch that completes
 * leaves them zero again, so later launches need no memset. Both grow on demand, to the largest
 * launch seen, and are never shrunk.
 *
 * <p>One workspace serves one launch at a time: a caller holds {@link #lock()} from the first
 * address it asks for until its {@link CudaCall} has finished (the stream is idle), so concurrent
 * calls on one weight queue here rather than share partials or counters. A call that fails
 * ({@link #markDirty()}) may have left counters non-zero (a kernel that did not complete); the next
 * user zeroes them again.
 */
public final class TcWorkspace implements AutoCloseable {
    private final CudaDevice device;
    private final ReentrantLock lock = new ReentrantLock();
    private DeviceBuffer partials;
    private DeviceBuffer counters;
    private boolean dirty;
    private boolean closed;

    public TcWorkspace(CudaDevice device) {
        this.device = device;
    }

    public void lock() {
        lock.lock();
    }

    public void unlock() {
        lock.unlock();
    }

    /** Device address of at least {@code bytes} of partials, 0 when {@code bytes == 0}. Caller holds the lock. */
    public long partials(long bytes) {
        checkHeld();
        if (bytes == 0) {
            return 0;
        }
        if (partials == null || partials.bytes() < bytes) {
            if (partials != null) {
                partials.close();
                partials = null;
            }
            partials = device.allocate(bytes);
        }
        return partials.address();
    }

    /**
     * Device address of at least {@code count} zero int32 counters, 0 when {@code count == 0}; a new
     * or dirty buffer is zeroed on {@code call}'s stream first. Caller holds the lock.
     */
    public long counters(CudaCall call, long count) {
        checkHeld();
        if (count == 0) {
            return 0;
        }
        if (counters == null || counters.bytes() < 4 * count) {
            if (counters != null) {
                counters.close();
                counters = null;
            }
            counters = device.allocate(4 * count);
            dirty = true;
        }
        if (dirty) {
            call.stream().fill32(counters.address(), 0, counters.bytes() / 4);
            dirty = false;
        }
        return counters.address();
    }

    /** After a failed call: the counters may not be zero; the next {@link #counters} zeroes them. */
    public void markDirty() {
        dirty = true;
    }

    /** Bytes held on the device now. */
    public long bytes() {
        return (partials == null ? 0 : partials.bytes()) + (counters == null ? 0 : counters.bytes());
    }

    private void checkHeld() {
        if (!lock.isHeldByCurrentThread()) {
            throw new IllegalStateException("the workspace is used without holding its lock");
        }
        if (closed) {
            throw new IllegalStateException("the workspace is closed");
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (partials != null) {
                partials.close();
            }
            if (counters != null) {
                counters.close();
            }
        } finally {
            lock.unlock();
        }
    }
}
