package org.offload4j.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class RoutingTest {

    /** The example of the class documentation, map by map. */
    @Test
    void documentedExample() {
        Routing r = Routing.of(3, 2, new int[] {2, 0, 0, 1, 2, 1, 1, 0}, new float[] {.7f, .3f, .6f, .4f, .5f, .5f, .9f, .1f});
        assertEquals(4, r.tokens());
        assertEquals(8, r.copies());
        assertArrayEquals(new int[] {0, 3, 6, 8}, r.offsets());
        assertArrayEquals(new int[] {0, 1, 3, 1, 2, 3, 0, 2}, r.copyToToken());
        int[] slots = new int[8];
        for (int p = 0; p < 8; p++) {
            slots[p] = r.slotOfCopy(p);
        }
        assertArrayEquals(new int[] {1, 0, 1, 1, 1, 0, 0, 0}, slots);
        assertArrayEquals(new int[] {6, 0, 1, 3, 7, 4, 5, 2}, r.tokenSlotToCopy());
        assertEquals(2, r.expertOfCopy(7));
        assertEquals(0.4f, r.weight(1, 1));
        assertEquals(3, r.activeExperts());
    }

    /** Random routings: a stable, complete grouping whose maps invert each other. */
    @Test
    void permutationIsStableAndConsistent() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int trial = 0; trial < 50; trial++) {
            int experts = 1 + rnd.nextInt(20);
            int k = 1 + rnd.nextInt(Math.min(8, experts));
            int tokens = rnd.nextInt(30);
            int[] ids = new int[tokens * k];
            for (int t = 0; t < tokens; t++) {
                int[] perm = rnd.ints(0, Integer.MAX_VALUE).limit(experts).toArray();
                Integer[] order = new Integer[experts];
                for (int e = 0; e < experts; e++) {
                    order[e] = e;
                }
                java.util.Arrays.sort(order, (a, b) -> Integer.compare(perm[a], perm[b]));
                for (int j = 0; j < k; j++) {
                    ids[t * k + j] = order[j];
                }
            }
            Routing r = Routing.of(experts, k, ids, new float[ids.length]);
            assertEquals(0, r.offset(0));
            assertEquals(tokens * k, r.offset(experts));
            for (int e = 0; e < experts; e++) {
                for (int p = r.offset(e); p < r.offset(e + 1); p++) {
                    assertEquals(e, r.expertOfCopy(p));
                    if (p > r.offset(e)) {
                        assertTrue(r.tokenOfCopy(p - 1) < r.tokenOfCopy(p), "tokens ascending within an expert");
                    }
                    assertEquals(p, r.copyOf(r.tokenOfCopy(p), r.slotOfCopy(p)));
                }
            }
        }
    }

    @Test
    void emptyRoutingHasNoCopies() {
        Routing r = Routing.of(4, 2, new int[0], new float[0]);
        assertEquals(0, r.tokens());
        assertArrayEquals(new int[5], r.offsets());
    }

    @Test
    void accessorsReturnCopies() {
        int[] ids = {1, 0};
        Routing r = Routing.of(2, 2, ids, new float[] {.5f, .5f});
        ids[0] = 0;
        r.expertIds()[0] = 0;
        r.offsets()[1] = 7;
        assertEquals(1, r.expert(0, 0));
        assertEquals(1, r.offset(1));
        assertEquals(r, Routing.of(2, 2, new int[] {1, 0}, new float[] {.5f, .5f}));
    }

    @Test
    void rejectsBadChoices() {
        rejected("experts", () -> Routing.of(0, 1, new int[0], new float[0]));
        rejected("experts", () -> Routing.of(MoeLayer.MAX_EXPERTS + 1, 1, new int[] {0}, new float[] {1}));
        rejected("experts", () -> Routing.of(Integer.MAX_VALUE, 1, new int[] {0}, new float[] {1}));
        rejected("k = 0", () -> Routing.of(4, 0, new int[0], new float[0]));
        rejected("k = 9", () -> Routing.of(16, 9, new int[0], new float[0]));
        rejected("k = 3 exceeds", () -> Routing.of(2, 3, new int[3], new float[3]));
        rejected("expertIds must not be null", () -> Routing.of(2, 1, null, new float[0]));
        rejected("weights must not be null", () -> Routing.of(2, 1, new int[0], null));
        rejected("expertIds has 3", () -> Routing.of(4, 2, new int[3], new float[3]));
        rejected("weights has 1", () -> Routing.of(4, 2, new int[] {0, 1}, new float[1]));
        rejected("expertIds[0, 1] = 4", () -> Routing.of(4, 2, new int[] {0, 4}, new float[2]));
        rejected("expertIds[0, 0] = -1", () -> Routing.of(4, 2, new int[] {-1, 0}, new float[2]));
        rejected("repeat expert 3", () -> Routing.of(4, 2, new int[] {3, 3}, new float[2]));
        rejected("weights[0, 1] = NaN", () -> Routing.of(4, 2, new int[] {0, 1}, new float[] {1, Float.NaN}));
        rejected("k = 0", () -> new MoeOptions(0, true));
        rejected("k = 9", () -> MoeOptions.topK(9));
    }

    static void rejected(String fragment, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }
}
