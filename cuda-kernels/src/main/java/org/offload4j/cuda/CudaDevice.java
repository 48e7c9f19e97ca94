package org.offload4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.DeviceAttribute;

/**
 * One GPU through its primary context (the context the CUDA runtime and PyTorch use too, so
 * offload4j shares the device with them instead of fencing off a context of its own).
 *
 * <p><b>Threads.</b> Every method may be called from any Java thread: the driver's current
 * context is per OS thread, so each driver step first makes this device's context current, with
 * a {@code cuCtxSetCurrent} every time (cheap when it already is). A per-thread record of what is
 * current, which skipped that call, was wrong twice over: a virtual thread moves between carrier
 * threads, each with its own current context, and other code on the thread (the CUDA runtime,
 * PyTorch, another binding) may switch contexts without telling it. Op calls take a {@link Lane} (a stream, a kernel
 * parameter buffer and scratch memory) from a pool, so concurrent calls from several threads
 * neither share buffers nor block each other.
 *
 * <p><b>Lifetime.</b> {@link #close()} frees the lanes and the module and releases the primary
 * context; tensors and buffers made from the device must be closed first. Those still open are
 * freed by close() itself, with a warning, so that no later close() or Cleaner frees an address of
 * a released context, which the device opened again may have handed to other memory.
 */
public final class CudaDevice implements AutoCloseable {
    private final CudaDriver driver;
    private final int ordinal;
    private final int handle;
    private final long context;
    private final String name;
    private final int computeMajor;
    private final int computeMinor;
    private final int smCount;
    private final long totalMemory;
    private final int l2Bytes;
    private final int maxSharedPerBlockOptin;
    private final Device device;
    private final long module;
    private final Map<String, CudaFunction> functions = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Lane> lanes = new ConcurrentLinkedQueue<>();
    /** The releases of the buffers open now (never the buffers: they can still become unreachable). */
    private final Set<MemoryRelease> openMemory = ConcurrentHashMap.newKeySet();
    /**
     * Shared by each allocation and each free of memory, exclusive to {@link #close()}: close()
     * sees every buffer allocated before it, and no free runs after the context is released.
     */
    private final ReentrantReadWriteLock memoryLock = new ReentrantReadWriteLock();
    private volatile boolean closed;

    private CudaDevice(CudaDriver driver, int ordinal, KernelImage image) {
        this.driver = driver;
        this.ordinal = ordinal;
        this.handle = driver.deviceGet(ordinal);
        this.name = driver.deviceGetName(handle);
        this.computeMajor = driver.deviceGetAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, handle);
        this.computeMinor = driver.deviceGetAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, handle);
        this.smCount = driver.deviceGetAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, handle);
        this.l2Bytes = driver.deviceGetAttribute(DeviceAttribute.L2_CACHE_SIZE, handle);
        this.maxSharedPerBlockOptin = driver.deviceGetAttribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, handle);
        this.totalMemory = driver.deviceTotalMem(handle);
        this.device = new Device("cuda", ordinal, name + " (sm_" + computeMajor + computeMinor + ")", false);
        this.context = driver.devicePrimaryCtxRetain(handle);
        try {
            makeCurrent();
            this.module = driver.moduleLoadData(image.bytes());
        } catch (RuntimeException e) {
            driver.devicePrimaryCtxRelease(handle);
            throw e;
        }
    }

    /**
     * Opens device {@code ordinal} ({@link CudaDriver#init()} must have run) and loads the kernel
     * image into its primary context.
     */
    public static CudaDevice open(CudaDriver driver, int ordinal, KernelImage image) {
        return new CudaDevice(driver, ordinal, image);
    }

    /**
     * Makes this device's primary context current on the calling (carrier) thread, unconditionally
     * (see the class comment). Each driver step calls this right before its driver calls, with
     * nothing between them that could block and move a virtual thread to another carrier.
     */
    void makeCurrent() {
        driver.ctxSetCurrent(context);
    }

    CudaDriver driver() {
        return driver;
    }

    /** The device as tensors name it ({@code cuda:N}). */
    public Device asDevice() {
        return device;
    }

    public int ordinal() {
        return ordinal;
    }

    public String name() {
        return name;
    }

    /** E.g. 90 for sm_90 (H100), 80 for A100. */
    public int computeCapability() {
        return computeMajor * 10 + computeMinor;
    }

    public int smCount() {
        return smCount;
    }

    public long totalMemory() {
        return totalMemory;
    }

    public int l2Bytes() {
        return l2Bytes;
    }

    public int maxSharedPerBlockOptin() {
        return maxSharedPerBlockOptin;
    }

    /** The kernel {@code name} of the loaded image (cached). */
    public CudaFunction function(String name) {
        ensureOpen();
        return functions.computeIfAbsent(name, n -> {
            makeCurrent();
            return new CudaFunction(this, n, driver.moduleGetFunction(module, n));
        });
    }

    /** {@code bytes} of device memory (at least 1), uninitialised. */
    public DeviceBuffer allocate(long bytes) {
        long size = Math.max(1, bytes);
        memoryLock.readLock().lock();
        try {
            ensureOpen();
            makeCurrent();
            return new DeviceBuffer(this, driver.memAlloc(size), size);
        } finally {
            memoryLock.readLock().unlock();
        }
    }

    /** {@code bytes} of page-locked host memory. */
    public PinnedBuffer allocatePinned(long bytes) {
        memoryLock.readLock().lock();
        try {
            ensureOpen();
            makeCurrent();
            return new PinnedBuffer(this, driver.memAllocHost(Math.max(1, bytes)));
        } finally {
            memoryLock.readLock().unlock();
        }
    }

    /** Registers a new buffer's release, for {@link #close()} to free the buffer if it is still open then. */
    void track(MemoryRelease release) {
        openMemory.add(release);
    }

    /** Drops a release whose memory is being freed. */
    void forget(MemoryRelease release) {
        openMemory.remove(release);
    }

    /** Runs {@code free} (a buffer's release) while {@link #close()} cannot run. */
    void excludingClose(Runnable free) {
        memoryLock.readLock().lock();
        try {
            free.run();
        } finally {
            memoryLock.readLock().unlock();
        }
    }

    /** A new stream of this device; close it when done. */
    public CudaStream createStream() {
        ensureOpen();
        makeCurrent();
        return new CudaStream(this, driver.streamCreate(CudaDriver.STREAM_NON_BLOCKING));
    }

    /** A new timing event; close it when done. */
    public CudaEvent createEvent() {
        ensureOpen();
        makeCurrent();
        return new CudaEvent(this, driver.eventCreate(0));
    }

    /**
     * A contiguous tensor in device memory (uninitialised), freed by its {@link Tensor#close()}.
     * Ops given device tensors run without copies; Java cannot read them directly (use
     * {@link #copy(Tensor, Tensor)}).
     */
    public Tensor allocateTensor(DType dtype, long... shape) {
        long elements = 1;
        for (long d : shape) {
            elements = Math.multiplyExact(elements, d);
        }
        DeviceBuffer buffer = allocate(dtype.byteSize(elements));
        Arena arena = Arena.ofShared();
        MemorySegment range = MemorySegment.ofAddress(buffer.address()).reinterpret(buffer.bytes(), arena,
                s -> buffer.close());
        try {
            return Tensor.wrapDevice(arena, range, device, dtype, shape.length == 0 ? 1 : shape[shape.length - 1], shape);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * A contiguous device tensor holding {@code src}'s values ({@link #allocateTensor}, then
     * {@link #copy}); nothing is left allocated when the copy fails.
     */
    public Tensor copyOf(Tensor src) {
        Tensor t = allocateTensor(src.dtype(), src.shape());
        try {
            copy(src, t);
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    /**
     * Copies {@code src} to {@code dst} (same dtype and shape; either may be on the host or on
     * this device, any row strides) and waits for the copy. They must not partially overlap
     * ({@link IllegalArgumentException}); a tensor copied onto itself is left as it is.
     */
    public void copy(Tensor src, Tensor dst) {
        Lane lane = acquireLane();
        try {
            TensorCopies.copy(this, lane.stream(), src, dst);
            lane.stream().synchronize();
        } finally {
            releaseLane(lane);
        }
    }

    /** Waits for all work on the device's context. */
    public void synchronize() {
        makeCurrent();
        driver.ctxSynchronize();
    }

    /** {@code {free, total}} bytes of device memory now. */
    public long[] memoryInfo() {
        makeCurrent();
        return driver.memGetInfo();
    }

    Lane acquireLane() {
        ensureOpen();
        Lane lane = lanes.poll();
        return lane != null ? lane : new Lane(this);
    }

    synchronized void releaseLane(Lane lane) { // with close(): a lane offered after close() drained the queue would leak
        if (closed) {
            try {
                lane.close();
            } catch (RuntimeException e) {
                // The context is already released, and its teardown freed what the lane held; an error
                // here must not hide the exception of the call that is releasing the lane.
            }
        } else {
            lanes.offer(lane);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(device + " is closed");
        }
    }

    /**
     * Frees the lanes, the buffers still open (with one warning) and the module, and releases the
     * primary context, each step attempted even when an earlier one fails: after a sticky error
     * (an illegal address in a kernel, a device lost) the driver fails nearly every call, and only
     * releasing every reference to the primary context lets it be reset for the rest of the
     * process. The first failure is thrown at the end, the others suppressed in it; a second call
     * does nothing, and so do the close() and the Cleaner of a buffer this call freed.
     */
    @Override
    public synchronized void close() {
        memoryLock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            RuntimeException failure = attempt(null, this::makeCurrent);
            for (Lane lane; (lane = lanes.poll()) != null; ) {
                failure = attempt(failure, lane::close);
            }
            failure = freeOpenMemory(failure);
            failure = attempt(failure, () -> driver.moduleUnload(module));
            failure = attempt(failure, () -> driver.devicePrimaryCtxRelease(handle));
            if (failure != null) {
                throw failure;
            }
        } finally {
            memoryLock.writeLock().unlock();
        }
    }

    /**
     * Frees the buffers still open, while their context is held; returns the first failure so
     * far, as {@link #attempt} does. They are the callers' leaks, reported in one warning.
     */
    private RuntimeException freeOpenMemory(RuntimeException failure) {
        int buffers = 0;
        long bytes = 0;
        for (MemoryRelease release : openMemory) {
            if (release.claim()) {
                buffers++;
                bytes += release.bytes();
                failure = attempt(failure, release::free);
            }
        }
        if (buffers > 0) {
            Resources.warnOpenAtClose(toString(), buffers, bytes);
        }
        return failure;
    }

    /** Runs one teardown step; returns the first failure so far, later ones suppressed in it. */
    static RuntimeException attempt(RuntimeException first, Runnable step) {
        try {
            step.run();
            return first;
        } catch (RuntimeException e) {
            if (first == null) {
                return e;
            }
            first.addSuppressed(e);
            return first;
        }
    }

    @Override
    public String toString() {
        return device.toString();
    }
}
