package org.offload4j.cuda.driver.jcuda;

import java.util.HexFormat;

/**
 * The JCuda objects behind the {@code long} handles that {@link JCudaDriver} handed out.
 *
 * <p>JCuda keeps a handle's native address in a private field and offers no public way to build
 * a {@code CUstream} or {@code CUfunction} from an address. So each object the driver creates is
 * remembered here under its address and found again when the address comes back. Reads are the
 * hot path (every launch looks up its function and stream) and take no lock and allocate
 * nothing: they probe an immutable open-addressed snapshot. Writes (create, destroy) copy the
 * snapshot under a lock; there are few live handles and they change rarely.
 */
final class HandleTable<T> {
    private final String kind;
    private final T nullHandle;
    private volatile Snapshot snapshot = new Snapshot(new long[16], new Object[16], 0);

    /**
     * @param kind       what the handles are, for messages ({@code "CUstream"})
     * @param nullHandle what handle {@code 0} means ({@code null}: handle 0 is rejected)
     */
    HandleTable(String kind, T nullHandle) {
        this.kind = kind;
        this.nullHandle = nullHandle;
    }

    private record Snapshot(long[] keys, Object[] values, int size) {
    }

    private static int slot(long key, int mask) {
        long h = key * 0x9E3779B97F4A7C15L; // addresses are aligned: spread the low bits
        return (int) (h >>> 32) & mask;
    }

    /** The object created with address {@code key}. */
    @SuppressWarnings("unchecked")
    T get(long key) {
        if (key == 0) {
            if (nullHandle == null) {
                throw new IllegalArgumentException("null " + kind);
            }
            return nullHandle;
        }
        Snapshot s = snapshot;
        int mask = s.keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            Object v = s.values[i];
            if (v == null) {
                throw new IllegalArgumentException(kind + " 0x" + HexFormat.of().toHexDigits(key)
                        + " was not created through the jcuda binding, or was already destroyed");
            }
            if (s.keys[i] == key) {
                return (T) v;
            }
        }
    }

    synchronized void put(long key, T value) {
        if (key == 0) {
            throw new IllegalArgumentException("the driver returned a null " + kind);
        }
        rebuild(key, value, 0);
    }

    /** Forgets {@code key}; a no-op if it is not there. */
    synchronized void remove(long key) {
        rebuild(0, null, key);
    }

    synchronized int size() {
        return snapshot.size;
    }

    private void rebuild(long addKey, Object addValue, long removeKey) {
        Snapshot old = snapshot;
        int size = old.size + (addValue != null ? 1 : 0);
        int capacity = 16;
        while (capacity < 2 * size) {
            capacity <<= 1;
        }
        long[] keys = new long[capacity];
        Object[] values = new Object[capacity];
        int n = 0;
        for (int i = 0; i < old.keys.length; i++) {
            if (old.values[i] != null && old.keys[i] != removeKey && old.keys[i] != addKey) {
                n += insert(keys, values, old.keys[i], old.values[i]);
            }
        }
        if (addValue != null) {
            n += insert(keys, values, addKey, addValue);
        }
        snapshot = new Snapshot(keys, values, n);
    }

    private static int insert(long[] keys, Object[] values, long key, Object value) {
        int mask = keys.length - 1;
        int i = slot(key, mask);
        while (values[i] != null) {
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
        return 1;
    }
}
