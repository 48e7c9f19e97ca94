package org.offload4j.cpu;

import java.util.function.Supplier;

/**
 * Scratch arrays kept per thread from call to call, so that steady-state calls allocate nothing.
 * Each kernel owns one instance with a fixed set of numbered slots; {@link #floats} and
 * {@link #ints} return this thread's array for a slot, grown on demand, with whatever an
 * earlier call left in it (callers write before they read).
 *
 * <p>Two rules bound what a thread keeps, since every thread that calls an op (not only the
 * {@link CpuThreads} workers) works on it and so gets its own arrays:
 * <ul>
 *   <li>An array over {@code keepBytes} serves the one request and is not kept, and the array
 *       kept before stays: a thread that once ran a huge call does not hold its buffers for as
 *       long as it lives. A caller must therefore ask for a slot once per use and keep the
 *       array it got, not ask again and expect the same one.</li>
 *   <li>The thread-local holds JDK types only ({@code Object[]} of primitive arrays, or JDK
 *       objects from {@link #fixed}), so a thread that outlives this library's class loader
 *       (an application server's request thread after a redeploy) keeps no class of it alive.</li>
 * </ul>
 */
final class ThreadArrays {
    /** The default bound on one kept array: 16 MiB. */
    static final long KEEP_BYTES = 16L << 20;

    private final ThreadLocal<Object[]> slots;
    private final long keepBytes;

    /** {@code slotCount} slots per thread; arrays of at most {@code keepBytes} bytes are kept. */
    ThreadArrays(int slotCount, long keepBytes) {
        this.slots = ThreadLocal.withInitial(() -> new Object[slotCount]);
        this.keepBytes = keepBytes;
    }

    /** This thread's float array for {@code slot}, at least {@code length} long; contents undefined. */
    float[] floats(int slot, long length) {
        Object[] kept = slots.get();
        if (kept[slot] instanceof float[] a && a.length >= length) {
            return a;
        }
        float[] a = new float[Math.toIntExact(length)];
        if (4 * length <= keepBytes) {
            kept[slot] = a;
        }
        return a;
    }

    /** This thread's int array for {@code slot}, at least {@code length} long; contents undefined. */
    int[] ints(int slot, int length) {
        Object[] kept = slots.get();
        if (kept[slot] instanceof int[] a && a.length >= length) {
            return a;
        }
        int[] a = new int[length];
        if (4L * length <= keepBytes) {
            kept[slot] = a;
        }
        return a;
    }

    /**
     * This thread's object in {@code slot}, made by {@code make} the first time: for small tables
     * of a fixed size. It must be of a JDK type (a primitive array or an array of them).
     */
    @SuppressWarnings("unchecked")
    <T> T fixed(int slot, Supplier<T> make) {
        Object[] kept = slots.get();
        Object o = kept[slot];
        if (o == null) {
            o = make.get();
            kept[slot] = o;
        }
        return (T) o;
    }
}
