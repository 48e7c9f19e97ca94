package org.offload4j.cuda;

import java.lang.foreign.MemorySegment;
import org.offload4j.cuda.driver.CudaDriver;

/**
 * A non-blocking CUDA stream of one device: work queued on it runs in order, concurrently with
 * other streams. Copies to and from pageable host memory are staged by the driver and return
 * only once the host side is done with the memory; with {@link PinnedBuffer} memory they are
 * truly asynchronous.
 */
public final class CudaStream implements AutoCloseable {
    private final CudaDevice device;
    private final long handle;
    private volatile boolean closed;

    CudaStream(CudaDevice device, long handle) {
        this.device = device;
        this.handle = handle;
    }

    /** The {@code CUstream}. */
    public long handle() {
        if (closed) {
            throw new IllegalStateException("stream on " + device + " is closed");
        }
        return handle;
    }

    public CudaDevice device() {
        return device;
    }

    public void copyToDevice(long dst, MemorySegment src, long bytes) {
        device.makeCurrent();
        driver().memcpyHtoDAsync(dst, src, bytes, handle());
    }

    public void copyToHost(MemorySegment dst, long src, long bytes) {
        device.makeCurrent();
        driver().memcpyDtoHAsync(dst, src, bytes, handle());
    }

    public void copyOnDevice(long dst, long src, long bytes) {
        device.makeCurrent();
        driver().memcpyDtoDAsync(dst, src, bytes, handle());
    }

    /** Sets {@code count} 32-bit words at {@code dst} to {@code value} (e.g. a NaN pattern to poison outputs). */
    public void fill32(long dst, int value, long count) {
        device.makeCurrent();
        driver().memsetD32Async(dst, value, count, handle());
    }

    /** Blocks until everything queued so far has finished; a kernel's fault surfaces here. */
    public void synchronize() {
        device.makeCurrent();
        driver().streamSynchronize(handle());
    }

    /** Makes later work on this stream wait for {@code event}. */
    public void waitFor(CudaEvent event) {
        device.makeCurrent();
        driver().streamWaitEvent(handle(), event.handle());
    }

    private CudaDriver driver() {
        return device.driver();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        driver().streamDestroy(handle);
    }
}
