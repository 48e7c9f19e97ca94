package org.offload4j.cuda;

import java.lang.ref.Cleaner;
import org.offload4j.cuda.driver.CudaDriver;

/**
 * Device memory from {@code cuMemAlloc}, freed by {@link #close()}; if a buffer becomes
 * unreachable while still open, a {@link Cleaner} frees it and logs a warning naming its size,
 * since that is a leak in the caller's code.
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
        this.release = new Release(device.driver(), device.context(), address, bytes);
        this.cleanable = Resources.CLEANER.register(this, release);
    }

    /** The device pointer ({@code CUdeviceptr}). */
    public long address() {
        if (release.freed) {
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
        release.explicit = true;
        cleanable.clean();
    }

    /** The free action; holds no reference to the buffer so the buffer can become unreachable. */
    private static final class Release implements Runnable {
        private final CudaDriver driver;
        private final long context;
        private final long address;
        private final long bytes;
        volatile boolean explicit;
        volatile boolean freed;

        Release(CudaDriver driver, long context, long address, long bytes) {
            this.driver = driver;
            this.context = context;
            this.address = address;
            this.bytes = bytes;
        }

        @Override
        public void run() {
            freed = true;
            if (!explicit) {
                Resources.warnLeak("a device buffer of " + bytes + " bytes");
            }
            CudaDevice.setCurrent(driver, context);
            driver.memFree(address);
        }
    }
}
