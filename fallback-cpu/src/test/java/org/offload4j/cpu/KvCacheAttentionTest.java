package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * Attention over a KV cache filled to {@code kvLen} (K and V {@code [B, Hkv, C, D]}, C the
 * capacity): the result of the call on K and V cut to {@code kvLen} keys, with every free slot of
 * the cache holding NaN codes (one that reached a result would make it NaN), and within the
 * contract of the float64 reference. Decode and prefill-sized queries, causal and not, per tensor
 * and per head.
 *
 * <p>The two calls run the same kernels on the same keys, so they must agree bit for bit, out and
 * lse, whichever JIT tier runs each: the kernels' lane sums have one fixed order
 * ({@link LaneSums}). Before that, {@code reduceLanes} summed in another order before C2
 * compiled a kernel than after, and a clean build saw the two calls differ by one bf16 step.
 */
class KvCacheAttentionTest {
    private static final Attention ATTENTION = Attention.create(CpuBackend.create());
    /** An e4m3 NaN code. */
    private static final byte NAN = 0x7F;

    static Stream<Arguments> cases() {
        return Stream.of(
                // B, Hq, Hkv, Sq, kvLen, capacity, D, causal, granularity
                Arguments.of(1, 8, 2, 1, 77, 128, 128, true, ScaleGranularity.PER_HEAD),   // decode, G = 4 (fused kernels)
                Arguments.of(2, 4, 2, 1, 1, 64, 64, false, ScaleGranularity.PER_TENSOR),   // the first step of a decode loop
                Arguments.of(1, 16, 2, 1, 200, 257, 256, true, ScaleGranularity.PER_HEAD), // G = 8, D = 256
                Arguments.of(2, 2, 1, 70, 130, 300, 64, true, ScaleGranularity.PER_TENSOR), // prefill chunk: tiled path, several key tiles
                Arguments.of(1, 2, 2, 5, 0, 16, 128, false, ScaleGranularity.PER_HEAD),    // an empty cache: no visible key
                Arguments.of(1, 4, 4, 3, 50, 50, 64, true, ScaleGranularity.PER_HEAD));    // a full cache
    }

    @ParameterizedTest(name = "B={0} Hq={1} Hkv={2} Sq={3} kvLen={4} C={5} D={6} causal={7} {8}")
    @MethodSource("cases")
    void aFilledPrefixGivesTheResultOfTheCutCall(int b, int hq, int hkv, int sq, int kvLen, int capacity, int d, boolean causal,
                                              ScaleGranularity g) {
        long seed = AttentionInputs.seed();
        String where = "B=" + b + " Hq=" + hq + " Hkv=" + hkv + " Sq=" + sq + " kvLen=" + kvLen + " C=" + capacity + " D=" + d
                + " causal=" + causal + " " + g + ", seed " + seed + " (rerun with -Doffload.test.seed=" + seed + ")";
        AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
        try (Fp8Tensor q = AttentionInputs.fp8(seed, g, b, hq, sq, d);
             Fp8Tensor kCache = nanTail(AttentionInputs.fp8(seed + 1, g, b, hkv, capacity, d), kvLen);
             Fp8Tensor vCache = nanTail(AttentionInputs.fp8(seed + 2, g, b, hkv, capacity, d), kvLen);
             Fp8Tensor k = prefix(kCache, kvLen);
             Fp8Tensor v = prefix(vCache, kvLen);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq));
             Tensor cutOut = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, d));
             Tensor cutLse = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq))) {
            ATTENTION.forward(q, kCache, vCache, kvLen, opts, out, lse);
            ATTENTION.forward(q, k, v, opts, cutOut, cutLse);
            assertArrayEquals(cutOut.toDoubleArray(), out.toDoubleArray(), "out, " + where);
            assertArrayEquals(cutLse.toDoubleArray(), lse.toDoubleArray(), "lse, " + where);
            VectorAttentionKernelTest.check(AttentionReference.forward(q, kCache, vCache, kvLen, opts), out, lse, d, where);
        }
    }

    @Test
    void kvLenOutsideTheCacheIsRefusedByName() {
        try (Fp8Tensor q = AttentionInputs.fp8(1, ScaleGranularity.PER_TENSOR, 1, 2, 1, 64);
             Fp8Tensor k = AttentionInputs.fp8(2, ScaleGranularity.PER_TENSOR, 1, 1, 8, 64);
             Fp8Tensor v = AttentionInputs.fp8(3, ScaleGranularity.PER_TENSOR, 1, 1, 8, 64);
             Tensor out = Tensor.allocate(DType.BF16, 1, 2, 1, 64)) {
            for (int bad : new int[] {-1, 9}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ATTENTION.forward(q, k, v, bad, AttentionOptions.defaults(), out));
                assertTrue(e.getMessage().startsWith("kvLen = " + bad), e.getMessage());
                assertTrue(e.getMessage().contains("0 ≤ kvLen ≤ 8"), e.getMessage());
            }
        }
    }

    /** {@code cache} with NaN codes in every slot from {@code kvLen} on, in every head. */
    static Fp8Tensor nanTail(Fp8Tensor cache, int kvLen) {
        Tensor t = cache.data();
        long capacity = t.dim(2);
        long heads = t.dim(0) * t.dim(1);
        for (long h = 0; h < heads; h++) {
            for (long j = kvLen; j < capacity; j++) {
                t.segment().asSlice(t.rowByteOffset(h * capacity + j), t.cols()).fill(NAN);
            }
        }
        return cache;
    }

    /** A compact copy of the first {@code kvLen} keys of each head of {@code cache}, with its scales. */
    static Fp8Tensor prefix(Fp8Tensor cache, int kvLen) {
        Tensor t = cache.data();
        long capacity = t.dim(2);
        Tensor cut = Tensor.allocate(DType.FP8_E4M3FN, t.dim(0), t.dim(1), kvLen, t.dim(3));
        for (long h = 0; h < t.dim(0) * t.dim(1); h++) {
            for (long j = 0; j < kvLen; j++) {
                MemorySegment.copy(t.segment(), t.rowByteOffset(h * capacity + j), cut.segment(), cut.rowByteOffset(h * kvLen + j),
                        t.cols());
            }
        }
        Tensor scales = Tensor.allocate(DType.FP32, cache.scales().shape());
        MemorySegment.copy(cache.scales().segment(), 0, scales.segment(), 0, cache.scales().spanBytes());
        return new Fp8Tensor(cut, scales);
    }
}
