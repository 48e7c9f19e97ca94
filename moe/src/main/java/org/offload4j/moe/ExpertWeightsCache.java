package org.offload4j.moe;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Function;

/**
 * For backends: what a {@link MoeKernel} keeps per {@link ExpertWeights} object (a packed or device
 * copy of its experts, the plans that read them), keyed by the object's identity and referenced
 * weakly.
 *
 * <p>Why: {@code MoeKernel} receives the weights on every call and {@link MoeLayer} holds them for
 * its lifetime, so a backend that wants its own copy without {@link MoeLayer#prepared()} keys it
 * by the weights object. The weights are immutable views (their contract), so a value never goes
 * stale; it is closed by {@link #expunge()} once its weights were collected or closed
 * ({@link ExpertWeights#isAlive()} false). A kernel calls {@code expunge()} at the start of each
 * of its methods: a walk over one entry per weights object in use (one per MoE layer), next to a
 * launch. A value must not reference its weights object, or the weights are never collected.
 *
 * <p>Thread-safe. Values are made while the cache's lock is held.
 *
 * @param <V> what is kept per weights object
 */
public final class ExpertWeightsCache<V extends AutoCloseable> {
    private final List<Entry<V>> entries = new ArrayList<>();

    private static final class Entry<V> extends WeakReference<ExpertWeights> {
        final V value;

        Entry(ExpertWeights key, V value) {
            super(key);
            this.value = value;
        }
    }

    /** The value kept for {@code weights} (compared by identity), made by {@code make} at its first call. */
    public synchronized V get(ExpertWeights weights, Function<? super ExpertWeights, ? extends V> make) {
        V found = find(weights);
        if (found == null) {
            found = make.apply(weights);
            entries.add(new Entry<>(weights, found));
        }
        return found;
    }

    /** The value kept for {@code weights}, or null. */
    public synchronized V find(ExpertWeights weights) {
        for (Entry<V> e : entries) {
            if (e.get() == weights) {
                return e.value;
            }
        }
        return null;
    }

    /**
     * Closes and forgets the values of weights that were collected or closed.
     *
     * @throws IllegalStateException when closing a value threw a checked exception (its entry is
     *         gone all the same); unchecked ones propagate as they are
     */
    public synchronized void expunge() {
        for (Iterator<Entry<V>> it = entries.iterator(); it.hasNext(); ) {
            Entry<V> e = it.next();
            ExpertWeights w = e.get();
            if (w == null || !w.isAlive()) {
                it.remove();
                close(e.value);
            }
        }
    }

    /** Values kept now (collected or closed weights included until the next {@link #expunge()}). */
    public synchronized int size() {
        return entries.size();
    }

    private static void close(AutoCloseable value) {
        try {
            value.close();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing " + value + " failed", e);
        }
    }
}
