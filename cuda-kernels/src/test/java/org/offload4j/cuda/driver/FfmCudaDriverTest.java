package org.offload4j.cuda.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.bindings.CudaLibrary;

/** The FFM binding's parts that run without a GPU: loading, and the launch parameter buffer. */
class FfmCudaDriverTest {

    @Test
    void loadsWhereTheDriverLibraryExistsAndOtherwiseSaysWhy() {
        if (CudaLibrary.loadFailure().isPresent()) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> CudaDrivers.load("ffm"));
            assertTrue(e.getMessage().contains("libcuda"), e.getMessage());
        } else {
            assertEquals("ffm", CudaDrivers.load("ffm").bindingName());
        }
    }

    @Test
    void unknownBindingNamesAreRejectedWithTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaDrivers.load("opencl"));
        assertTrue(e.getMessage().contains("ffm") && e.getMessage().contains("jcuda"), e.getMessage());
    }

    @Test
    void parameterSlotsHoldTheValuesAndTheArrayPointsAtThem() {
        var p = new FfmCudaDriver.FfmKernelParams(4);
        p.pointer(0x1234_5678_9ABCL).i32(-7).f32(1.5f).i64(Long.MIN_VALUE);
        for (int i = 0; i < 4; i++) {
            MemorySegment target = p.pointers.getAtIndex(ValueLayout.ADDRESS, i);
            assertEquals(p.slots.address() + 8L * i, target.address(), "kernelParams[" + i + "]");
        }
        assertEquals(0x1234_5678_9ABCL, p.slots.get(ValueLayout.JAVA_LONG, 0));
        assertEquals(-7, p.slots.get(ValueLayout.JAVA_INT, 8));
        assertEquals(1.5f, p.slots.get(ValueLayout.JAVA_FLOAT, 16));
        assertEquals(Long.MIN_VALUE, p.slots.get(ValueLayout.JAVA_LONG, 24));
    }

    @Test
    void fillingParametersAllocatesNothing() {
        var p = new FfmCudaDriver.FfmKernelParams(8);
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().threadId();
        fill(p, 50_000); // let the JIT compile the path first
        long before = threads.getThreadAllocatedBytes(id);
        fill(p, 100_000);
        long allocated = threads.getThreadAllocatedBytes(id) - before;
        // A few hundred bytes of noise (the MXBean's own bookkeeping) at most; one allocation per
        // call would be megabytes here.
        assertTrue(allocated < 10_000, allocated + " bytes allocated for 100 000 parameter fills");
    }

    private static void fill(KernelParams p, int times) {
        for (int i = 0; i < times; i++) {
            p.clear().pointer(i).pointer(2L * i).i32(i).i32(-i).f32(i * 0.5f).i64(i);
        }
    }
}
