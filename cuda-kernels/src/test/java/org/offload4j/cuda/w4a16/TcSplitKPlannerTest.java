package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TcSplitKPlannerTest {
    static final int H100 = 132;
    static final int A100 = 108;
    static final int[][] ISSUE_SHAPES = {{4096, 4096}, {8192, 8192}, {28672, 8192}, {8192, 28672}};

    private static void checkInvariants(TcSplitKPlanner.Plan p, int m, int n, int k, int g, int sms) {
        String where = p + " for m=" + m + " n=" + n + " k=" + k + " g=" + g + " sms=" + sms;
        int kPad = TcPackedLayout.paddedK(k);
        int slabs = TcPackedLayout.slabs(n);
        assertTrue(p.mTiles() == 1 || p.mTiles() == 2 || p.mTiles() == 4, where);
        assertEquals(m <= 16 ? 1 : m <= 32 ? 2 : 4, p.mTiles(), where);
        assertTrue(p.tileN() == 64 || p.tileN() == 128 || p.tileN() == 256, where);
        assertEquals(8192 / p.tileN(), p.tileK(), where);            // a stage is always 8 warp tiles = 4 KiB of weight
        assertEquals(Math.ceilDiv(slabs, p.tileN() / 64), p.nTiles(), where);
        assertEquals(Math.ceilDiv(m, 16 * p.mTiles()), p.mBlocks(), where);
        // splits cover k exactly, in tile- and group-aligned chunks, none empty
        assertEquals(0, p.kChunk() % p.tileK(), where);
        if (g < k) {
            assertEquals(0, p.kChunk() % g, where);
        }
        assertTrue((long) p.splits() * p.kChunk() >= kPad, where);
        assertTrue((long) (p.splits() - 1) * p.kChunk() < kPad, where);
        assertTrue(p.splits() >= 1 && p.splits() <= TcSplitKPlanner.MAX_SPLITS, where);
        // one wave: at least one block per SM whenever there are that many pieces of work
        int unit = g < k ? Math.max(p.tileK(), g) : p.tileK();
        long pieces = (long) Math.ceilDiv(kPad, unit) * p.nTiles() * p.mBlocks();
        if (pieces >= sms && (long) p.nTiles() * p.mBlocks() * TcSplitKPlanner.MAX_SPLITS >= 2L * sms) {
            assertTrue(p.blocks() >= sms, "fewer blocks than SMs: " + where);
        }
        // workspace
        if (p.splits() == 1) {
            assertEquals(0, p.workspaceBytes(), where);
        } else {
            long partials = (long) p.mBlocks() * p.splits() * 16 * p.mTiles() * p.nTiles() * p.tileN() * 4;
            assertEquals(partials, p.counterOffset(), where);
            assertEquals(p.mBlocks() * p.nTiles(), p.counterCount(), where);
            assertEquals(partials + 4L * p.counterCount(), p.workspaceBytes(), where);
        }
        // shared memory
        int stage = 4096 + 16 * p.mTiles() * (2 * p.tileK() + 16) + 1152;
        assertEquals(Math.max(4 * stage, 32768), p.smemBytes(), where);
        assertTrue(p.smemBytes() <= 227 * 1024, where);
    }

    @Test
    void issueShapesFillAtLeastOneWaveOnH100AndA100() {
        for (int sms : new int[] {H100, A100}) {
            for (int[] s : ISSUE_SHAPES) {
                for (int m : new int[] {1, 2, 4, 8, 16, 32, 64}) {
                    TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(m, s[0], s[1], 128, sms);
                    checkInvariants(p, m, s[0], s[1], 128, sms);
                    assertTrue(p.blocks() >= sms, p.toString());
                }
            }
        }
    }

    @Test
    void decode4096SquareOnH100() {
        TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(1, 4096, 4096, 128, H100);
        assertEquals(128, p.tileN());
        assertEquals(32, p.nTiles());
        // target 2 x 132 blocks: 9 splits wanted, 32 chunks of 128 rows -> 4 per split -> 8 splits
        assertEquals(8, p.splits());
        assertEquals(512, p.kChunk());
        assertEquals(256, p.blocks());
        assertEquals("o4j_w4a16_tc_bf16_m16_n128", p.kernelName(true));
        assertEquals("o4j_w4a16_tc_f16_m16_n128", p.kernelName(false));
    }

    @Test
    void wideOutputNeedsFewSplits() {
        TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(16, 28672, 8192, 128, H100);
        assertEquals(224, p.nTiles());
        assertEquals(2, p.splits());
        assertEquals(4096, p.kChunk());
    }

    @Test
    void smallNUsesNarrowTiles() {
        TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(1, 512, 4096, 128, H100);
        assertEquals(64, p.tileN());
        assertEquals(128, p.tileK());
    }

    @Test
    void edgeShapesKeepTheInvariants() {
        int[] ms = {1, 3, 15, 16, 17, 33, 64, 65, 129, 1000};
        int[][] kns = {{8, 8}, {96, 72}, {200, 200}, {4096, 4104}, {256, 8}, {11008, 4096}};
        for (int sms : new int[] {1, 8, A100, H100}) {
            for (int m : ms) {
                for (int[] kn : kns) {
                    for (int g : new int[] {32, 64, 128, -1}) {
                        int k = kn[0];
                        if (g > 0 && k % g != 0) {
                            continue;
                        }
                        TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(m, kn[1], k, g, sms);
                        checkInvariants(p, m, kn[1], k, g == -1 ? k : g, sms);
                    }
                }
            }
        }
    }

    @Test
    void groupAlignedChunksWhenGroupsAreLargerThanTheTile() {
        // m = 64: tile n 256 -> tile k 32 < g = 128: chunks must still be whole groups
        TcSplitKPlanner.Plan p = TcSplitKPlanner.plan(64, 28672, 8192, 128, H100);
        assertEquals(32, p.tileK());
        assertEquals(0, p.kChunk() % 128);
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(0, 64, 64, 32, H100));
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(1, 60, 64, 32, H100));
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(1, 64, 60, 32, H100));
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(1, 64, 64, 48, H100));
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(1, 64, 96, 64, H100));
        assertThrows(IllegalArgumentException.class, () -> TcSplitKPlanner.plan(1, 64, 64, 32, 0));
    }
}
