package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.driver.KernelParams;

/**
 * A launch through the runtime ({@link CudaFunction#launch}: context check, shared-memory check,
 * driver call) with parameters refilled each time allocates nothing on the Java heap. The driver
 * here lays its parameters out as the FFM binding does (native 8-byte slots and a native
 * {@code void*[]} pointing at them, both made once) and its "launch" reads them back through that
 * array, as {@code cuLaunchKernel} would; so what is measured is everything on the Java side of
 * the native call. The FFM binding's own parameter buffer is checked the same way by
 * {@code FfmCudaDriverTest}; its downcall, on a GPU, by {@code offload bench launch}.
 */
class LaunchAllocationTest {
    /** FFM-style parameters: slots and the pointer array in native memory. */
    static final class SegmentParams extends KernelParams {
        final MemorySegment slots;
        final MemorySegment args;

        SegmentParams(int capacity) {
            super(capacity);
            Arena arena = Arena.ofAuto();
            slots = arena.allocate(8L * capacity, 8);
            args = arena.allocate(ValueLayout.ADDRESS, capacity);
            for (int i = 0; i < capacity; i++) {
                args.setAtIndex(ValueLayout.ADDRESS, i, slots.asSlice(8L * i, 8));
            }
        }

        @Override
        protected void writeInt(int slot, int value) {
            slots.setAtIndex(ValueLayout.JAVA_LONG, slot, value & 0xFFFF_FFFFL);
        }

        @Override
        protected void writeLong(int slot, long value) {
            slots.setAtIndex(ValueLayout.JAVA_LONG, slot, value);
        }
    }

    static final class SegmentParamsDriver extends FakeCudaDriver {
        /** All of memory, so reading through an address makes no segment (even before the JIT runs). */
        private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);
        long launches;
        long checksum;

        @Override
        public KernelParams newKernelParams(int capacity) {
            return new SegmentParams(capacity);
        }

        @Override
        public void launchKernel(long function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                                 int sharedBytes, long stream, KernelParams params) {
            SegmentParams p = (SegmentParams) params;
            for (int i = 0; i < p.count(); i++) {
                long slotAddress = p.args.getAtIndex(ValueLayout.JAVA_LONG, i);
                checksum += ALL.get(ValueLayout.JAVA_LONG, slotAddress);
            }
            launches++;
        }
    }

    @Test
    void tenThousandLaunchesWithFreshArgumentsAllocateNothing() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        SegmentParamsDriver driver = new SegmentParamsDriver();
        driver.kernel("o4j_empty", (a, gx, gy, gz, bx, s) -> { });
        try (CudaDevice device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
             CudaStream stream = device.createStream()) {
            CudaFunction f = device.function("o4j_empty");
            KernelParams params = driver.newKernelParams(8);
            for (int i = 0; i < 20_000; i++) { // warm-up: thread-local context, JIT
                launch(f, stream, params, i);
            }
            long expected = driver.checksum;
            // The fewest bytes of three rounds: a launch that allocates does so in every round, while
            // a one-off of the JIT's in one round (a deoptimization re-materializing an object: one
            // fresh-clone run of `mvnw verify` saw exactly 1024 bytes once) does not.
            long allocated = Long.MAX_VALUE;
            for (int round = 0; round < 3; round++) {
                long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < 10_000; i++) {
                    launch(f, stream, params, i);
                }
                allocated = Math.min(allocated, threads.getCurrentThreadAllocatedBytes() - before);
            }
            assertEquals(50_000, driver.launches);
            assertTrue(driver.checksum != expected, "the launches read their arguments");
            assertTrue(allocated < 1024, allocated + " bytes allocated by 10 000 launches (the fewest of three rounds)");
        }
    }

    private static void launch(CudaFunction f, CudaStream stream, KernelParams p, int i) {
        p.clear().pointer(0x7000_0000L + 256L * i).pointer(0x7100_0000L).i32(i).i32(4096).f32(0.125f);
        f.launch(stream, 1 + (i & 7), 1, 1, 128, 1, 1, 0, p);
    }

    @Test
    void theSlotsHoldWhatTheKernelReads() {
        SegmentParams p = new SegmentParams(3);
        p.pointer(0xDEAD_BEEF_0000L).i32(-2).f32(2.5f);
        assertEquals(0xDEAD_BEEF_0000L, p.slots.getAtIndex(ValueLayout.JAVA_LONG, 0));
        assertEquals(-2, p.slots.getAtIndex(ValueLayout.JAVA_INT, 2), "an int lies in its slot's first four bytes");
        assertEquals(2.5f, p.slots.getAtIndex(ValueLayout.JAVA_FLOAT, 4));
    }
}
