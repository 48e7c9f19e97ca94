package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ThreadArraysTest {

    @Test
    void keptArraysComeBackGrownOnlyWhenTooShort() {
        ThreadArrays arrays = new ThreadArrays(3, 1 << 20);
        float[] f = arrays.floats(0, 100);
        assertTrue(f.length >= 100);
        assertSame(f, arrays.floats(0, 100), "kept");
        assertSame(f, arrays.floats(0, 7), "a shorter request gets the kept array");
        float[] g = arrays.floats(0, 101);
        assertTrue(g.length >= 101);
        assertSame(g, arrays.floats(0, 50), "the grown array replaced the kept one");
        int[] i = arrays.ints(1, 17);
        assertTrue(i.length >= 17);
        assertSame(i, arrays.ints(1, 17));
        assertSame(g, arrays.floats(0, 1), "slots are separate");
    }

    @Test
    void arraysOverTheBoundServeOnceAndLeaveTheKeptOneInPlace() {
        int keepFloats = 1000;
        ThreadArrays arrays = new ThreadArrays(2, 4L * keepFloats);
        float[] kept = arrays.floats(0, keepFloats);
        float[] huge = arrays.floats(0, keepFloats + 1);
        assertTrue(huge.length > keepFloats);
        assertNotSame(kept, huge);
        assertSame(kept, arrays.floats(0, keepFloats), "the huge one did not evict the kept one");
        assertNotSame(huge, arrays.floats(0, keepFloats + 1), "the huge one is not kept");
        int[] keptInts = arrays.ints(1, keepFloats);
        assertNotSame(arrays.ints(1, keepFloats + 1), arrays.ints(1, keepFloats + 1));
        assertSame(keptInts, arrays.ints(1, keepFloats));
    }

    @Test
    void eachThreadHasItsOwnArrays() throws InterruptedException {
        ThreadArrays arrays = new ThreadArrays(1, 1 << 20);
        float[] mine = arrays.floats(0, 64);
        AtomicReference<float[]> theirs = new AtomicReference<>();
        Thread t = new Thread(() -> theirs.set(arrays.floats(0, 64)));
        t.start();
        t.join();
        assertNotSame(mine, theirs.get());
        assertSame(mine, arrays.floats(0, 64));
    }

    @Test
    void fixedObjectsAreMadeOnceAndKept() {
        ThreadArrays arrays = new ThreadArrays(2, 0);
        int[][] table = arrays.fixed(1, () -> new int[3][4]);
        assertEquals(3, table.length);
        assertSame(table, arrays.fixed(1, () -> new int[5][5]));
        // keepBytes = 0: every primitive array serves once, fixed objects are kept regardless.
        assertNotSame(arrays.floats(0, 1), arrays.floats(0, 1));
    }
}
