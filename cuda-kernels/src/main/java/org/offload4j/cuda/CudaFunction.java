package org.offload4j.cuda;

import org.offload4j.cuda.driver.FunctionAttribute;
import org.offload4j.cuda.driver.KernelParams;

/**
 * One {@code extern "C"} kernel of the loaded image, with the attributes ptxas gave it.
 * Launches are thread-safe as long as each thread uses its own {@link KernelParams}.
 */
public final class CudaFunction {
    /** Dynamic shared memory a kernel may use without opting in. */
    static final int DEFAULT_DYNAMIC_SHARED_LIMIT = 48 * 1024;

    private final CudaDevice device;
    private final String name;
    private final long handle;
    private final int registers;
    private final int maxThreadsPerBlock;
    private final int localBytes;
    private volatile int dynamicSharedLimit = DEFAULT_DYNAMIC_SHARED_LIMIT;

    CudaFunction(CudaDevice device, String name, long handle) {
        this.device = device;
        this.name = name;
        this.handle = handle;
        this.registers = device.driver().funcGetAttribute(FunctionAttribute.NUM_REGS, handle);
        this.maxThreadsPerBlock = device.driver().funcGetAttribute(FunctionAttribute.MAX_THREADS_PER_BLOCK, handle);
        this.localBytes = device.driver().funcGetAttribute(FunctionAttribute.LOCAL_SIZE_BYTES, handle);
    }

    public String name() {
        return name;
    }

    public int registers() {
        return registers;
    }

    public int maxThreadsPerBlock() {
        return maxThreadsPerBlock;
    }

    /** Local (stack/spill) memory per thread; the build fails on spills, so normally 0. */
    public int localBytes() {
        return localBytes;
    }

    /**
     * Launches the kernel on {@code stream} with {@code params} as its arguments; raises the
     * kernel's dynamic shared memory limit first when {@code sharedBytes} is above the default
     * 48 KiB (the device's opt-in maximum bounds it).
     */
    public void launch(CudaStream stream, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                       int sharedBytes, KernelParams params) {
        if (sharedBytes > dynamicSharedLimit) {
            raiseDynamicSharedLimit(sharedBytes);
        }
        device.makeCurrent();
        device.driver().launchKernel(handle, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                stream.handle(), params);
    }

    private synchronized void raiseDynamicSharedLimit(int sharedBytes) {
        if (sharedBytes <= dynamicSharedLimit) {
            return;
        }
        int max = device.maxSharedPerBlockOptin();
        if (sharedBytes > max) {
            throw new IllegalArgumentException(name + " needs " + sharedBytes + " bytes of shared memory; "
                    + device.name() + " allows at most " + max + " per block");
        }
        device.makeCurrent();
        device.driver().funcSetAttribute(handle, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes);
        dynamicSharedLimit = sharedBytes;
    }

    /** Blocks of {@code blockSize} threads that fit on one SM at once with that much dynamic shared memory. */
    public int maxActiveBlocksPerSm(int blockSize, int dynamicSharedBytes) {
        device.makeCurrent();
        return device.driver().occupancyMaxActiveBlocksPerMultiprocessor(handle, blockSize, dynamicSharedBytes);
    }

    @Override
    public String toString() {
        return name + " (" + registers + " registers)";
    }
}
