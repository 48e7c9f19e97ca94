package org.offload4j.cuda;

import java.lang.ref.Cleaner;

/**
 * Device memory from {@code cuMemAlloc}, freed by {@link #close()}; if a buffer becomes
 * unreachable while still open, a {@link Cleaner} frees it and logs a warning naming its size,
 * since that is a leak in the caller's code. One still open when its device is closed is freed by
 * the device ({@link MemoryRelease}); its {@link #close()} then does nothing.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CudaDevice device;
    private final long address;
    private final long bytes;
    private final Release release;
    private final Cleaner.Cleanable cleanable;

    DeviceBuffer(CudaDevice device, long address, long bytes) {
        this.device = device;
        this.address = address;
        this.bytes = bytes;
        this.release = new Release(device, address, bytes);
        device.track(release);
        this.cleanable = Resources.CLEANER.register(this, release);
    }

    /**
     * The device pointer ({@code CUdeviceptr}).
     *
     * @throws IllegalStateException once the buffer or its device is closed
     */
    public long address() {
        if (release.isClaimed()) {
            throw new IllegalStateException("device buffer of " + bytes + " bytes on " + device + " is closed");
        }
        return address;
    }

    public long bytes() {
        return bytes;
    }

    public CudaDevice device() {
        return device;
    }

    @Override
    public void close() {
        release.markExplicit();
        cleanable.clean();
    }

    private static final class Release extends MemoryRelease {
        private final long address;

        Release(CudaDevice device, long address, long bytes) {
            super(device, bytes);
            this.address = address;
        }

        @Override
        void free() {
            device().makeCurrent();
            device().driver().memFree(address);
        }

        @Override
        String describe() {
            return "a device buffer of " + bytes() + " bytes";
        }
    }
}
