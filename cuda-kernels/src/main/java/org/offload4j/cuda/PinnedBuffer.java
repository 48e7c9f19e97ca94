package org.offload4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;

/**
 * Page-locked host memory from {@code cuMemAllocHost}: Java reads and writes it like any native
 * segment, and copies between it and the device run at full PCIe/NVLink speed and truly
 * asynchronously. Freed by {@link #close()}, or by a Cleaner with a warning if forgotten, or by
 * its device's close() if still open then ({@link MemoryRelease}).
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
        this.release = new Release(device, raw, arena);
        device.track(release);
        this.cleanable = Resources.CLEANER.register(this, release);
    }

    /**
     * The memory; valid until {@link #close()} or its device's.
     *
     * @throws IllegalStateException once the buffer or its device is closed
     */
    public MemorySegment segment() {
        if (release.isClaimed()) {
            throw new IllegalStateException("pinned buffer of " + segment.byteSize() + " bytes is closed");
        }
        return segment;
    }

    @Override
    public void close() {
        release.markExplicit();
        cleanable.clean();
    }

    private static final class Release extends MemoryRelease {
        private final MemorySegment segment;
        private final Arena arena;

        Release(CudaDevice device, MemorySegment segment, Arena arena) {
            super(device, segment.byteSize());
            this.segment = segment;
            this.arena = arena;
        }

        @Override
        void free() {
            arena.close();
            device().makeCurrent();
            device().driver().memFreeHost(segment);
        }

        @Override
        String describe() {
            return "a pinned host buffer of " + bytes() + " bytes";
        }
    }
}
