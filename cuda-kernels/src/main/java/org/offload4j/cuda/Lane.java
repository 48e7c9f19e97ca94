package org.offload4j.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;
import org.offload4j.cuda.driver.KernelParams;

/**
 * What one op call needs and reuses from call to call: a stream, a kernel parameter buffer,
 * device scratch slots (one per staged tensor or workspace, grown on demand, never shrunk) and a
 * pinned host staging area for small uploads. A lane belongs to one thread from
 * {@link CudaDevice#acquireLane()} to {@link CudaDevice#releaseLane}; in steady state an op call
 * allocates nothing.
 */
final class Lane implements AutoCloseable {
    private static final int MAX_KERNEL_ARGS = 40;
    private static final long MIN_PINNED = 64 * 1024;

    private final CudaDevice device;
    private final CudaStream stream;
    private final KernelParams params;
    private final List<DeviceBuffer> slots = new ArrayList<>();
    private PinnedBuffer pinned;
    private long pinnedUsed;
    /** Events for {@link CudaTimer}, made at the first timed call on this lane. */
    private CudaEvent timingStart;
    private CudaEvent timingStop;

    Lane(CudaDevice device) {
        this.device = device;
        this.stream = device.createStream();
        try {
            this.params = device.driver().newKernelParams(MAX_KERNEL_ARGS);
        } catch (RuntimeException | Error e) {
            // No one else holds the stream yet: a lane that is not made must not leak it.
            try {
                stream.close();
            } catch (RuntimeException closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw e;
        }
    }

    CudaStream stream() {
        return stream;
    }

    CudaEvent timingStart() {
        if (timingStart == null) {
            timingStart = device.createEvent();
        }
        return timingStart;
    }

    CudaEvent timingStop() {
        if (timingStop == null) {
            timingStop = device.createEvent();
        }
        return timingStop;
    }

    KernelParams params() {
        return params.clear();
    }

    /** The parameter buffer as filled since the last {@link #params()}. */
    KernelParams currentParams() {
        return params;
    }

    /**
     * Device memory of at least {@code bytes} in slot {@code slot}. The previous user of the slot
     * (an earlier call) has finished: every call synchronizes its stream before releasing the lane.
     */
    long slot(int slot, long bytes) {
        while (slots.size() <= slot) {
            slots.add(null);
        }
        DeviceBuffer b = slots.get(slot);
        if (b == null || b.bytes() < bytes) {
            long grown = Math.max(bytes, b == null ? 0 : b.bytes() + b.bytes() / 2);
            if (b != null) {
                b.close();
                slots.set(slot, null); // an allocation that fails below must not leave the freed buffer in the slot
            }
            // Grow by half again so that slowly rising sizes do not reallocate every call; where
            // that much does not fit but the request does, take the request.
            try {
                b = device.allocate(grown);
            } catch (CudaOutOfMemoryException e) {
                if (grown == bytes) {
                    throw e;
                }
                b = device.allocate(bytes);
            }
            slots.set(slot, b);
        }
        return b.address();
    }

    /**
     * {@code bytes} of pinned host memory for this call's uploads. Growing waits for the stream
     * first, since queued copies may still read the old area.
     */
    MemorySegment pinned(long bytes) {
        long aligned = (bytes + 255) & ~255L;
        if (pinned == null || pinnedUsed + aligned > pinned.segment().byteSize()) {
            stream.synchronize();
            long size = Math.max(MIN_PINNED, 2 * (pinnedUsed + aligned));
            if (pinned != null) {
                pinned.close();
                pinned = null; // an allocation that fails below must not leave the freed area here
            }
            pinnedUsed = 0;
            pinned = device.allocatePinned(size);
        }
        MemorySegment s = pinned.segment().asSlice(pinnedUsed, bytes);
        pinnedUsed += aligned;
        return s;
    }

    /** Forgets this call's pinned uploads; the stream has been synchronized. */
    void reset() {
        pinnedUsed = 0;
    }

    /** Destroys the stream and frees the slots and the pinned area, each attempted whatever failed before. */
    @Override
    public void close() {
        RuntimeException failure = CudaDevice.attempt(null, stream::close);
        for (DeviceBuffer b : slots) {
            if (b != null) {
                failure = CudaDevice.attempt(failure, b::close);
            }
        }
        if (pinned != null) {
            failure = CudaDevice.attempt(failure, pinned::close);
        }
        for (CudaEvent e : new CudaEvent[] {timingStart, timingStop}) {
            if (e != null) {
                failure = CudaDevice.attempt(failure, e::close);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
