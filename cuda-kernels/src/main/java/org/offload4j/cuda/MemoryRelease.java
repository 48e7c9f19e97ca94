package org.offload4j.cuda;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Frees one buffer of a device's memory ({@link DeviceBuffer}, {@link PinnedBuffer}) at most once:
 * at the buffer's {@code close()}, by the {@link Resources#CLEANER} once the buffer became
 * unreachable open, or at the device's {@link CudaDevice#close()}, whichever comes first; the later
 * ones do nothing. A free after the device's close could free an address that a reopened device
 * (given the same primary context back) has handed to another allocation. Holds no reference to
 * its buffer, so the buffer can become unreachable while the device keeps its release.
 */
abstract class MemoryRelease implements Runnable {
    private final CudaDevice device;
    private final long bytes;
    private final AtomicBoolean claimed = new AtomicBoolean();
    private volatile boolean explicit;

    MemoryRelease(CudaDevice device, long bytes) {
        this.device = device;
        this.bytes = bytes;
    }

    /** Frees the memory through the driver; called at most once, before the device's context is released. */
    abstract void free();

    /** The memory as a leak warning names it, e.g. "a device buffer of 64 bytes". */
    abstract String describe();

    CudaDevice device() {
        return device;
    }

    long bytes() {
        return bytes;
    }

    /** The buffer's own close() runs this release: no leak warning. */
    void markExplicit() {
        explicit = true;
    }

    /** Whether the memory is freed, or being freed: its buffer is closed. */
    boolean isClaimed() {
        return claimed.get();
    }

    /**
     * Makes the caller the one that frees the memory, and the device forget it: true for the first
     * caller only.
     */
    boolean claim() {
        if (!claimed.compareAndSet(false, true)) {
            return false;
        }
        device.forget(this);
        return true;
    }

    /** The buffer's close() or its Cleaner: frees the memory unless the device's close() has. */
    @Override
    public final void run() {
        device.excludingClose(() -> {
            if (!claim()) {
                return;
            }
            if (!explicit) {
                Resources.warnLeak(describe());
            }
            free();
        });
    }
}
