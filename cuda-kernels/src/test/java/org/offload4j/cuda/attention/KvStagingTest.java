package org.offload4j.cuda.attention;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.attention.AttentionShape;

/**
 * When host KV caches go to the device as their filled keys only
 * ({@link CudaAttentionKernel#stageFilledKeysOnly}); no GPU needed. Row strides are in bytes.
 */
class KvStagingTest {
    private static final long PER_COPY = CudaAttentionKernel.MIN_SAVED_BYTES_PER_COPY;

    @Test
    void aFullCacheGoesAsItIsAndAnEmptyOneNotAtAll() {
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(1, 8, 2, 1, 4096, 128, 4096), 128, 128), "full");
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(1, 8, 2, 1, 4096, 128), 128, 128), "no capacity given");
        // kvLen = 0: the kernel reads no key, so blocks of 0 bytes: no copy, however many heads.
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(8, 64, 8, 1, 0, 128, 1), 128, 128), "empty");
    }

    @Test
    void oneHeadAddsNoCopySoAnyFreeSlotIsWorthLeavingOut() {
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(1, 4, 1, 1, 99, 64, 100), 64, 64));
    }

    @Test
    void aHalfFullDecodeCacheGoesAsItsFilledKeys() {
        // The bench's cached decode case: 2 heads, 4096 of 8192 keys, D = 128: 2 MiB left out for 2 added copies.
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(1, 8, 2, 1, 4096, 128, 8192), 128, 128));
    }

    @Test
    void manyHeadsWithFewFreeSlotsGoWhole() {
        // 64 heads with one free key each: 16 KiB left out would cost 126 added copies.
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(8, 64, 8, 1, 4096, 128, 4097), 128, 128));
    }

    @Test
    void theBoundIsTheSavedBytesPerAddedCopy() {
        // 4 heads, so 2 · 3 added copies; each free key leaves out 2 · 128 bytes per head (K and V, D = 128).
        long heads = 4;
        long perFreeKey = heads * 256;
        long addedCopies = 2 * (heads - 1);
        int freeAtBound = (int) ((addedCopies * PER_COPY + perFreeKey - 1) / perFreeKey);
        int capacity = 10_000;
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(2, 8, 2, 1, capacity - freeAtBound, 128, capacity), 128, 128),
                freeAtBound + " free keys");
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(
                new AttentionShape(2, 8, 2, 1, capacity - freeAtBound + 1, 128, capacity), 128, 128), freeAtBound - 1 + " free keys");
    }

    @Test
    void paddedRowsCountTheirWholeStride() {
        // One free key per head saves a row stride each, padding included: 160-byte rows tip what 128-byte rows do not.
        long heads = 2;
        int free = (int) (2 * (heads - 1) * PER_COPY / (heads * 2 * 128)) - 1;
        AttentionShape s = new AttentionShape(1, 2, 2, 1, 4096 - free, 128, 4096);
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(s, 128, 128), "128-byte rows");
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(s, 160, 160), "160-byte rows");
    }

    @Test
    void oneStorageForKAndVIsCountedOnce() {
        // K and V the same bytes: the whole cache goes in one copy and the filled keys in one per
        // head, so the bound is half the bytes for half the added copies.
        long heads = 4;
        int freeAtBound = (int) (((heads - 1) * PER_COPY + heads * 128 - 1) / (heads * 128));
        int capacity = 10_000;
        AttentionShape atBound = new AttentionShape(2, 8, 2, 1, capacity - freeAtBound, 128, capacity);
        AttentionShape below = new AttentionShape(2, 8, 2, 1, capacity - freeAtBound + 1, 128, capacity);
        assertTrue(CudaAttentionKernel.stageFilledKeysOnly(atBound, 128, 0), freeAtBound + " free keys");
        assertFalse(CudaAttentionKernel.stageFilledKeysOnly(below, 128, 0), freeAtBound - 1 + " free keys");
    }
}
