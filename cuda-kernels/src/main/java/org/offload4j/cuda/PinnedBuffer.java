package org.offload4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import org.offload4j.cuda.driver.CudaDriver;

/**
 * Page-locked host memory from {@code cuMemAllocHost}: Java reads and writes it like any native
 * segment, and copies between it and the device run at full PCIe/NVLink speed and truly
 * asynchronously. Freed by {@link #close()}, or by a Cleaner with a warning if forgotten.
 */
public final class PinnedBuffer implements AutoCloseable {
    private final MemorySegment segment;
    private final Release release;
    private final Cleaner.Cleanable cleanable;

    PinnedBuffer(CudaDevice device, MemorySegment raw) {
        // The segment handed out is scoped to an arena closed before the memory is freed, so a
        // segment kept past close() fails on use instead of touching freed memory.
        Arena arena = Arena.ofShared();
        this.segment = raw.reinterpret(arena, null);
        this.release = new Release(device.driver(), device.context(), raw, arena);
        this.cleanable = Resources.CLEANER.register(this, release);
    }

    /** The memory; valid until {@link #close()}. */
    public MemorySegment segment() {
        if (release.freed) {
            throw new IllegalStateException("pinned buffer of " + segment.byteSize() + " bytes is closed");
        }
        return segment;
    }

    @Override
    public void close() {
        release.explicit = true;
        cleanable.clean();
    }

    private static final class Release implements Runnable {
        private final CudaDriver driver;
        private final long context;
        private final MemorySegment segment;
        private final Arena arena;
        volatile boolean explicit;
        volatile boolean freed;

        Release(CudaDriver driver, long context, MemorySegment segment, Arena arena) {
            this.driver = driver;
            this.context = context;
            this.segment = segment;
            this.arena = arena;
        }

        @Override
        public void run() {
            freed = true;
            if (!explicit) {
                Resources.warnLeak("a pinned host buffer of " + segment.byteSize() + " bytes");
            }
            arena.close();
            CudaDevice.setCurrent(driver, context);
            driver.memFreeHost(segment);
        }
    }
}
