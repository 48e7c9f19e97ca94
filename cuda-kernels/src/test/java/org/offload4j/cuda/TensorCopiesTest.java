package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/** {@link CudaDevice#copy}'s rules on tensors that share memory, on the fake driver. */
class TensorCopiesTest {
    private CudaDevice device;
    private Arena arena;

    @BeforeEach
    void open() {
        device = CudaDevice.open(new FakeCudaDriver(), 0, KernelImage.of(new byte[] {1}, new Properties()));
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() {
        arena.close();
        device.close();
    }

    /** Rows {@code from .. from + rows − 1} of a 4 × 2 fp32 buffer holding 0 … 7, as a tensor. */
    private Tensor rowsOf(MemorySegment buffer, long from, long rows, long rowStride) {
        return Tensor.wrapStrided(buffer.asSlice(from * 2 * 4), DType.FP32, rowStride, rows, 2);
    }

    private MemorySegment buffer() {
        MemorySegment b = arena.allocate(8 * 4, 4);
        for (int i = 0; i < 8; i++) {
            b.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, i);
        }
        return b;
    }

    private static float[] values(MemorySegment b) {
        return b.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
    }

    @Test
    void aPartialOverlapIsRefusedInEitherDirectionAndNothingIsWritten() {
        MemorySegment b = buffer();
        for (long[] fromTo : new long[][] {{0, 1}, {1, 0}}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> device.copy(rowsOf(b, fromTo[0], 3, 2), rowsOf(b, fromTo[1], 3, 2)));
            assertTrue(e.getMessage().contains("dst partially overlaps src"), e.getMessage());
        }
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7}, values(b));
        // Strided: rows 0 and 2 of the buffer onto rows 1 and 3 share nothing (they interleave) ...
        device.copy(rowsOf(b, 0, 2, 4), rowsOf(b, 1, 2, 4));
        assertArrayEquals(new float[] {0, 1, 0, 1, 4, 5, 4, 5}, values(b));
        // ... onto rows 1 and 2 they do (row 2 is a source row).
        assertThrows(IllegalArgumentException.class, () -> device.copy(rowsOf(b, 0, 2, 4), rowsOf(b, 1, 2, 2)));
        assertArrayEquals(new float[] {0, 1, 0, 1, 4, 5, 4, 5}, values(b));
    }

    @Test
    void aTensorCopiedOntoItselfIsLeftAsItIs() {
        MemorySegment b = buffer();
        Tensor t = rowsOf(b, 0, 4, 2);
        device.copy(t, t);
        device.copy(t, rowsOf(b, 0, 4, 2));
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7}, values(b));
    }

    @Test
    void disjointRowsOfOneBufferAreCopied() {
        MemorySegment b = buffer();
        device.copy(rowsOf(b, 0, 2, 2), rowsOf(b, 2, 2, 2));
        assertArrayEquals(new float[] {0, 1, 2, 3, 0, 1, 2, 3}, values(b));
    }
}
