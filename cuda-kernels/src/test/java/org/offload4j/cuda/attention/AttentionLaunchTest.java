package org.offload4j.cuda.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.offload4j.attention.AttentionShape;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

class AttentionLaunchTest {

    @Test
    void gridCoversEveryQueryRowOfEveryHead() {
        AttentionShape s = new AttentionShape(3, 8, 2, 17, 45, 128);
        AttentionLaunch l = AttentionLaunch.of(s);
        assertEquals("o4j_attention_fp8_fwd_d128", l.kernel());
        assertEquals(2 * 3 * 8, l.gridX());   // ceil(17/16) = 2 tiles per (b, h)
        assertEquals(128, l.blockX());
        assertEquals(0, l.sharedBytes());
        // the kernel's decoding of the flat block index, for every block: each (bh, row) exactly once
        int qTiles = 2;
        boolean[][] seen = new boolean[3 * 8][17];
        for (int x = 0; x < l.gridX(); x++) {
            int tile = x % qTiles;
            int bh = x / qTiles;
            for (int r = 0; r < AttentionLaunch.BLOCK_M; r++) {
                int i = tile * AttentionLaunch.BLOCK_M + r;
                if (i < 17) {
                    assertFalse(seen[bh][i]);
                    seen[bh][i] = true;
                }
            }
        }
        for (boolean[] row : seen) {
            for (boolean b : row) {
                assertTrue(b);
            }
        }
    }

    @Test
    void oneRowOneBlockAndEdgeSizes() {
        assertEquals(1, AttentionLaunch.of(new AttentionShape(1, 1, 1, 1, 0, 64)).gridX());
        assertEquals(1, AttentionLaunch.of(new AttentionShape(1, 1, 1, 16, 3, 256)).gridX());
        assertEquals(2, AttentionLaunch.of(new AttentionShape(1, 1, 1, 17, 3, 256)).gridX());
        assertThrows(IllegalArgumentException.class, () -> AttentionLaunch.of(new AttentionShape(1, 1, 1, 0, 3, 64)));
        assertThrows(IllegalArgumentException.class, () -> AttentionLaunch.of(new AttentionShape(1, 1, 1, 4, 3, 96)));
        assertThrows(IllegalArgumentException.class,
                () -> AttentionLaunch.of(new AttentionShape(65536, 1024, 1, 1 << 20, 3, 64)));
    }

    @Test
    void staticSharedMemoryMatchesPtxasAndFitsWithoutOptIn() {
        assertEquals(10368, AttentionLaunch.staticSharedBytes(64));
        assertEquals(18560, AttentionLaunch.staticSharedBytes(128));
        assertEquals(34944, AttentionLaunch.staticSharedBytes(256));
        assertTrue(AttentionLaunch.staticSharedBytes(256) <= 48 * 1024);
    }

    @Test
    void scaleStridesAndAlignment() {
        try (Tensor perTensor = Tensor.allocate(DType.FP32, 1);
             Tensor perHead = Tensor.allocate(DType.FP32, 2, 8)) {
            assertArrayEquals(new long[] {0, 0}, AttentionLaunch.scaleStrides(perTensor));
            assertArrayEquals(new long[] {8, 1}, AttentionLaunch.scaleStrides(perHead));
            Tensor padded = Tensor.wrapStrided(Arena.ofAuto().allocate(4 * 19, Tensor.ALIGNMENT), DType.FP32, 11, 2, 8);
            assertArrayEquals(new long[] {11, 1}, AttentionLaunch.scaleStrides(padded), "padded rows: their stride");
        }
        assertTrue(AttentionLaunch.inputStrideOk(64));
        assertFalse(AttentionLaunch.inputStrideOk(66));
        assertTrue(AttentionLaunch.outputStrideOk(130));
        assertFalse(AttentionLaunch.outputStrideOk(129));
    }

    @Test
    void argumentsMatchTheKernelSignatures() throws IOException {
        KernelSignatures.Recorder rec = new KernelSignatures.Recorder();
        AttentionLaunch.params(rec, new AttentionShape(2, 4, 2, 5, 7, 64, 11), 1, 64, 2, 64, 3, 64,
                4, new long[] {0, 0}, 5, new long[] {2, 1}, 6, new long[] {2, 1}, 7, 64, 0, 5, true, 0.125f);
        for (int d : new int[] {64, 128, 256}) {
            assertEquals(KernelSignatures.slots("attention.cu", AttentionLaunch.kernelName(d)), rec.slots(), "D = " + d);
        }
        assertEquals(27, rec.values.size());
        assertEquals(7L, rec.values.get(23));   // skv: the keys that take part
        assertEquals(11L, rec.values.get(24));  // kv_cap: the keys per head in memory (a KV cache's capacity)
        assertEquals(1L, rec.values.get(25));   // causal
        assertEquals((long) Float.floatToRawIntBits(0.125f), rec.values.get(26));
    }
}
