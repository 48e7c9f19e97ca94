package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The key-split planner of the TornadoVM attention ({@link AttentionKernels#splits},
 * {@link AttentionKernels#chunk}), as plain Java on the host. Compiled only with a TornadoVM SDK.
 */
@Tag("tornado")
class AttentionSplitsTest {
    @Test
    void keySplitsCoverEveryKeyOnceAndAimAtTheTargetGroupCount() {
        for (int target : new int[] {8, 528}) { // PoCL here (2 compute units), an H100 (132 SMs)
            for (int rows : new int[] {1, 4, 8, 37, 511, 512, 513, 8192}) {
                for (int skv : new int[] {0, 1, 63, 64, 65, 1000, 4096, 32768}) {
                    for (int d : new int[] {64, 128, 256}) {
                        int splits = AttentionKernels.splits(rows, skv, d, target);
                        int chunk = AttentionKernels.chunk(skv, d, splits);
                        String where = "target " + target + " rows " + rows + " Skv " + skv + " D " + d + ": " + splits + " × " + chunk;
                        assertTrue(splits >= 1 && chunk % d == 0, where);
                        assertTrue((long) splits * chunk >= skv, "keys past the last split, " + where);
                        assertTrue((long) (splits - 1) * chunk < Math.max(1, skv), "an empty last split, " + where);
                        int blocks = Math.max(1, (skv + d - 1) / d);
                        if ((long) rows * blocks >= target) {
                            assertTrue((long) rows * splits >= target / 2, "too few work-groups, " + where);
                        } else {
                            assertEquals(blocks, splits, "one block per split when blocks are scarce, " + where);
                        }
                        assertTrue(rows >= target ? splits == 1 : (long) rows * splits < 2L * target + rows,
                                "more splits than needed, " + where);
                    }
                }
            }
        }
        assertEquals(32, AttentionKernels.splits(8, 4096, 128, 528)); // Hq = 8 decode at Skv = 4096 on an H100: 256 groups
        assertEquals(1, AttentionKernels.splits(8, 4096, 128, 8));
    }

}
