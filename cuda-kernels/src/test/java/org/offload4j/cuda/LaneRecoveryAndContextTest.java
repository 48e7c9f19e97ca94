package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.driver.CudaOutOfMemoryException;

/**
 * Recovery of a device's lanes after a failed allocation, the context each driver step runs in,
 * and closing a device after a sticky error (fake driver; all were bugs found in reviews).
 */
class LaneRecoveryAndContextTest {
    private static KernelImage image() {
        return KernelImage.of(new byte[] {1}, new Properties());
    }

    /** After an OOM while growing a lane's scratch slot, a later, smaller call on that lane must still work. */
    @Test
    void laneSlotStaysUsableAfterGrowOom() {
        FakeCudaDriver driver = new FakeCudaDriver();
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try {
            try (CudaCall call = CudaCall.begin(device)) {
                call.scratch(1024);
                call.finish();
            }
            driver.memoryLimit = 1 << 20;
            assertThrows(CudaOutOfMemoryException.class, () -> {
                try (CudaCall call = CudaCall.begin(device)) {
                    call.scratch(2 << 20);
                }
            });
            driver.memoryLimit = Long.MAX_VALUE;
            try (CudaCall call = CudaCall.begin(device)) {
                call.scratch(512);   // the freed buffer once stayed in the slot
                call.finish();
            }
        } finally {
            device.close();
        }
    }

    /** Same for the lane's pinned staging area when cuMemAllocHost fails while growing it. */
    @Test
    void lanePinnedAreaStaysUsableAfterFailedGrow() {
        boolean[] fail = {false};
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public MemorySegment memAllocHost(long bytes) {
                if (fail[0]) {
                    throw new CudaOutOfMemoryException("cuMemAllocHost", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");
                }
                return super.memAllocHost(bytes);
            }
        };
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try {
            try (CudaCall call = CudaCall.begin(device)) {
                call.upload(new float[4]);
                call.finish();
            }
            fail[0] = true;
            assertThrows(CudaOutOfMemoryException.class, () -> {
                try (CudaCall call = CudaCall.begin(device)) {
                    call.upload(new float[100_000]);
                }
            });
            fail[0] = false;
            try (CudaCall call = CudaCall.begin(device)) {
                call.upload(new float[4]);   // the freed area once stayed in the lane
                call.finish();
            }
        } finally {
            device.close();
        }
    }

    /** A slot that would grow by half again past free memory takes just the request. */
    @Test
    void aSlotGrowsToTheRequestWhenHalfAgainDoesNotFit() {
        FakeCudaDriver driver = new FakeCudaDriver();
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try {
            try (CudaCall call = CudaCall.begin(device)) {
                call.scratch(1_000_000);
                call.finish();
            }
            driver.memoryLimit = 1_400_000;
            try (CudaCall call = CudaCall.begin(device)) {
                call.scratch(1_200_000); // 1.5 MB does not fit, 1.2 MB does
                call.finish();
            }
        } finally {
            device.close();
        }
    }

    /** A lane whose kernel parameter buffer cannot be made destroys the stream it had already created. */
    @Test
    void aLaneThatFailsHalfwayDestroysItsStream() {
        List<Long> created = new ArrayList<>();
        List<Long> destroyed = new ArrayList<>();
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public synchronized long streamCreate(int flags) {
                long stream = super.streamCreate(flags);
                created.add(stream);
                return stream;
            }

            @Override
            public void streamDestroy(long stream) {
                destroyed.add(stream);
            }

            @Override
            public org.offload4j.cuda.driver.KernelParams newKernelParams(int capacity) {
                throw new IllegalStateException("no memory for kernel parameters");
            }
        };
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try {
            var e = assertThrows(IllegalStateException.class, () -> CudaCall.begin(device));
            assertEquals("no memory for kernel parameters", e.getMessage());
            assertEquals(1, created.size(), "the lane created its stream before failing");
            assertEquals(created, destroyed, "and destroyed it");
        } finally {
            device.close();
        }
    }

    /**
     * Other code on the thread (the CUDA runtime, PyTorch, another binding) switched to another
     * context: the device's next step must make its own current again, not trust a record.
     */
    @Test
    void aContextSwitchedBehindTheDevicesBackIsMadeCurrentAgain() {
        long[] current = {0};
        List<Long> allocContexts = new ArrayList<>();
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public void ctxSetCurrent(long context) {
                current[0] = context;
            }

            @Override
            public synchronized long memAlloc(long bytes) {
                allocContexts.add(current[0]);
                return super.memAlloc(bytes);
            }
        };
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try {
            device.allocate(16).close();
            driver.ctxSetCurrent(0xBAD);
            device.allocate(16).close();
            assertEquals(List.of(0xC0L, 0xC0L), allocContexts);
        } finally {
            device.close();
        }
    }

    /**
     * After a sticky error every driver call fails: close() still tries every step, releases the
     * primary context (so that it can be reset), throws the first failure, and a second close()
     * does nothing.
     */
    @Test
    void closeAfterAStickyErrorStillReleasesThePrimaryContext() {
        boolean[] sticky = {false};
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public void streamDestroy(long stream) {
                if (sticky[0]) {
                    throw new org.offload4j.cuda.driver.CudaException("cuStreamDestroy", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "illegal address");
                }
                super.streamDestroy(stream);
            }
        };
        CudaDevice device = CudaDevice.open(driver, 0, image());
        try (CudaCall call = CudaCall.begin(device)) {
            call.scratch(4096);
            call.finish();
        }
        sticky[0] = true;
        var e = assertThrows(org.offload4j.cuda.driver.CudaException.class, device::close);
        assertTrue(e.getMessage().contains("cuStreamDestroy"), e.getMessage());
        assertTrue(driver.calls.contains("unload") && driver.calls.contains("release"), driver.calls.toString());
        assertEquals(0, driver.allocated, "the lane's scratch freed although its stream could not be destroyed");
        int calls = driver.calls.size();
        device.close();
        assertEquals(calls, driver.calls.size(), "a second close does nothing");
    }

    /** Two devices: freeing a buffer of device 1 must not make device 0's next allocation land in device 1's context. */
    @Test
    void allocationRunsInTheDevicesOwnContextAfterAnotherDevicesBufferIsFreed() {
        ThreadLocal<Long> current = ThreadLocal.withInitial(() -> 0L);
        List<Long> allocContexts = new ArrayList<>();
        FakeCudaDriver driver = new FakeCudaDriver() {
            @Override
            public long devicePrimaryCtxRetain(int device) {
                return 0xC0 + device;
            }

            @Override
            public void ctxSetCurrent(long context) {
                current.set(context);
            }

            @Override
            public synchronized long memAlloc(long bytes) {
                allocContexts.add(current.get());
                return super.memAlloc(bytes);
            }
        };
        CudaDevice d0 = CudaDevice.open(driver, 0, image());
        CudaDevice d1 = CudaDevice.open(driver, 1, image());
        try {
            DeviceBuffer b1 = d1.allocate(16);
            DeviceBuffer b0 = d0.allocate(16);
            b1.close();  // its free sets device 1's context
            DeviceBuffer c0 = d0.allocate(16);
            assertEquals(0xC0L, allocContexts.get(2), "d0.allocate ran with context 0x"
                    + Long.toHexString(allocContexts.get(2)) + " current");
            b0.close();
            c0.close();
        } finally {
            d1.close();
            d0.close();
        }
    }
}
