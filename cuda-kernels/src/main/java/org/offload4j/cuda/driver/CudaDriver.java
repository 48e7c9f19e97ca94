package org.offload4j.cuda.driver;

import java.lang.foreign.MemorySegment;

/**
 * The slice of the CUDA driver API that the backend uses, behind one interface so that two
 * bindings can serve it: the generated FFM bindings ({@code ffm}, the default) and JCuda's JNI
 * bindings ({@code jcuda}, for comparing call overhead). Select one with
 * {@code -Doffload.cuda.binding=ffm|jcuda}; see {@link CudaDrivers}.
 *
 * <p><b>Conventions.</b> Methods keep the driver's names without the {@code cu} prefix and its
 * argument order. Handles ({@code CUcontext}, {@code CUstream}, {@code CUevent},
 * {@code CUmodule}, {@code CUfunction}) are passed as their native address in a {@code long};
 * {@code 0} is the null handle (the legacy default stream for streams). Device pointers
 * ({@code CUdeviceptr}) are {@code long}s too. Host memory is a native {@link MemorySegment}.
 *
 * <p><b>Errors.</b> Every call checks its {@code CUresult}; anything but {@code CUDA_SUCCESS}
 * becomes a {@link CudaException} that names the driver call and the error (out of memory is
 * the subclass {@link CudaOutOfMemoryException}). {@link #streamQuery} and {@link #eventQuery}
 * are the exception: {@code CUDA_ERROR_NOT_READY} is their ordinary "no" answer.
 *
 * <p><b>Threads.</b> Implementations are thread-safe. The driver's current context is per
 * thread; callers make the right context current first ({@link #ctxSetCurrent}).
 */
public interface CudaDriver {

    /** {@code CU_EVENT_DISABLE_TIMING}: events used only to order work. */
    int EVENT_DISABLE_TIMING = 0x2;
    /** {@code CU_STREAM_NON_BLOCKING}: a stream that does not synchronize with stream 0. */
    int STREAM_NON_BLOCKING = 0x1;

    /** The binding's name as {@code -Doffload.cuda.binding} spells it. */
    String bindingName();

    /** {@code cuInit(0)}. */
    void init();

    /** {@code cuDriverGetVersion}: e.g. 13000 for CUDA 13.0. */
    int driverGetVersion();

    int deviceGetCount();

    /** {@code cuDeviceGet}: the {@code CUdevice} of an ordinal. */
    int deviceGet(int ordinal);

    String deviceGetName(int device);

    /** {@code cuDeviceGetAttribute} with a {@link DeviceAttribute}. */
    int deviceGetAttribute(DeviceAttribute attribute, int device);

    long deviceTotalMem(int device);

    /** {@code cuDevicePrimaryCtxRetain}: the device's primary context, retained once more. */
    long devicePrimaryCtxRetain(int device);

    void devicePrimaryCtxRelease(int device);

    void ctxSetCurrent(long context);

    void ctxSynchronize();

    /** {@code cuMemGetInfo}: {@code {free, total}} bytes of the current context's device. */
    long[] memGetInfo();

    long streamCreate(int flags);

    void streamDestroy(long stream);

    void streamSynchronize(long stream);

    /** {@code cuStreamQuery}: whether all work queued so far has completed. */
    boolean streamQuery(long stream);

    void streamWaitEvent(long stream, long event);

    long eventCreate(int flags);

    void eventDestroy(long event);

    void eventRecord(long event, long stream);

    void eventSynchronize(long event);

    /** {@code cuEventQuery}: whether the event has completed. */
    boolean eventQuery(long event);

    /** {@code cuEventElapsedTime}: milliseconds between two completed timing events. */
    float eventElapsedTime(long start, long end);

    long memAlloc(long bytes);

    void memFree(long devicePointer);

    /** {@code cuMemAllocHost}: page-locked host memory of {@code bytes}, as a native segment. */
    MemorySegment memAllocHost(long bytes);

    void memFreeHost(MemorySegment hostMemory);

    void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream);

    void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream);

    void memcpyDtoDAsync(long dst, long src, long bytes, long stream);

    /** {@code cuMemsetD32Async}: {@code count} 32-bit words set to {@code value}. */
    void memsetD32Async(long dst, int value, long count, long stream);

    /** {@code cuMemsetD8Async}: {@code count} bytes set to {@code value}. */
    void memsetD8Async(long dst, byte value, long count, long stream);

    /** {@code cuModuleLoadData}: loads a cubin, PTX or fatbin image into the current context. */
    long moduleLoadData(byte[] image);

    void moduleUnload(long module);

    /** {@code cuModuleGetFunction}; the kernel must be {@code extern "C"}. */
    long moduleGetFunction(long module, String name);

    int funcGetAttribute(FunctionAttribute attribute, long function);

    void funcSetAttribute(long function, FunctionAttribute attribute, int value);

    /** {@code cuOccupancyMaxActiveBlocksPerMultiprocessor}. */
    int occupancyMaxActiveBlocksPerMultiprocessor(long function, int blockSize, long dynamicSharedBytes);

    /**
     * A reusable parameter buffer for {@link #launchKernel}, with room for {@code capacity}
     * arguments of at most 8 bytes each. Owned by one thread at a time.
     */
    KernelParams newKernelParams(int capacity);

    /**
     * {@code cuLaunchKernel} on {@code stream}; {@code params} holds the kernel's arguments in
     * order. Queues the launch and returns; errors of the kernel itself surface at the next
     * synchronizing call.
     */
    void launchKernel(long function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                      int sharedBytes, long stream, KernelParams params);

    /** {@code cuGetErrorName}, or {@code "CUresult " + code} for an unknown code. */
    String getErrorName(int code);

    /** {@code cuGetErrorString}, or {@code "unknown error"} for an unknown code. */
    String getErrorString(int code);
}
