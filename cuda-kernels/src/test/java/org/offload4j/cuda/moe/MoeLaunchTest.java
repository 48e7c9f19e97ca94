package org.offload4j.cuda.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.offload4j.cuda.attention.KernelSignatures;
import org.offload4j.moe.Routing;

class MoeLaunchTest {

    @Test
    void tilesOfTheNumericsHeaderExample() {
        // moe_numerics.cuh: E = 4, bm = 16, offsets {0, 0, 5, 5, 38}
        assertArrayEquals(new int[] {1, 0, 3, 5, 3, 21, 3, 37}, MoeLaunch.tiles(new int[] {0, 0, 5, 5, 38}));
        assertArrayEquals(new int[0], MoeLaunch.tiles(new int[] {0, 0, 0}));
    }

    @Test
    void tilesCoverEveryPermutedRowOnceWithinItsExpert() {
        Random rnd = new Random(7);
        for (int iter = 0; iter < 300; iter++) {
            int experts = 1 + rnd.nextInt(20);
            int k = 1 + rnd.nextInt(Math.min(8, experts));
            int tokens = rnd.nextInt(50);
            int[] ids = new int[tokens * k];
            float[] w = new float[ids.length];
            for (int t = 0; t < tokens; t++) {
                int[] perm = rnd.ints(0, experts).distinct().limit(k).toArray();
                System.arraycopy(perm, 0, ids, t * k, k);
            }
            Routing r = Routing.of(experts, k, ids, w);
            int[] tiles = MoeLaunch.tiles(r.offsets());
            int[] covered = new int[r.copies()];
            for (int i = 0; i < tiles.length; i += 2) {
                int e = tiles[i];
                int row0 = tiles[i + 1];
                int rows = Math.min(MoeLaunch.GEMM_BM, r.offset(e + 1) - row0);
                assertTrue(rows >= 1 && row0 >= r.offset(e));
                for (int p = row0; p < row0 + rows; p++) {
                    assertEquals(e, r.expertOfCopy(p));
                    covered[p]++;
                }
            }
            for (int c : covered) {
                assertEquals(1, c);
            }
        }
    }

    @Test
    void grids() {
        MoeLaunch.Grid g = MoeLaunch.routerLogits(33, 130);
        assertEquals(2 * 5, g.gridX());
        assertEquals(128, g.blockX());
        assertEquals(9, MoeLaunch.routerTopk(33).gridX());
        assertEquals(128, MoeLaunch.routerTopk(33).blockX());
        MoeLaunch.Grid gemm = MoeLaunch.groupedGemm(true, 5, 2 * 2816);
        assertEquals(MoeLaunch.GEMM_W4A16, gemm.kernel());
        assertEquals(5, gemm.gridX());
        assertEquals(44, gemm.gridY());
        assertEquals(MoeLaunch.GEMM_BF16, MoeLaunch.groupedGemm(false, 1, 8).kernel());
        assertEquals(1, MoeLaunch.swiglu(7, 256).gridY());
        assertEquals(2, MoeLaunch.swiglu(7, 257).gridY());
        assertEquals(7, MoeLaunch.combine(7, 1).gridX());
        assertThrows(IllegalArgumentException.class, () -> MoeLaunch.groupedGemm(false, 1, 65536 * 128 + 1));
    }

    @Test
    void argumentsMatchTheKernelSignatures() throws IOException {
        KernelSignatures.Recorder rec = new KernelSignatures.Recorder();
        MoeLaunch.routerLogitsParams(rec, 1, 2, 3, true, 4, 5, 6, 7, 8);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.ROUTER_LOGITS), rec.slots());
        MoeLaunch.routerTopkParams(rec, 1, 2, 3, 4, true, 5, 6);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.ROUTER_TOPK), rec.slots());
        MoeLaunch.gemmBf16Params(rec, 1, true, 2, 0, 3, 4, 5, 6, 7, 8, 9, false, 10);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.GEMM_BF16), rec.slots());
        MoeLaunch.gemmW4a16Params(rec, 1, true, 2, 0, 3, 0, 4, 2, 128, 5, 6, 7, 8, 9, false, 10);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.GEMM_W4A16), rec.slots());
        MoeLaunch.swigluParams(rec, 1, false, 2, 3, true, 4, 5, 6);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.SWIGLU), rec.slots());
        MoeLaunch.combineParams(rec, 1, false, 2, 3, 4, 2, 5, true, 6, 7, 8);
        assertEquals(KernelSignatures.slots("moe.cu", MoeLaunch.COMBINE), rec.slots());
    }
}
