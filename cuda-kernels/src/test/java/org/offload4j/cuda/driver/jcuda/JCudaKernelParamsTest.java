package org.offload4j.cuda.driver.jcuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import jcuda.Pointer;
import org.junit.jupiter.api.Test;

/** The JCuda parameter buffer, which is plain Java and native memory: no driver needed. */
class JCudaKernelParamsTest {
    @Test
    void slotsHoldTheValuesAsCuLaunchKernelReadsThem() {
        JCudaKernelParams p = new JCudaKernelParams(4);
        p.pointer(0x7f12_3456_7800L).i32(-3).f32(1.5f).i64(-1L << 40);
        assertEquals(0x7f12_3456_7800L, p.slot(0));
        assertEquals(-3, (int) p.slot(1));
        assertEquals(0, p.slot(1) >>> 32, "an int fills the slot's low half and clears the rest");
        assertEquals(Float.floatToRawIntBits(1.5f), (int) p.slot(2));
        assertEquals(-1L << 40, p.slot(3));
        for (int i = 0; i < 4; i++) {
            assertEquals(p.slotAddress(i), p.elementAddress(i), "element " + i + " points at its slot");
        }
    }

    @Test
    void noArgumentsPassNullAndOverflowIsRejected() {
        JCudaKernelParams p = new JCudaKernelParams(1);
        assertNull(p.kernelParams());
        p.i32(1);
        assertThrows(IllegalStateException.class, () -> p.i32(2));
    }

    @Test
    void theArgumentArrayIsMadeOncePerCountThenReused() {
        JCudaKernelParams p = new JCudaKernelParams(8);
        p.clear().pointer(1).pointer(2);
        Pointer two = p.kernelParams();
        p.i32(3);
        Pointer three = p.kernelParams();
        p.clear().i32(5).i32(6);
        assertSame(two, p.kernelParams());
        p.f32(7);
        assertSame(three, p.kernelParams());
    }

    @Test
    void refillingAndBuildingTheLaunchArgumentAllocatesNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        JCudaKernelParams p = new JCudaKernelParams(40);
        long sink = 0;
        for (int i = 0; i < 20_000; i++) { // warm-up: the per-count arrays and JIT
            sink += fill(p, i).kernelParams().hashCode();
        }
        // The fewest bytes of three rounds, as in LaunchAllocationTest: a fill that allocates does so
        // in every round, a one-off of the JIT's (a deoptimization) in one.
        long allocated = Long.MAX_VALUE;
        for (int round = 0; round < 3; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 10_000; i++) {
                sink += fill(p, i).kernelParams().hashCode();
            }
            allocated = Math.min(allocated, threads.getCurrentThreadAllocatedBytes() - before);
        }
        assertTrue(allocated < 1024, allocated + " bytes allocated over 10 000 launches' parameters, the fewest of three rounds ("
                + sink + ")");
    }

    private static JCudaKernelParams fill(JCudaKernelParams p, int i) {
        return (JCudaKernelParams) p.clear().pointer(0x1000L + i).pointer(0x2000L).i32(i).f32(i * 0.5f).i64(i);
    }
}
