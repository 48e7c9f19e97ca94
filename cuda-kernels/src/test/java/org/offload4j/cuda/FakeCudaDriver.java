package org.offload4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.CudaException;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;
import org.offload4j.cuda.driver.DeviceAttribute;
import org.offload4j.cuda.driver.FunctionAttribute;
import org.offload4j.cuda.driver.KernelParams;

/**
 * A driver whose "device" is host memory and whose "kernels" are Java lambdas: it lets the
 * backend's staging, copies, lifetimes and parameter passing be tested where no GPU exists.
 * Everything it does to memory is what the real driver would do, byte for byte; it keeps
 * counts of allocations and frees so tests can check for leaks.
 */
class FakeCudaDriver implements CudaDriver {
    /** A kernel: receives the argument slots (8 bytes each) as the launch saw them. */
    interface FakeKernel {
        void run(long[] slots, int gridX, int gridY, int gridZ, int blockX, int sharedBytes);
    }

    final Map<String, FakeKernel> kernels = new HashMap<>();
    final Map<Long, MemorySegment> allocations = new HashMap<>();
    final AtomicLong frees = new AtomicLong();
    final List<String> calls = java.util.Collections.synchronizedList(new ArrayList<>()); // concurrent calls record here too
    long memoryLimit = Long.MAX_VALUE;
    long allocated;
    private final Arena arena = Arena.ofShared();
    private final Map<Long, String> functions = new HashMap<>();
    private long nextHandle = 0x1000;

    @Override
    public String bindingName() {
        return "fake";
    }

    @Override
    public void init() {
    }

    @Override
    public int driverGetVersion() {
        return 13000;
    }

    @Override
    public int deviceGetCount() {
        return 1;
    }

    @Override
    public int deviceGet(int ordinal) {
        return ordinal;
    }

    @Override
    public String deviceGetName(int device) {
        return "Fake GPU";
    }

    @Override
    public int deviceGetAttribute(DeviceAttribute attribute, int device) {
        return switch (attribute) {
            case COMPUTE_CAPABILITY_MAJOR -> 9;
            case COMPUTE_CAPABILITY_MINOR -> 0;
            case MULTIPROCESSOR_COUNT -> 132;
            case L2_CACHE_SIZE -> 50 << 20;
            case MAX_SHARED_MEMORY_PER_BLOCK_OPTIN -> 227 * 1024;
            case CLOCK_RATE -> 1_830_000;
            default -> 1;
        };
    }

    @Override
    public long deviceTotalMem(int device) {
        return 80L << 30;
    }

    @Override
    public long devicePrimaryCtxRetain(int device) {
        return 0xC0;
    }

    @Override
    public void devicePrimaryCtxRelease(int device) {
        calls.add("release");
    }

    @Override
    public void ctxSetCurrent(long context) {
    }

    @Override
    public void ctxSynchronize() {
    }

    @Override
    public long[] memGetInfo() {
        return new long[] {70L << 30, 80L << 30};
    }

    @Override
    public synchronized long streamCreate(int flags) { // lanes are made by concurrent calls: one handle each
        return nextHandle++;
    }

    @Override
    public void streamDestroy(long stream) {
    }

    @Override
    public void streamSynchronize(long stream) {
        calls.add("sync");
    }

    @Override
    public boolean streamQuery(long stream) {
        return true;
    }

    @Override
    public void streamWaitEvent(long stream, long event) {
    }

    @Override
    public synchronized long eventCreate(int flags) {
        return nextHandle++;
    }

    @Override
    public void eventDestroy(long event) {
    }

    @Override
    public void eventRecord(long event, long stream) {
    }

    @Override
    public void eventSynchronize(long event) {
    }

    @Override
    public boolean eventQuery(long event) {
        return true;
    }

    @Override
    public float eventElapsedTime(long start, long end) {
        return 1f;
    }

    @Override
    public synchronized long memAlloc(long bytes) {
        if (allocated + bytes > memoryLimit) {
            throw new CudaOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");
        }
        MemorySegment s = arena.allocate(bytes, 256);
        s.fill((byte) 0x7F); // device memory is never zero-initialised: make misuse visible
        allocations.put(s.address(), s);
        allocated += bytes;
        return s.address();
    }

    @Override
    public synchronized void memFree(long devicePointer) {
        MemorySegment s = allocations.remove(devicePointer);
        if (s == null) {
            throw new CudaException("cuMemFree", 1, "CUDA_ERROR_INVALID_VALUE", "not an allocation");
        }
        allocated -= s.byteSize();
        frees.incrementAndGet();
    }

    @Override
    public MemorySegment memAllocHost(long bytes) {
        return arena.allocate(bytes, 256);
    }

    @Override
    public void memFreeHost(MemorySegment hostMemory) {
        calls.add("freeHost");
    }

    private static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override
    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
        if (!src.isNative()) {
            throw new IllegalArgumentException("heap segment passed to the driver");
        }
        MemorySegment.copy(src, 0, at(dst, bytes), 0, bytes);
    }

    @Override
    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream) {
        if (!dst.isNative()) {
            throw new IllegalArgumentException("heap segment passed to the driver");
        }
        MemorySegment.copy(at(src, bytes), 0, dst, 0, bytes);
    }

    @Override
    public void memcpyDtoDAsync(long dst, long src, long bytes, long stream) {
        MemorySegment.copy(at(src, bytes), 0, at(dst, bytes), 0, bytes);
    }

    @Override
    public void memsetD32Async(long dst, int value, long count, long stream) {
        MemorySegment s = at(dst, 4 * count);
        for (long i = 0; i < count; i++) {
            s.setAtIndex(ValueLayout.JAVA_INT, i, value);
        }
    }

    @Override
    public void memsetD8Async(long dst, byte value, long count, long stream) {
        at(dst, count).fill(value);
    }

    @Override
    public long moduleLoadData(byte[] image) {
        return 0xA0;
    }

    @Override
    public void moduleUnload(long module) {
        calls.add("unload");
    }

    @Override
    public synchronized long moduleGetFunction(long module, String name) {
        if (!kernels.containsKey(name)) {
            throw new CudaException("cuModuleGetFunction", 500, "CUDA_ERROR_NOT_FOUND", "named symbol not found");
        }
        long h = nextHandle++;
        functions.put(h, name);
        return h;
    }

    @Override
    public int funcGetAttribute(FunctionAttribute attribute, long function) {
        return switch (attribute) {
            case NUM_REGS -> 32;
            case MAX_THREADS_PER_BLOCK -> 1024;
            default -> 0;
        };
    }

    @Override
    public void funcSetAttribute(long function, FunctionAttribute attribute, int value) {
        calls.add("setAttribute " + attribute + "=" + value);
    }

    @Override
    public int occupancyMaxActiveBlocksPerMultiprocessor(long function, int blockSize, long dynamicSharedBytes) {
        return 2;
    }

    @Override
    public KernelParams newKernelParams(int capacity) {
        return new FakeParams(capacity);
    }

    @Override
    public void launchKernel(long function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                             int sharedBytes, long stream, KernelParams params) {
        FakeParams p = (FakeParams) params;
        long[] slots = java.util.Arrays.copyOf(p.slots, p.count());
        String name = functions.get(function);
        calls.add("launch " + name);
        kernels.get(name).run(slots, gridX, gridY, gridZ, blockX, sharedBytes);
    }

    @Override
    public String getErrorName(int code) {
        return "CUDA_ERROR_" + code;
    }

    @Override
    public String getErrorString(int code) {
        return "error " + code;
    }

    static final class FakeParams extends KernelParams {
        final long[] slots;

        FakeParams(int capacity) {
            super(capacity);
            slots = new long[capacity];
        }

        @Override
        protected void writeInt(int slot, int value) {
            slots[slot] = value & 0xFFFFFFFFL;
        }

        @Override
        protected void writeLong(int slot, long value) {
            slots[slot] = value;
        }
    }

    /** Registers a kernel by name. */
    FakeCudaDriver kernel(String name, FakeKernel kernel) {
        kernels.put(name, kernel);
        return this;
    }

}
