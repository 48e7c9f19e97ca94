package org.offload4j.cuda.driver.jcuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HandleTableTest {
    @Test
    void findsWhatWasPutUntilRemoved() {
        HandleTable<String> t = new HandleTable<>("CUstream", "default");
        t.put(0x7f00_0000_1000L, "a");
        t.put(0x7f00_0000_2000L, "b");
        assertEquals("a", t.get(0x7f00_0000_1000L));
        assertEquals("b", t.get(0x7f00_0000_2000L));
        t.remove(0x7f00_0000_1000L);
        var e = assertThrows(IllegalArgumentException.class, () -> t.get(0x7f00_0000_1000L));
        assertTrue(e.getMessage().contains("CUstream 0x00007f0000001000") && e.getMessage().contains("jcuda binding"),
                e.getMessage());
        assertEquals("b", t.get(0x7f00_0000_2000L));
        assertEquals(1, t.size());
    }

    @Test
    void handleZeroIsTheNullHandleOrRejected() {
        assertEquals("default", new HandleTable<>("CUstream", "default").get(0));
        var e = assertThrows(IllegalArgumentException.class, () -> new HandleTable<String>("CUevent", null).get(0));
        assertEquals("null CUevent", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new HandleTable<String>("CUevent", null).put(0, "x"));
    }

    @Test
    void putOfAKnownAddressReplacesIt() {
        HandleTable<String> t = new HandleTable<>("CUcontext", null);
        t.put(0x40, "first");
        t.put(0x40, "again");
        assertEquals("again", t.get(0x40));
        assertEquals(1, t.size());
    }

    @Test
    void agreesWithAHashMapOverManyPutsAndRemoves() {
        long seed = 7;
        SplittableRandom r = new SplittableRandom(seed);
        HandleTable<Long> t = new HandleTable<>("CUevent", null);
        Map<Long, Long> ref = new HashMap<>();
        for (int i = 0; i < 3000; i++) {
            // Aligned addresses, as the driver hands out, from a small range so removes hit.
            long key = 0x5500_0000_0000L + 256L * r.nextInt(1, 600);
            if (r.nextInt(3) == 0) {
                t.remove(key);
                ref.remove(key);
            } else {
                Long v = r.nextLong();
                t.put(key, v);
                ref.put(key, v);
            }
        }
        assertEquals(ref.size(), t.size(), "seed " + seed);
        for (var e : ref.entrySet()) {
            assertSame(e.getValue(), t.get(e.getKey()), "seed " + seed);
        }
    }
}
