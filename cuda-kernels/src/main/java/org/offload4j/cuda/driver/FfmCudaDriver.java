package org.offload4j.cuda.driver;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.Map;
import org.offload4j.cuda.bindings.CudaLibrary;
import org.offload4j.cuda.bindings.cuda_h;

/**
 * The driver through the FFM bindings generated from {@code cuda.h} ({@code native-bindings}).
 *
 * <p><b>No allocation per call.</b> Out-parameters go to a per-thread scratch segment; kernel
 * parameters to a {@link KernelParams} buffer allocated once. Handles cross as addresses
 * ({@link MemorySegment#ofAddress}, which the JIT scalarizes).
 *
 * <p><b>Critical calls.</b> Calls that never block and never call back into Java
 * ({@code cuCtxSetCurrent}, the queries) are linked with {@link Linker.Option#critical}, which
 * skips the thread-state transition. {@code cuLaunchKernel} can block when the launch queue is
 * full, which would stall the JVM's safepoints, so it is linked that way only when
 * {@code -Doffload.cuda.criticalLaunch=true} asks for it ({@code offload bench launch} measures
 * both).
 */
public final class FfmCudaDriver implements CudaDriver {
    /** The system property that links {@code cuLaunchKernel} as a critical function. */
    public static final String CRITICAL_LAUNCH_PROPERTY = "offload.cuda.criticalLaunch";

    private static final int SCRATCH_BYTES = 512;
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(SCRATCH_BYTES, 16));

    private final Map<DeviceAttribute, Integer> deviceAttributes = new EnumMap<>(DeviceAttribute.class);
    private final Map<FunctionAttribute, Integer> functionAttributes = new EnumMap<>(FunctionAttribute.class);
    private final MethodHandle ctxSetCurrentCritical;
    private final MethodHandle launchKernel;
    private final boolean criticalLaunch;
    private final int outOfMemory = cuda_h.CUDA_ERROR_OUT_OF_MEMORY();
    private final int notReady = cuda_h.CUDA_ERROR_NOT_READY();

    private FfmCudaDriver(boolean criticalLaunch) {
        for (DeviceAttribute a : DeviceAttribute.values()) {
            deviceAttributes.put(a, headerConstant(a.cName()));
        }
        for (FunctionAttribute a : FunctionAttribute.values()) {
            functionAttributes.put(a, headerConstant(a.cName()));
        }
        Linker linker = Linker.nativeLinker();
        this.ctxSetCurrentCritical = linker.downcallHandle(cuda_h.cuCtxSetCurrent$address(),
                cuda_h.cuCtxSetCurrent$descriptor(), Linker.Option.critical(false));
        this.criticalLaunch = criticalLaunch;
        this.launchKernel = criticalLaunch
                ? linker.downcallHandle(cuda_h.cuLaunchKernel$address(), cuda_h.cuLaunchKernel$descriptor(),
                        Linker.Option.critical(false))
                : cuda_h.cuLaunchKernel$handle();
    }

    /**
     * Loads the driver library ({@code libcuda.so.1} first, as a bare GPU host has only that).
     *
     * @throws UnsupportedOperationException with the loader's reason when it is missing
     */
    public static FfmCudaDriver load() {
        var failure = CudaLibrary.loadFailure();
        if (failure.isPresent()) {
            throw new UnsupportedOperationException(failure.get());
        }
        return new FfmCudaDriver(org.offload4j.core.Settings.flag(CRITICAL_LAUNCH_PROPERTY));
    }

    /** The value of an enumerator of {@code cuda.h}, through the generated constant of that name. */
    private static int headerConstant(String name) {
        try {
            return (int) cuda_h.class.getMethod(name).invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the generated bindings have no constant " + name
                    + "; regenerate them from a cuda.h that has it", e);
        }
    }

    @Override
    public String bindingName() {
        return criticalLaunch ? "ffm (critical launch)" : "ffm";
    }

    private static MemorySegment scratch() {
        return SCRATCH.get();
    }

    private static MemorySegment handle(long address) {
        return MemorySegment.ofAddress(address);
    }

    private void check(int result, String call) {
        if (result == 0) {
            return;
        }
        String name = getErrorName(result);
        String text = getErrorString(result);
        if (result == outOfMemory) {
            throw new CudaOutOfMemoryException(call, result, name, text);
        }
        throw new CudaException(call, result, name, text);
    }

    /** A query's answer: {@code CUDA_ERROR_NOT_READY} is "not yet", not an error. */
    private boolean completed(int result, String call) {
        if (result == notReady) {
            return false;
        }
        check(result, call);
        return true;
    }

    @Override
    public void init() {
        check(cuda_h.cuInit(0), "cuInit");
    }

    @Override
    public int driverGetVersion() {
        MemorySegment s = scratch();
        check(cuda_h.cuDriverGetVersion(s), "cuDriverGetVersion");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public int deviceGetCount() {
        MemorySegment s = scratch();
        check(cuda_h.cuDeviceGetCount(s), "cuDeviceGetCount");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public int deviceGet(int ordinal) {
        MemorySegment s = scratch();
        check(cuda_h.cuDeviceGet(s, ordinal), "cuDeviceGet");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public String deviceGetName(int device) {
        MemorySegment s = scratch();
        s.fill((byte) 0);
        check(cuda_h.cuDeviceGetName(s, SCRATCH_BYTES - 1, device), "cuDeviceGetName");
        return s.getString(0, StandardCharsets.UTF_8);
    }

    @Override
    public int deviceGetAttribute(DeviceAttribute attribute, int device) {
        MemorySegment s = scratch();
        check(cuda_h.cuDeviceGetAttribute(s, deviceAttributes.get(attribute), device), "cuDeviceGetAttribute");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public long deviceTotalMem(int device) {
        MemorySegment s = scratch();
        check(cuda_h.cuDeviceTotalMem(s, device), "cuDeviceTotalMem");
        return s.get(JAVA_LONG, 0);
    }

    @Override
    public long devicePrimaryCtxRetain(int device) {
        MemorySegment s = scratch();
        check(cuda_h.cuDevicePrimaryCtxRetain(s, device), "cuDevicePrimaryCtxRetain");
        return s.get(ADDRESS, 0).address();
    }

    @Override
    public void devicePrimaryCtxRelease(int device) {
        check(cuda_h.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
    }

    @Override
    public void ctxSetCurrent(long context) {
        int result;
        try {
            result = (int) ctxSetCurrentCritical.invokeExact(handle(context));
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(result, "cuCtxSetCurrent");
    }

    @Override
    public void ctxSynchronize() {
        check(cuda_h.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    @Override
    public long[] memGetInfo() {
        MemorySegment s = scratch();
        check(cuda_h.cuMemGetInfo(s, s.asSlice(8)), "cuMemGetInfo");
        return new long[] {s.get(JAVA_LONG, 0), s.get(JAVA_LONG, 8)};
    }

    @Override
    public long streamCreate(int flags) {
        MemorySegment s = scratch();
        check(cuda_h.cuStreamCreate(s, flags), "cuStreamCreate");
        return s.get(ADDRESS, 0).address();
    }

    @Override
    public void streamDestroy(long stream) {
        check(cuda_h.cuStreamDestroy(handle(stream)), "cuStreamDestroy");
    }

    @Override
    public void streamSynchronize(long stream) {
        check(cuda_h.cuStreamSynchronize(handle(stream)), "cuStreamSynchronize");
    }

    @Override
    public boolean streamQuery(long stream) {
        return completed(cuda_h.cuStreamQuery(handle(stream)), "cuStreamQuery");
    }

    @Override
    public void streamWaitEvent(long stream, long event) {
        check(cuda_h.cuStreamWaitEvent(handle(stream), handle(event), 0), "cuStreamWaitEvent");
    }

    @Override
    public long eventCreate(int flags) {
        MemorySegment s = scratch();
        check(cuda_h.cuEventCreate(s, flags), "cuEventCreate");
        return s.get(ADDRESS, 0).address();
    }

    @Override
    public void eventDestroy(long event) {
        check(cuda_h.cuEventDestroy(handle(event)), "cuEventDestroy");
    }

    @Override
    public void eventRecord(long event, long stream) {
        check(cuda_h.cuEventRecord(handle(event), handle(stream)), "cuEventRecord");
    }

    @Override
    public void eventSynchronize(long event) {
        check(cuda_h.cuEventSynchronize(handle(event)), "cuEventSynchronize");
    }

    @Override
    public boolean eventQuery(long event) {
        return completed(cuda_h.cuEventQuery(handle(event)), "cuEventQuery");
    }

    @Override
    public float eventElapsedTime(long start, long end) {
        MemorySegment s = scratch();
        check(cuda_h.cuEventElapsedTime(s, handle(start), handle(end)), "cuEventElapsedTime");
        return s.get(JAVA_FLOAT, 0);
    }

    @Override
    public long memAlloc(long bytes) {
        MemorySegment s = scratch();
        check(cuda_h.cuMemAlloc(s, bytes), "cuMemAlloc");
        return s.get(JAVA_LONG, 0);
    }

    @Override
    public void memFree(long devicePointer) {
        check(cuda_h.cuMemFree(devicePointer), "cuMemFree");
    }

    @Override
    public MemorySegment memAllocHost(long bytes) {
        MemorySegment s = scratch();
        check(cuda_h.cuMemAllocHost(s, bytes), "cuMemAllocHost");
        return s.get(ADDRESS, 0).reinterpret(bytes);
    }

    @Override
    public void memFreeHost(MemorySegment hostMemory) {
        check(cuda_h.cuMemFreeHost(MemorySegment.ofAddress(hostMemory.address())), "cuMemFreeHost");
    }

    @Override
    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
        check(cuda_h.cuMemcpyHtoDAsync(dst, src, bytes, handle(stream)), "cuMemcpyHtoDAsync");
    }

    @Override
    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream) {
        check(cuda_h.cuMemcpyDtoHAsync(dst, src, bytes, handle(stream)), "cuMemcpyDtoHAsync");
    }

    @Override
    public void memcpyDtoDAsync(long dst, long src, long bytes, long stream) {
        check(cuda_h.cuMemcpyDtoDAsync(dst, src, bytes, handle(stream)), "cuMemcpyDtoDAsync");
    }

    @Override
    public void memsetD32Async(long dst, int value, long count, long stream) {
        check(cuda_h.cuMemsetD32Async(dst, value, count, handle(stream)), "cuMemsetD32Async");
    }

    @Override
    public void memsetD8Async(long dst, byte value, long count, long stream) {
        check(cuda_h.cuMemsetD8Async(dst, value, count, handle(stream)), "cuMemsetD8Async");
    }

    @Override
    public long moduleLoadData(byte[] image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(image.length + 1L, 64);
            MemorySegment.copy(image, 0, data, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, image.length);
            MemorySegment s = scratch();
            check(cuda_h.cuModuleLoadData(s, data), "cuModuleLoadData");
            return s.get(ADDRESS, 0).address();
        }
    }

    @Override
    public void moduleUnload(long module) {
        check(cuda_h.cuModuleUnload(handle(module)), "cuModuleUnload");
    }

    @Override
    public long moduleGetFunction(long module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = scratch();
            check(cuda_h.cuModuleGetFunction(s, handle(module), arena.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return s.get(ADDRESS, 0).address();
        }
    }

    @Override
    public int funcGetAttribute(FunctionAttribute attribute, long function) {
        MemorySegment s = scratch();
        check(cuda_h.cuFuncGetAttribute(s, functionAttributes.get(attribute), handle(function)), "cuFuncGetAttribute");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public void funcSetAttribute(long function, FunctionAttribute attribute, int value) {
        check(cuda_h.cuFuncSetAttribute(handle(function), functionAttributes.get(attribute), value),
                "cuFuncSetAttribute");
    }

    @Override
    public int occupancyMaxActiveBlocksPerMultiprocessor(long function, int blockSize, long dynamicSharedBytes) {
        MemorySegment s = scratch();
        check(cuda_h.cuOccupancyMaxActiveBlocksPerMultiprocessor(s, handle(function), blockSize, dynamicSharedBytes),
                "cuOccupancyMaxActiveBlocksPerMultiprocessor");
        return s.get(JAVA_INT, 0);
    }

    @Override
    public KernelParams newKernelParams(int capacity) {
        return new FfmKernelParams(capacity);
    }

    @Override
    public void launchKernel(long function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                             int sharedBytes, long stream, KernelParams params) {
        MemorySegment pointers = ((FfmKernelParams) params).pointers;
        int result;
        try {
            result = (int) launchKernel.invokeExact(handle(function), gridX, gridY, gridZ, blockX, blockY, blockZ,
                    sharedBytes, handle(stream), pointers, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check(result, "cuLaunchKernel");
    }

    @Override
    public String getErrorName(int code) {
        MemorySegment s = scratch();
        if (cuda_h.cuGetErrorName(code, s) != 0) {
            return "CUresult " + code;
        }
        return s.get(ADDRESS, 0).reinterpret(256).getString(0, StandardCharsets.US_ASCII);
    }

    @Override
    public String getErrorString(int code) {
        MemorySegment s = scratch();
        if (cuda_h.cuGetErrorString(code, s) != 0) {
            return "unknown error";
        }
        return s.get(ADDRESS, 0).reinterpret(1024).getString(0, StandardCharsets.US_ASCII);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    /**
     * {@code void* kernelParams[capacity]}, each entry pointing at its own 8-byte slot: both
     * arrays live in one native segment allocated once, so filling and launching allocate
     * nothing.
     */
    static final class FfmKernelParams extends KernelParams {
        final MemorySegment slots;
        final MemorySegment pointers;

        FfmKernelParams(int capacity) {
            super(capacity);
            MemorySegment all = Arena.ofAuto().allocate(16L * capacity, 16);
            this.slots = all.asSlice(0, 8L * capacity);
            this.pointers = all.asSlice(8L * capacity, 8L * capacity);
            for (int i = 0; i < capacity; i++) {
                pointers.setAtIndex(ADDRESS, i, slots.asSlice(8L * i));
            }
        }

        @Override
        protected void writeInt(int slot, int value) {
            slots.set(JAVA_INT, 8L * slot, value);
        }

        @Override
        protected void writeLong(int slot, long value) {
            slots.set(JAVA_LONG, 8L * slot, value);
        }
    }
}
