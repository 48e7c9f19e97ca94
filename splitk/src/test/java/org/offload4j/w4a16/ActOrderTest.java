package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** Act-order weights: the load-time row permutation, and the facade's gather on a backend that knows nothing of it. */
class ActOrderTest {
    private static final int K = 128;
    private static final int N = 24;
    private static final int G = 32;

    /** A g_idx as GPTQ's desc_act makes it: g_idx[perm[i]] = i / g for a random permutation. */
    static Tensor actOrderGIdx(int k, int g, long seed) {
        int[] perm = new int[k];
        for (int i = 0; i < k; i++) {
            perm[i] = i;
        }
        Random rnd = new Random(seed);
        for (int i = k - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        Tensor gIdx = Tensor.allocate(DType.INT32, k);
        for (int i = 0; i < k; i++) {
            gIdx.setInt(0, perm[i], i / g);
        }
        return gIdx;
    }

    /** W[kk, j] straight from the unpermuted GPTQ tensors and g_idx, in double. */
    private static double expected(QuantizedWeight plainLayout, Tensor gIdx, int kk, int j) {
        int gi = gIdx.getInt(0, kk);
        return (double) (plainLayout.q(kk, j) - plainLayout.zero(gi, j)) * plainLayout.scale(gi, j);
    }

    @Test
    void permutedWeightDequantizesToTheOriginalRowsExactly() {
        try (QuantizedWeight raw = TestWeights.random(K, N, G, false, DType.FP16, 11);
             Tensor gIdx = actOrderGIdx(K, G, 5);
             QuantizedWeight w = QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), raw.qzeros(), raw.scales(), gIdx);
             Tensor d = w.dequantize()) {
            assertTrue(w.actOrder());
            assertTrue(w.toString().endsWith("act-order"), w.toString());
            int[] order = w.rowOrder();
            for (int r = 0; r < K; r++) {
                assertEquals(r / G, gIdx.getInt(0, order[r]), "stored row " + r + " is in group r / g");
                if (r % G > 0) {
                    assertTrue(order[r] > order[r - 1], "stable: rows of a group keep their order");
                }
            }
            for (int kk = 0; kk < K; kk++) {
                for (int j = 0; j < N; j++) {
                    assertEquals(expected(raw, gIdx, kk, j), w.weight(kk, j), 0.0, "W[" + kk + ", " + j + "]");
                    assertEquals((float) expected(raw, gIdx, kk, j), d.getFloat(kk, j));
                }
            }
        }
    }

    @Test
    void plainGIdxGivesAnOrdinaryWeightOwningCopies() {
        try (QuantizedWeight raw = TestWeights.random(K, N, G, true, DType.BF16, 3);
             Tensor gIdx = Tensor.allocate(DType.INT32, K)) {
            for (int kk = 0; kk < K; kk++) {
                gIdx.setInt(0, kk, kk / G);
            }
            QuantizedWeight w = QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), null, raw.scales(), gIdx);
            assertFalse(w.actOrder());
            assertNull(w.rowOrder());
            assertFalse(w.qweight().overlaps(raw.qweight()), "a copy");
            assertEquals(raw.weight(77, 5), w.weight(77, 5));
            w.close();
            assertTrue(raw.isAlive(), "closing the result leaves the caller's tensors alone");
            assertFalse(w.qweight().isAlive(), "the result owns its copies");
        }
    }

    @Test
    void facadeGathersActivationsSoABackendWithoutActOrderSupportComputesXW() {
        ReferenceBackend backend = new ReferenceBackend("ref");
        W4A16 op = W4A16.create(backend);
        try (QuantizedWeight raw = TestWeights.random(K, N, G, false, DType.FP16, 21);
             Tensor gIdx = actOrderGIdx(K, G, 8);
             QuantizedWeight w = QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), raw.qzeros(), raw.scales(), gIdx);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 5, K), 4, 1.0);
             Tensor bias = TensorFill.gaussian(Tensor.allocate(DType.FP32, N), 6, 0.1);
             Tensor viaPrepared = Tensor.allocate(DType.BF16, 5, N);
             Tensor oneOff = Tensor.allocate(DType.BF16, 5, N);
             Tensor want = Tensor.allocate(DType.BF16, 5, N)) {
            try (W4A16.Prepared p = op.prepare(w)) {
                assertTrue(p.actOrder() && p.toString().contains("act-order"), p.toString());
                op.matmul(x, p, bias, viaPrepared);
            }
            op.matmul(x, w, bias, oneOff);
            W4A16Reference.matmul(x, w, bias, want);
            assertArrayEquals(want.toFloatArray(), viaPrepared.toFloatArray(), "the reference backend is exact: same rounding");
            assertArrayEquals(want.toFloatArray(), oneOff.toFloatArray());
            double[] direct = new double[5 * N];
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < N; j++) {
                    double s = bias.getFloat(0, j);
                    for (int kk = 0; kk < K; kk++) {
                        s += x.getFloat(i, kk) * expected(raw, gIdx, kk, j);
                    }
                    direct[i * N + j] = s;
                }
            }
            assertArrayEquals(direct, W4A16Reference.product(x, w, bias), 1e-9, "the reference multiplies by the original W");
        }
    }

    /** The gather runs on the host: device-resident x is refused as an argument, y untouched. */
    @Test
    void actOrderNeedsHostActivations() {
        org.offload4j.core.Device gpu = new org.offload4j.core.Device("fake", 0, "fake gpu", false);
        W4A16 op = W4A16.create(new ReferenceBackend("ref", gpu)); // reaches x on gpu, but gathers only on the host
        try (QuantizedWeight raw = TestWeights.random(K, N, G, false, DType.FP16, 21);
             Tensor gIdx = actOrderGIdx(K, G, 8);
             QuantizedWeight w = QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), raw.qzeros(), raw.scales(), gIdx);
             W4A16.Prepared p = op.prepare(w);
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Tensor x = Tensor.wrapDevice(null, arena.allocate(2L * 3 * K), gpu, DType.BF16, K, 3, K);
            Tensor y = Tensor.wrapDevice(null, arena.allocate(2L * 3 * N), gpu, DType.BF16, N, 3, N);
            for (Runnable call : new Runnable[] {() -> op.matmul(x, p, null, y), () -> op.matmul(x, w, null, y)}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
                assertTrue(e.getMessage().contains("act-order") && e.getMessage().contains("host memory"), e.getMessage());
            }
        }
    }

    /**
     * A backend that gathers itself ({@link W4A16Kernel#gathersColumns}) gets every act-order call
     * through {@link W4A16Kernel#matmulActOrder} with the weight's row order, device-resident x
     * included, and no act-order call through {@link W4A16Kernel#matmul}; plain weights still go
     * through matmul. Its "device" memory is host memory here, read through the device address.
     */
    @Test
    void aBackendThatGathersGetsActOrderCallsAndDeviceActivations() {
        GatheringBackend backend = new GatheringBackend();
        W4A16 op = W4A16.create(backend);
        org.offload4j.core.Device gpu = new org.offload4j.core.Device("fake", 0, "fake gpu", false);
        int m = 3;
        try (QuantizedWeight raw = TestWeights.random(K, N, G, false, DType.BF16, 31);
             Tensor gIdx = actOrderGIdx(K, G, 9);
             QuantizedWeight w = QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), raw.qzeros(), raw.scales(), gIdx);
             W4A16.Prepared p = op.prepare(w);
             Tensor xHost = TensorFill.gaussian(Tensor.allocate(DType.FP16, m, K), 12, 1.0);
             Tensor want = Tensor.allocate(DType.FP16, m, N);
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment xMem = arena.allocate(2L * m * K);
            java.lang.foreign.MemorySegment.copy(xHost.segment(), 0, xMem, 0, 2L * m * K);
            java.lang.foreign.MemorySegment yMem = arena.allocate(2L * m * N);
            Tensor x = Tensor.wrapDevice(null, xMem, gpu, DType.FP16, K, m, K);
            Tensor y = Tensor.wrapDevice(null, yMem, gpu, DType.FP16, N, m, N);
            W4A16Reference.matmul(xHost, w, null, want);
            for (Runnable call : new Runnable[] {() -> op.matmul(x, p, null, y), () -> op.matmul(x, w, null, y)}) {
                yMem.fill((byte) 0x7F);
                call.run();
                float[] got = new float[m * N];
                for (int e = 0; e < got.length; e++) {
                    got[e] = Float.float16ToFloat(yMem.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, e));
                }
                assertArrayEquals(want.toFloatArray(), got, "gathered by the backend, multiplied by the stored rows");
                assertArrayEquals(w.rowOrder(), backend.lastOrder, "the weight's row order");
            }
            assertEquals(2, backend.actOrderCalls);
            assertEquals(0, backend.plainMatmuls, "no act-order call reached plain matmul");
        }
        try (QuantizedWeight plain = TestWeights.random(K, N, G, true, DType.FP16, 32);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, K), 13, 1.0);
             Tensor y = Tensor.allocate(DType.BF16, 2, N)) {
            op.matmul(x, plain, null, y);
            assertEquals(1, backend.plainMatmuls, "a weight stored in order goes through matmul");
            assertEquals(2, backend.actOrderCalls);
        }
    }

    /** The reference kernel, plus a column gather of its own that reads x and writes y through their addresses. */
    private static final class GatheringBackend implements org.offload4j.core.Backend {
        final ReferenceBackend.Kernel kernel = new ReferenceBackend.Kernel();
        int actOrderCalls;
        int plainMatmuls;
        int[] lastOrder;

        private final W4A16Kernel gathering = new W4A16Kernel() {
            @Override
            public PackedWeight prepack(QuantizedWeight w) {
                return kernel.prepack(w);
            }

            @Override
            public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
                plainMatmuls++;
                kernel.matmul(x, w, bias, y);
            }

            @Override
            public boolean gathersColumns() {
                return true;
            }

            @Override
            public void matmulActOrder(Tensor x, int[] order, PackedWeight w, Tensor bias, Tensor y) {
                actOrderCalls++;
                lastOrder = order.clone();
                int m = (int) x.dim(0);
                int k = (int) x.dim(1);
                java.lang.foreign.ValueLayout.OfShort s16 = java.lang.foreign.ValueLayout.JAVA_SHORT;
                var xs = java.lang.foreign.MemorySegment.ofAddress(x.deviceAddress()).reinterpret(x.spanBytes());
                try (Tensor gathered = Tensor.allocate(x.dtype(), m, k); Tensor out = Tensor.allocate(y.dtype(), y.shape())) {
                    for (int i = 0; i < m; i++) {
                        for (int r = 0; r < k; r++) {
                            gathered.segment().setAtIndex(s16, (long) i * k + r, xs.getAtIndex(s16, i * x.rowStride() + order[r]));
                        }
                    }
                    kernel.matmul(gathered, w, bias, out);
                    java.lang.foreign.MemorySegment.ofAddress(y.deviceAddress()).reinterpret(out.spanBytes())
                            .copyFrom(out.segment().asSlice(0, out.spanBytes()));
                }
            }
        };

        @Override
        public String name() {
            return "gathering";
        }

        @Override
        public String description() {
            return "float64 reference with its own act-order gather (tests)";
        }

        @Override
        public java.util.List<org.offload4j.core.Device> devices() {
            return java.util.List.of(org.offload4j.core.Device.HOST, new org.offload4j.core.Device("fake", 0, "fake gpu", false));
        }

        @Override
        public <K> java.util.Optional<K> kernels(Class<K> kernelType) {
            return kernelType == W4A16Kernel.class ? java.util.Optional.of(kernelType.cast(gathering)) : java.util.Optional.empty();
        }
    }

    @Test
    void badGIdxIsRejectedWithTheReason() {
        try (QuantizedWeight raw = TestWeights.random(K, N, G, false, DType.FP16, 1);
             Tensor outOfRange = actOrderGIdx(K, G, 2);
             Tensor unbalanced = actOrderGIdx(K, G, 3);
             Tensor wrongShape = Tensor.allocate(DType.INT32, K / 2);
             Tensor wrongType = Tensor.allocate(DType.FP32, K)) {
            outOfRange.setInt(0, 7, 4);
            unbalanced.setInt(0, 7, (unbalanced.getInt(0, 7) + 1) % 4);
            rejects("gIdx[7] = 4 is outside [0, 4)", raw, outOfRange);
            rejects("rows to group", raw, unbalanced);
            rejects("gIdx has shape [64]", raw, wrongShape);
            rejects("gIdx has dtype fp32", raw, wrongType);
        }
    }

    private static void rejects(String message, QuantizedWeight raw, Tensor gIdx) {
        var e = assertThrows(IllegalArgumentException.class,
                () -> QuantizedWeight.fromGptqActOrder(K, N, G, raw.qweight(), raw.qzeros(), raw.scales(), gIdx));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
