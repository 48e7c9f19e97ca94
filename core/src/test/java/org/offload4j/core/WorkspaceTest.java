package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class WorkspaceTest {

    private static long address(Tensor t) {
        return t.segment().address();
    }

    /** The first call allocates; the buffer then grows to fit, and later calls reuse the same bytes. */
    @Test
    void aShapeTooLargeForALongIsAnArgumentError() {
        try (Workspace ws = Workspace.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> ws.allocate(DType.FP32, 1L << 62));
            assertTrue(e.getMessage().contains("overflows a long"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> ws.allocate(DType.FP32, 1L << 32, 1L << 32));
        }
    }

    @Test
    void laterFramesReuseTheThreadsBuffer() {
        long first;
        try (Workspace ws = Workspace.open()) {
            Tensor t = ws.allocate(DType.BF16, 3, 1000);
            t.setFloat(2, 999, 1.5f);
            assertEquals(1.5f, t.getFloat(2, 999));
            first = address(t);
        }
        assertTrue(Workspace.keptBytes() >= 6000, "kept " + Workspace.keptBytes());
        long again;
        try (Workspace ws = Workspace.open()) {
            again = address(ws.allocate(DType.BF16, 3, 1000));
        }
        try (Workspace ws = Workspace.open()) {
            assertEquals(again, address(ws.allocate(DType.FP32, 1500)), "the same bytes, call after call");
        }
        assertTrue(first != 0 && again != 0);
    }

    /** Temporaries of one frame, and of frames inside it, never share a byte and are 64-byte aligned. */
    @Test
    void nestedFramesHandOutDisjointAlignedBytes() {
        for (int warm = 0; warm < 2; warm++) { // the second round runs on the grown buffer
            try (Workspace outer = Workspace.open()) {
                Tensor a = outer.allocate(DType.FP8_E4M3FN, 7);
                Tensor b = outer.allocate(DType.FP32, 5, 3);
                Tensor c;
                try (Workspace inner = Workspace.open()) {
                    c = inner.allocate(DType.BF16, 17);
                    assertFalse(c.overlaps(a) || c.overlaps(b), "inner against outer");
                    assertEquals(0, address(c) % 64);
                }
                Tensor d = outer.allocate(DType.INT32, 9);
                assertFalse(a.overlaps(b) || d.overlaps(a) || d.overlaps(b));
                for (Tensor t : new Tensor[] {a, b, d}) {
                    assertEquals(0, address(t) % 64, t.describe());
                }
            }
        }
    }

    /** The CPU backend's workers must be able to read a temporary. */
    @Test
    void temporariesAreReadableByOtherThreads() throws Exception {
        try (Workspace ws = Workspace.open()) {
            Tensor t = ws.allocate(DType.FP32, 4);
            t.setFloat(0, 3, 42f);
            AtomicReference<Float> seen = new AtomicReference<>();
            Thread other = new Thread(() -> seen.set(t.getFloat(0, 3)));
            other.start();
            other.join();
            assertEquals(42f, seen.get());
        }
    }

    @Test
    void framesStayOnTheirThreadAndCloseInOrder() throws Exception {
        Workspace ws = Workspace.open();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread other = new Thread(() -> {
            try {
                ws.allocate(DType.FP32, 1);
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        other.start();
        other.join();
        assertTrue(thrown.get() instanceof IllegalStateException && thrown.get().getMessage().contains("thread that opened it"),
                String.valueOf(thrown.get()));
        Workspace inner = Workspace.open();
        IllegalStateException outerAllocates = assertThrows(IllegalStateException.class, () -> ws.allocate(DType.FP32, 1));
        assertTrue(outerAllocates.getMessage().contains("opened inside it"), outerAllocates.getMessage());
        IllegalStateException order = assertThrows(IllegalStateException.class, ws::close);
        assertTrue(order.getMessage().contains("reverse order"), order.getMessage());
        inner.close();
        ws.close();
        ws.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> ws.allocate(DType.FP32, 1));
    }

    /** Beyond the cap a temporary is a tensor of its own, freed with the frame, and the buffer does not grow to it. */
    @Test
    void largeTemporariesAreAllocatedAndFreed() {
        long kept = Workspace.keptBytes();
        Tensor big;
        try (Workspace ws = Workspace.open()) {
            big = ws.allocate(DType.FP32, Workspace.MAX_KEPT_BYTES / 4 + 16);
            big.setFloat(0, 0, 1f);
            assertTrue(big.isAlive());
        }
        assertFalse(big.isAlive(), "freed when the frame closed");
        assertEquals(kept, Workspace.keptBytes(), "the buffer does not grow for a temporary it may not keep");
    }

    @Test
    void rejectsBadArguments() {
        try (Workspace ws = Workspace.open()) {
            assertThrows(IllegalArgumentException.class, () -> ws.allocate(null, 1));
            assertThrows(IllegalArgumentException.class, () -> ws.allocate(DType.FP32, (long[]) null));
            assertThrows(IllegalArgumentException.class, () -> ws.allocate(DType.FP32, 2, -1));
        }
    }

    /** A virtual thread keeps no buffer: its temporaries are tensors of their own, freed with the frame. */
    @Test
    void virtualThreadsKeepNothing() throws Exception {
        AtomicReference<Throwable> failed = new AtomicReference<>();
        long[] kept = new long[2];
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                for (int call = 0; call < 2; call++) {
                    Tensor tmp;
                    try (Workspace ws = Workspace.open()) {
                        tmp = ws.allocate(DType.FP32, 1000);
                        tmp.setFloat(0, 999, 2f);
                        assertEquals(2f, tmp.getFloat(0, 999));
                    }
                    assertFalse(tmp.isAlive(), "freed with its frame");
                    kept[call] = Workspace.keptBytes();
                }
            } catch (Throwable e) {
                failed.set(e);
            }
        });
        t.join();
        if (failed.get() != null) {
            throw new AssertionError(failed.get());
        }
        assertEquals(0, kept[0]);
        assertEquals(0, kept[1]);
    }
}
