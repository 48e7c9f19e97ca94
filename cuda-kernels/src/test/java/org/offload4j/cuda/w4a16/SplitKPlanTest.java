package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SplitKPlanTest {
    static final int H100_SMS = 132;

    @Test
    void decodeShapeSplitsAndAlignsToGroups() {
        // m = 1, n = k = 4096, g = 128: 32 tiles; ceil(528 / 32) = 17; 32 groups → 16 divides them.
        SplitKPlan p = SplitKPlan.plan(1, 4096, 4096, 128, H100_SMS);
        assertEquals(32, p.tiles());
        assertEquals(16, p.splits(), p.toString());
    }

    @Test
    void enoughTilesMeansNoSplit() {
        assertEquals(1, SplitKPlan.plan(4096, 4096, 4096, 128, H100_SMS).splits());
        assertEquals(1, SplitKPlan.plan(8 * 66, 1024, 4096, 128, H100_SMS).splits()); // 66·8 = 528 tiles
    }

    @Test
    void shortKIsNotSplitBelow128Rows() {
        assertEquals(1, SplitKPlan.plan(1, 8, 64, 64, H100_SMS).splits());     // 8 words < 16
        assertEquals(2, SplitKPlan.plan(1, 8, 256, 256, H100_SMS).splits());   // 32 words → at most 2
        assertEquals(32, SplitKPlan.plan(1, 8, 32768, 32768, H100_SMS).splits()); // MAX_SPLITS, one group
    }

    @Test
    void invariantsOverAGridOfShapes() {
        int[] ms = {1, 7, 16, 129, 1000};
        int[] ns = {8, 136, 4096, 11008};
        int[] ks = {64, 128, 768, 4096, 14336};
        int[] gs = {32, 64, 128, -1};
        int[] sms = {1, 46, 108, 132};
        for (int m : ms) {
            for (int n : ns) {
                for (int k : ks) {
                    for (int g0 : gs) {
                        int g = g0 == -1 ? k : g0;
                        if (k % g != 0) {
                            continue;
                        }
                        for (int sm : sms) {
                            SplitKPlan p = SplitKPlan.plan(m, n, k, g, sm);
                            int s = p.splits();
                            String ctx = p + " m=" + m + " n=" + n + " k=" + k + " g=" + g + " sm=" + sm;
                            assertTrue(s >= 1 && s <= Math.max(1, k / 8 / SplitKPlan.MIN_WORDS_PER_SPLIT) && s <= SplitKPlan.MAX_SPLITS, ctx);
                            assertTrue((long) s * m * n <= Math.max((long) m * n, SplitKPlan.MAX_WORKSPACE_FLOATS), ctx);
                            assertEquals(s, SplitKPlan.plan(m, n, k, g, sm).splits(), "deterministic");
                            W4A16Launch.of(m, n, k, g, s, org.offload4j.core.DType.BF16); // a valid launch
                            if ((k / g) % s == 0) {
                                for (int z = 0; z <= s; z++) {
                                    long begin = (long) (k / 8) * z / s;
                                    assertEquals(0, begin % (g / 8), "split " + z + " starts inside a group: " + ctx);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void rejectsBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> SplitKPlan.plan(0, 8, 64, 64, 1));
        assertThrows(IllegalArgumentException.class, () -> SplitKPlan.plan(1, 8, 64, 48, 1));
        assertThrows(IllegalArgumentException.class, () -> SplitKPlan.plan(1, 8, 64, 64, 0));
    }
}
