package org.offload4j.moe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/** {@link ExpertWeightsCache}: one value per weights object by identity, closed once its weights are closed or collected. */
class ExpertWeightsCacheTest {
    /** A value that counts its closes. */
    private static final class Held implements AutoCloseable {
        final AtomicInteger closes = new AtomicInteger();

        @Override
        public void close() {
            closes.incrementAndGet();
        }
    }

    private static Bf16ExpertWeights weights(Arena arena) {
        return Bf16ExpertWeights.of(Tensor.allocate(arena, DType.BF16, 2, 4, 6), Tensor.allocate(arena, DType.BF16, 2, 3, 4));
    }

    @Test
    void oneValuePerWeightsObjectByIdentity() {
        ExpertWeightsCache<Held> cache = new ExpertWeightsCache<>();
        try (Arena arena = Arena.ofConfined()) {
            Bf16ExpertWeights a = weights(arena);
            Bf16ExpertWeights sameTensors = Bf16ExpertWeights.of(a.w1(), a.w2());
            AtomicInteger made = new AtomicInteger();
            Held first = cache.get(a, w -> {
                made.incrementAndGet();
                return new Held();
            });
            assertSame(first, cache.get(a, w -> new Held()), "made once");
            assertSame(first, cache.find(a));
            assertNotSame(first, cache.get(sameTensors, w -> new Held()), "another object over the same tensors");
            assertEquals(1, made.get());
            assertEquals(2, cache.size());
        }
    }

    @Test
    void closedWeightsHaveTheirValueClosedOnceAtTheNextExpunge() {
        ExpertWeightsCache<Held> cache = new ExpertWeightsCache<>();
        try (Arena live = Arena.ofConfined()) {
            Bf16ExpertWeights kept = weights(live);
            Held keptValue = cache.get(kept, w -> new Held());
            Arena closing = Arena.ofConfined();
            Bf16ExpertWeights gone = weights(closing);
            Held goneValue = cache.get(gone, w -> new Held());
            cache.expunge();
            assertEquals(2, cache.size(), "both alive");
            closing.close();
            assertEquals(2, cache.size(), "nothing happens before the next expunge");
            cache.expunge();
            cache.expunge();
            assertEquals(1, cache.size());
            assertEquals(1, goneValue.closes.get(), "closed once");
            assertEquals(0, keptValue.closes.get());
            assertNull(cache.find(gone));
            assertSame(keptValue, cache.find(kept));
        }
    }

    @Test
    void aValueWhoseCloseThrowsACheckedExceptionIsForgottenAndReported() {
        ExpertWeightsCache<AutoCloseable> cache = new ExpertWeightsCache<>();
        Arena arena = Arena.ofConfined();
        Bf16ExpertWeights w = weights(arena);
        cache.get(w, x -> () -> {
            throw new Exception("device gone");
        });
        arena.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, cache::expunge);
        assertEquals("device gone", e.getCause().getMessage());
        assertEquals(0, cache.size());
    }

    @Test
    void collectedWeightsHaveTheirValueClosed() throws InterruptedException {
        ExpertWeightsCache<Held> cache = new ExpertWeightsCache<>();
        try (Arena arena = Arena.ofConfined()) {
            Held value = cache.get(weights(arena), w -> new Held()); // the weights object is unreachable at once
            for (int i = 0; i < 20 && value.closes.get() == 0; i++) {
                System.gc();
                Thread.sleep(10);
                cache.expunge();
            }
            assumeTrue(value.closes.get() == 1, "the collector did not clear the reference within 20 System.gc() calls");
            assertEquals(0, cache.size());
        }
    }
}
