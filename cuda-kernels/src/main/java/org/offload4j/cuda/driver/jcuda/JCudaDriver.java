package org.offload4j.cuda.driver.jcuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuFuncGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGetErrorName;
import static jcuda.driver.JCudaDriver.cuGetErrorString;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamQuery;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.CudaException;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;
import org.offload4j.cuda.driver.DeviceAttribute;
import org.offload4j.cuda.driver.FunctionAttribute;
import org.offload4j.cuda.driver.KernelParams;

/**
 * The {@link CudaDriver} over JCuda's JNI bindings ({@code -Doffload.cuda.binding=jcuda}), kept to
 * compare the FFM binding's call overhead with JNI's on the same calls. Behaves like the FFM
 * binding: same handles, same exceptions and messages.
 *
 * <p><b>Handles.</b> The interface passes native addresses as {@code long}s; JCuda passes objects
 * whose address sits in a private field. The two directions are bridged without reflection:
 * <ul>
 *   <li><i>Out</i> (an object JCuda filled in → its address): the driver passes JCuda a subclass of
 *   the handle class ({@code Stream extends CUstream}, …) whose {@code address()} reads JCuda's
 *   {@code protected getNativePointer()}.</li>
 *   <li><i>In, handles</i> ({@code CUcontext}, {@code CUstream}, {@code CUevent},
 *   {@code CUmodule}, {@code CUfunction}): JCuda has no public way to make one at an address, so
 *   every object this driver created is kept in a {@link HandleTable} under its address until it
 *   is destroyed. A handle not made by this driver is rejected with an
 *   {@link IllegalArgumentException}. Handle 0 is the null context or the legacy default stream.</li>
 *   <li><i>In, memory</i> (device pointers, host memory): JCuda's JNI layer reads any {@code Pointer}
 *   as {@code nativePointer + byteOffset}, so {@code new CUdeviceptr().withByteOffset(address)} (and
 *   the same on a plain {@code Pointer} for host memory) is a pointer at that address built through
 *   public API. It costs one small object per call, no table: device pointers are countless (every
 *   slice of a buffer is one) and need not have come from {@code cuMemAlloc}.</li>
 * </ul>
 *
 * <p><b>Errors.</b> JCuda's global {@code setExceptionsEnabled} toggle is set to {@code false} when
 * this class loads (so other JCuda users in the same JVM see return codes too) and every
 * {@code CUresult} is checked here, giving the interface's {@code <call> failed: <NAME>
 * (<description>)} messages and {@link CudaOutOfMemoryException}. JCuda's own JNI failures
 * (a {@code NullPointerException} it throws, or the code {@code 0x80000001}) pass through as they are
 * or as {@code JCUDA_INTERNAL_ERROR}.
 *
 * <p><b>Launches.</b> See {@link JCudaKernelParams}: nothing is allocated on the Java heap per launch
 * once a parameter buffer has launched with a given argument count; JCuda's JNI layer still does
 * per-argument native work on every launch, which is the cost being measured.
 */
public final class JCudaDriver implements CudaDriver {
    /** The JCuda release this binding is written and tested against. */
    static final String JCUDA_VERSION = "12.6.0";

    /** JCuda's code for a failure inside its JNI layer ({@code JCUDA_INTERNAL_ERROR}). */
    static final int JCUDA_INTERNAL_ERROR = 0x80000001;

    private static final CUdeviceptr NULL_DEVICE_POINTER = new CUdeviceptr();
    private static final Pointer NULL_HOST_POINTER = new Pointer();

    private final HandleTable<CUcontext> contexts = new HandleTable<>("CUcontext", new CUcontext());
    private final HandleTable<CUstream> streams = new HandleTable<>("CUstream", new CUstream());
    private final HandleTable<CUevent> events = new HandleTable<>("CUevent", null);
    private final HandleTable<CUmodule> modules = new HandleTable<>("CUmodule", null);
    private final HandleTable<CUfunction> functions = new HandleTable<>("CUfunction", null);
    private final Map<Long, List<Long>> functionsOfModule = new ConcurrentHashMap<>();
    private final Map<Integer, CUdevice> devices = new ConcurrentHashMap<>();

    /** Why JCuda's JNI library did not load, kept: later attempts only see "Could not initialize class". */
    private static volatile String loadFailure;

    private JCudaDriver() {
    }

    /**
     * Loads JCuda's JNI library (which links {@code libcuda.so.1}) and returns the binding, not yet
     * initialised.
     *
     * @throws UnsupportedOperationException one sentence saying why JCuda cannot run here: its JNI
     *                                       library, or the NVIDIA driver library it needs, is missing
     */
    public static JCudaDriver load() {
        String failed = loadFailure;
        if (failed != null) {
            throw new UnsupportedOperationException(failed);
        }
        try {
            jcuda.driver.JCudaDriver.setExceptionsEnabled(false);
        } catch (LinkageError e) {
            loadFailure = failed = loadFailure(e);
            throw new UnsupportedOperationException(failed, e);
        }
        return new JCudaDriver();
    }

    /**
     * One sentence from JCuda's load failure, which is many lines (each attempt's stack trace).
     * The first time it is an {@code UnsatisfiedLinkError}; later a {@code NoClassDefFoundError}
     * ("Could not initialize class"), whose cause is the first error where the JVM kept it.
     */
    static String loadFailure(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            all.append(t).append('\n');
        }
        String text = all.toString();
        if (text.contains("libcuda.so")) {
            return "JCuda's JNI library needs the NVIDIA driver library libcuda.so.1, which is not installed here";
        }
        String detail = null;
        for (String line : text.split("\n")) {
            String l = line.strip();
            if (l.contains("cannot open shared object file") || l.contains("undefined symbol")) {
                detail = l;
            }
        }
        if (detail == null) {
            detail = text.lines().findFirst().orElse(e.getClass().getName()).strip();
        }
        return "JCuda's JNI library (jcuda-natives " + JCUDA_VERSION + ") could not be loaded: " + detail;
    }

    @Override
    public String bindingName() {
        return "jcuda";
    }

    // ---------------------------------------------------------------- errors

    /** Throws for anything but {@code CUDA_SUCCESS}. */
    private void check(String call, int result) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw error(call, result);
        }
    }

    private CudaException error(String call, int result) {
        String name = getErrorName(result);
        String description = getErrorString(result);
        return result == CUresult.CUDA_ERROR_OUT_OF_MEMORY
                ? new CudaOutOfMemoryException(call, result, name, description)
                : new CudaException(call, result, name, description);
    }

    @Override
    public String getErrorName(int code) {
        if (code == JCUDA_INTERNAL_ERROR) {
            return "JCUDA_INTERNAL_ERROR";
        }
        String[] out = new String[1];
        return cuGetErrorName(code, out) == CUresult.CUDA_SUCCESS && out[0] != null ? out[0] : "CUresult " + code;
    }

    @Override
    public String getErrorString(int code) {
        if (code == JCUDA_INTERNAL_ERROR) {
            return "JCuda's JNI layer failed";
        }
        String[] out = new String[1];
        return cuGetErrorString(code, out) == CUresult.CUDA_SUCCESS && out[0] != null ? out[0] : "unknown error";
    }

    // ---------------------------------------------------------------- device and context

    @Override
    public void init() {
        check("cuInit", cuInit(0));
    }

    @Override
    public int driverGetVersion() {
        int[] v = new int[1];
        check("cuDriverGetVersion", cuDriverGetVersion(v));
        return v[0];
    }

    @Override
    public int deviceGetCount() {
        int[] n = new int[1];
        check("cuDeviceGetCount", cuDeviceGetCount(n));
        return n[0];
    }

    @Override
    public int deviceGet(int ordinal) {
        Device d = new Device();
        check("cuDeviceGet", cuDeviceGet(d, ordinal));
        int handle = d.value();
        devices.putIfAbsent(handle, d);
        return handle;
    }

    private CUdevice device(int handle) {
        CUdevice d = devices.get(handle);
        if (d == null) {
            throw new IllegalArgumentException("CUdevice " + handle + " was not obtained through deviceGet of the jcuda binding");
        }
        return d;
    }

    @Override
    public String deviceGetName(int device) {
        byte[] name = new byte[256];
        check("cuDeviceGetName", cuDeviceGetName(name, name.length, device(device)));
        int n = 0;
        while (n < name.length && name[n] != 0) {
            n++;
        }
        return new String(name, 0, n, StandardCharsets.UTF_8);
    }

    @Override
    public int deviceGetAttribute(DeviceAttribute attribute, int device) {
        int[] v = new int[1];
        check("cuDeviceGetAttribute", cuDeviceGetAttribute(v, JCudaConstants.of(attribute), device(device)));
        return v[0];
    }

    @Override
    public long deviceTotalMem(int device) {
        long[] v = new long[1];
        check("cuDeviceTotalMem", cuDeviceTotalMem(v, device(device)));
        return v[0];
    }

    @Override
    public long devicePrimaryCtxRetain(int device) {
        Context c = new Context();
        check("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(c, device(device)));
        // Retaining again returns the same context: the table keeps one object per address.
        contexts.put(c.address(), c);
        return c.address();
    }

    @Override
    public void devicePrimaryCtxRelease(int device) {
        // The context object stays in the table: the primary context lives on while anyone else
        // (the runtime, another retain) holds it, and a later retain returns the same address.
        check("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease(device(device)));
    }

    @Override
    public void ctxSetCurrent(long context) {
        check("cuCtxSetCurrent", cuCtxSetCurrent(contexts.get(context)));
    }

    @Override
    public void ctxSynchronize() {
        check("cuCtxSynchronize", cuCtxSynchronize());
    }

    @Override
    public long[] memGetInfo() {
        long[] free = new long[1];
        long[] total = new long[1];
        check("cuMemGetInfo", cuMemGetInfo(free, total));
        return new long[] {free[0], total[0]};
    }

    // ---------------------------------------------------------------- streams and events

    @Override
    public long streamCreate(int flags) {
        Stream s = new Stream();
        check("cuStreamCreate", cuStreamCreate(s, flags));
        streams.put(s.address(), s);
        return s.address();
    }

    @Override
    public void streamDestroy(long stream) {
        check("cuStreamDestroy", cuStreamDestroy(streams.get(stream)));
        streams.remove(stream);
    }

    @Override
    public void streamSynchronize(long stream) {
        check("cuStreamSynchronize", cuStreamSynchronize(streams.get(stream)));
    }

    @Override
    public boolean streamQuery(long stream) {
        int r = cuStreamQuery(streams.get(stream));
        if (r == CUresult.CUDA_ERROR_NOT_READY) {
            return false;
        }
        check("cuStreamQuery", r);
        return true;
    }

    @Override
    public void streamWaitEvent(long stream, long event) {
        check("cuStreamWaitEvent", cuStreamWaitEvent(streams.get(stream), events.get(event), 0));
    }

    @Override
    public long eventCreate(int flags) {
        Event e = new Event();
        check("cuEventCreate", cuEventCreate(e, flags));
        events.put(e.address(), e);
        return e.address();
    }

    @Override
    public void eventDestroy(long event) {
        check("cuEventDestroy", cuEventDestroy(events.get(event)));
        events.remove(event);
    }

    @Override
    public void eventRecord(long event, long stream) {
        check("cuEventRecord", cuEventRecord(events.get(event), streams.get(stream)));
    }

    @Override
    public void eventSynchronize(long event) {
        check("cuEventSynchronize", cuEventSynchronize(events.get(event)));
    }

    @Override
    public boolean eventQuery(long event) {
        int r = cuEventQuery(events.get(event));
        if (r == CUresult.CUDA_ERROR_NOT_READY) {
            return false;
        }
        check("cuEventQuery", r);
        return true;
    }

    @Override
    public float eventElapsedTime(long start, long end) {
        float[] ms = new float[1];
        check("cuEventElapsedTime", cuEventElapsedTime(ms, events.get(start), events.get(end)));
        return ms[0];
    }

    // ---------------------------------------------------------------- memory

    /** A JCuda device pointer at {@code address} (see the class comment). */
    static CUdeviceptr devicePointer(long address) {
        return NULL_DEVICE_POINTER.withByteOffset(address);
    }

    /** A JCuda host pointer at the start of a native segment. */
    private static Pointer hostPointer(MemorySegment segment, long bytes, String call) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException(call + " needs native host memory, got a heap segment");
        }
        Objects.checkFromIndexSize(0, bytes, segment.byteSize());
        return NULL_HOST_POINTER.withByteOffset(segment.address());
    }

    @Override
    public long memAlloc(long bytes) {
        DevicePointer p = new DevicePointer();
        check("cuMemAlloc", cuMemAlloc(p, bytes));
        return p.address();
    }

    @Override
    public void memFree(long devicePointer) {
        check("cuMemFree", cuMemFree(devicePointer(devicePointer)));
    }

    @Override
    public MemorySegment memAllocHost(long bytes) {
        HostPointer p = new HostPointer();
        check("cuMemAllocHost", cuMemAllocHost(p, bytes));
        return MemorySegment.ofAddress(p.address()).reinterpret(bytes);
    }

    @Override
    public void memFreeHost(MemorySegment hostMemory) {
        check("cuMemFreeHost", cuMemFreeHost(NULL_HOST_POINTER.withByteOffset(hostMemory.address())));
    }

    @Override
    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
        Pointer host = hostPointer(src, bytes, "cuMemcpyHtoDAsync");
        check("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync(devicePointer(dst), host, bytes, streams.get(stream)));
        Reference.reachabilityFence(src);
    }

    @Override
    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream) {
        Pointer host = hostPointer(dst, bytes, "cuMemcpyDtoHAsync");
        check("cuMemcpyDtoHAsync", cuMemcpyDtoHAsync(host, devicePointer(src), bytes, streams.get(stream)));
        Reference.reachabilityFence(dst);
    }

    @Override
    public void memcpyDtoDAsync(long dst, long src, long bytes, long stream) {
        check("cuMemcpyDtoDAsync", cuMemcpyDtoDAsync(devicePointer(dst), devicePointer(src), bytes, streams.get(stream)));
    }

    @Override
    public void memsetD32Async(long dst, int value, long count, long stream) {
        check("cuMemsetD32Async", cuMemsetD32Async(devicePointer(dst), value, count, streams.get(stream)));
    }

    @Override
    public void memsetD8Async(long dst, byte value, long count, long stream) {
        check("cuMemsetD8Async", cuMemsetD8Async(devicePointer(dst), value, count, streams.get(stream)));
    }

    // ---------------------------------------------------------------- modules and launches

    @Override
    public long moduleLoadData(byte[] image) {
        Module m = new Module();
        check("cuModuleLoadData", cuModuleLoadData(m, image));
        modules.put(m.address(), m);
        return m.address();
    }

    @Override
    public void moduleUnload(long module) {
        check("cuModuleUnload", cuModuleUnload(modules.get(module)));
        modules.remove(module);
        List<Long> fs = functionsOfModule.remove(module);
        if (fs != null) {
            synchronized (fs) {
                fs.forEach(functions::remove);
            }
        }
    }

    @Override
    public long moduleGetFunction(long module, String name) {
        Function f = new Function();
        check("cuModuleGetFunction", cuModuleGetFunction(f, modules.get(module), name));
        functions.put(f.address(), f);
        List<Long> fs = functionsOfModule.computeIfAbsent(module, k -> new ArrayList<>());
        synchronized (fs) {
            fs.add(f.address());
        }
        return f.address();
    }

    @Override
    public int funcGetAttribute(FunctionAttribute attribute, long function) {
        int[] v = new int[1];
        check("cuFuncGetAttribute", cuFuncGetAttribute(v, JCudaConstants.of(attribute), functions.get(function)));
        return v[0];
    }

    @Override
    public void funcSetAttribute(long function, FunctionAttribute attribute, int value) {
        check("cuFuncSetAttribute", cuFuncSetAttribute(functions.get(function), JCudaConstants.of(attribute), value));
    }

    @Override
    public int occupancyMaxActiveBlocksPerMultiprocessor(long function, int blockSize, long dynamicSharedBytes) {
        int[] v = new int[1];
        check("cuOccupancyMaxActiveBlocksPerMultiprocessor",
                cuOccupancyMaxActiveBlocksPerMultiprocessor(v, functions.get(function), blockSize, dynamicSharedBytes));
        return v[0];
    }

    @Override
    public KernelParams newKernelParams(int capacity) {
        return new JCudaKernelParams(capacity);
    }

    @Override
    public void launchKernel(long function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                             int sharedBytes, long stream, KernelParams params) {
        if (!(params instanceof JCudaKernelParams p)) {
            throw new IllegalArgumentException("kernel parameters from another binding ("
                    + params.getClass().getSimpleName() + ") passed to the jcuda binding");
        }
        int r = cuLaunchKernel(functions.get(function), gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                streams.get(stream), p.kernelParams(), null);
        Reference.reachabilityFence(p); // its native slots must outlive the call
        if (r != CUresult.CUDA_SUCCESS) {
            throw error("cuLaunchKernel", r);
        }
    }

    // ---------------------------------------------------------------- JCuda handle subclasses

    // Each exposes JCuda's protected getNativePointer(): the address JCuda's JNI layer wrote.

    private static final class Device extends CUdevice {
        int value() {
            return (int) getNativePointer();
        }
    }

    private static final class Context extends CUcontext {
        long address() {
            return getNativePointer();
        }
    }

    private static final class Stream extends CUstream {
        long address() {
            return getNativePointer();
        }
    }

    private static final class Event extends CUevent {
        long address() {
            return getNativePointer();
        }
    }

    private static final class Module extends CUmodule {
        long address() {
            return getNativePointer();
        }
    }

    private static final class Function extends CUfunction {
        long address() {
            return getNativePointer();
        }
    }

    private static final class DevicePointer extends CUdeviceptr {
        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    private static final class HostPointer extends Pointer {
        long address() {
            return getNativePointer() + getByteOffset();
        }
    }
}
