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
}
