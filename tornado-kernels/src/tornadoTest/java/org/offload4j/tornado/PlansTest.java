package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The size check every TornadoVM array of the backend goes through ({@link Plans#elements}). */
@Tag("tornado")
class PlansTest {
    @Test
    void productsThatFitAnIntAreReturned() {
        assertEquals(24, Plans.elements("a", 2, 3, 4));
        assertEquals(Integer.MAX_VALUE, Plans.elements("a", Integer.MAX_VALUE, 1));
        assertEquals(0, Plans.elements("a", 5, 0));
    }

    /** The review's cases: B=1, Hkv=8, Skv=2^20, D=256 (2^31, wrapped to −2^31 as an int); E=64 experts of 4096 × 16384 (wrapped to 0). */
    @Test
    void largerProductsAreRefusedNamingTheArray() {
        var kv = assertThrows(UnsupportedOperationException.class, () -> Plans.elements("attention K", 1, 8, 1 << 20, 256));
        assertTrue(kv.getMessage().startsWith("attention K needs 2147483648 elements"), kv.getMessage());
        var moe = assertThrows(UnsupportedOperationException.class, () -> Plans.elements("MoE weights", 64, 4096, 16384));
        assertTrue(moe.getMessage().contains("4294967296"), moe.getMessage());
        var huge = assertThrows(UnsupportedOperationException.class,
                () -> Plans.elements("x", Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertTrue(huge.getMessage().contains("more than 2^63"), huge.getMessage());
    }

    /** Rows folded into a grid's y and z: both within CUDA's 65535, covering the rows with fewer than z to spare. */
    @Test
    void rowsFoldIntoYAndZWithinTheGridLimit() {
        assertEquals(1, Plans.Grids.rowsYz(0, Plans.Grids.MAX_GRID_YZ)[0]);
        for (long rows : new long[] {1, 7, 65535, 65536, 65537, 131070, 131071, 1L << 20, (1L << 30) + 3, 65535L * 65535}) {
            long[] yz = Plans.Grids.rowsYz(rows, Plans.Grids.MAX_GRID_YZ);
            String what = rows + " rows -> y " + yz[0] + ", z " + yz[1];
            assertTrue(yz[0] <= Plans.Grids.MAX_GRID_YZ && yz[1] <= Plans.Grids.MAX_GRID_YZ, what);
            assertTrue(yz[0] * yz[1] >= rows && yz[0] * yz[1] < rows + yz[1], what);
        }
        assertEquals(1, Plans.Grids.rowsYz(65535, Plans.Grids.MAX_GRID_YZ)[1]);
        assertEquals(2, Plans.Grids.rowsYz(65536, Plans.Grids.MAX_GRID_YZ)[1]);
    }

    /** A table sized for a capacity's folded launch serves every smaller launch: foldedSlots never shrinks. */
    @Test
    void foldedSlotsGrowWithTheGroups() {
        long before = 0;
        for (long g = 1; g <= 3 * 65535L + 5; g += g < 70000 ? 1 : 97) {
            long slots = Plans.Grids.foldedSlots(g, Plans.Grids.MAX_GRID_YZ);
            assertTrue(slots >= g && slots >= before, g + " groups: " + slots + " slots after " + before);
            before = slots;
        }
    }

    @Test
    void fitsChecksEveryProduct() {
        assertTrue(Plans.fits(new long[] {2, 3}, new long[] {Integer.MAX_VALUE}));
        assertTrue(!Plans.fits(new long[] {2, 3}, new long[] {1L << 16, 1L << 15}));
        assertTrue(!Plans.fits(new long[] {Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE}), "no long overflow");
        assertTrue(Plans.fits(new long[] {0, Integer.MAX_VALUE, Integer.MAX_VALUE}));
    }

    /**
     * Rounding up to a capacity never refuses a call that fits (the review's case): B = 32,
     * Hkv = 8, D = 128, Skv = 40 000 is 1.31e9 elements of K, its capacity 65 536 would be 2^31;
     * W4A16 with k = 16 384 at m = 70 000 (capacity 131 072 would be 2^31 elements of x).
     */
    @Test
    void capacitiesFallBackToTheExactSizeWhereRoundingUpWouldNotFit() {
        assertEquals(40_000, TornadoAttentionKernel.kvSlots(32, 8, 40_000, 128));
        assertEquals(65_536, TornadoAttentionKernel.kvSlots(16, 8, 40_000, 128));
        assertEquals(4096, TornadoAttentionKernel.kvSlots(1, 8, 4000, 128));
        assertTrue(!TornadoW4A16Kernel.fits(131_072, 8, 16_384));
        assertTrue(TornadoW4A16Kernel.fits(70_000, 8, 16_384));
        assertEquals(1, TornadoW4A16Kernel.splits(70_000, 152_064, 4096), "long arithmetic: rowItems · n overflows an int");
    }
}
