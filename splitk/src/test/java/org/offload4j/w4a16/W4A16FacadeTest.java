package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** The facade's validation, on a reference backend: every bad input rejected, with y untouched. */
class W4A16FacadeTest {
    private static final int M = 3;
    private static final int K = 64;
    private static final int N = 16;

    private final ReferenceBackend backend = new ReferenceBackend("ref");
    private final W4A16 op = W4A16.create(backend);
    private QuantizedWeight weight;
    private W4A16.Prepared prepared;
    private Tensor x;
    private Tensor y;
    private Tensor bias;

    @BeforeEach
    void setUp() {
        weight = TestWeights.random(K, N, 32, false, DType.FP16, 11);
        prepared = op.prepare(weight);
        x = TensorFill.gaussian(Tensor.allocate(DType.BF16, M, K), 12, 1);
        y = TensorFill.poison(Tensor.allocate(DType.BF16, M, N));
        bias = TensorFill.gaussian(Tensor.allocate(DType.FP32, N), 13, 1);
    }

    @AfterEach
    void tearDown() {
        prepared.close();
        weight.close();
        x.close();
        y.close();
        bias.close();
    }

    @Test
    void computesThroughTheKernel() {
        op.matmul(x, prepared, bias, y);
        assertEquals(1, backend.kernel.matmuls);
        assertFalse(TensorFill.hasPoison(y));
        assertTrue(Accuracy.relativeL2(W4A16Reference.product(x, weight, bias), y) < 5e-3);
        assertSame(backend, op.backend());
        TensorFill.poison(y);
        op.matmul(x, weight, null, y);
        assertEquals(2, backend.kernel.prepacks, "the QuantizedWeight overload packs per call");
        assertTrue(Accuracy.relativeL2(W4A16Reference.product(x, weight, null), y) < 5e-3);
    }

    @Test
    void preparedHandleOutlivesTheWeight() {
        W4A16.Prepared p = op.prepare(weight);
        double[] ref = W4A16Reference.product(x, weight, null);
        weight.close();
        op.matmul(x, p, null, y);
        assertTrue(Accuracy.relativeL2(ref, y) < 5e-3);
        assertEquals(K, p.k());
        assertEquals(N, p.n());
        assertEquals(32, p.groupSize());
        assertFalse(p.symmetric());
        assertEquals("ref", p.backendName());
        p.close();
        p.close();
        assertFalse(p.isAlive());
    }

    @Test
    void zeroRowsIsANoOp() {
        try (Tensor x0 = Tensor.allocate(DType.BF16, 0, K); Tensor y0 = Tensor.allocate(DType.BF16, 0, N)) {
            op.matmul(x0, prepared, null, y0);
            assertEquals(0, backend.kernel.matmuls);
        }
    }

    @Test
    void stridedTensorsAreAccepted() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment xs = arena.allocate(2L * ((M - 1) * (K + 8) + K), 64);
            MemorySegment ys = arena.allocate(2L * ((M - 1) * (N + 24) + N), 64);
            Tensor xw = Tensor.wrapStrided(xs, DType.BF16, K + 8, new long[] {M, K});
            Tensor yw = Tensor.wrapStrided(ys, DType.BF16, N + 24, new long[] {M, N});
            TensorFill.gaussian(xw, 3, 1);
            op.matmul(xw, prepared, bias, yw);
            assertTrue(Accuracy.relativeL2(W4A16Reference.product(xw, weight, bias), yw) < 5e-3);
        }
    }

    // ---- rejections ----

    private byte[] bytesOf(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    /** Runs {@code call}, expects an IllegalArgumentException mentioning {@code words}, and y and the kernel untouched. */
    private void rejects(Tensor out, Runnable call, String... words) {
        byte[] before = bytesOf(out);
        int matmuls = backend.kernel.matmuls;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "message '" + e.getMessage() + "' should mention '" + w + "'");
        }
        assertArrayEquals(before, bytesOf(out), "y changed by a rejected call");
        assertEquals(matmuls, backend.kernel.matmuls, "kernel ran for a rejected call");
    }

    @Test
    void rejectsAReadOnlyOutputAndTensorsOnAnotherDevice() {
        Tensor readOnly = Tensor.wrap(y.segment().asReadOnly(), DType.BF16, M, N);
        rejects(y, () -> op.matmul(x, prepared, bias, readOnly), "y (bf16[" + M + ", " + N + "]@host) is read-only");
        rejects(y, () -> op.matmul(x, weight, bias, readOnly), "y (", "is read-only");
        Device gpu = new Device("fake", 0, "fake gpu", false);
        try (Arena arena = Arena.ofConfined()) {
            Tensor yOnGpu = Tensor.wrapDevice(null, arena.allocate(2L * M * N), gpu, DType.BF16, N, M, N);
            Tensor biasOnGpu = Tensor.wrapDevice(null, arena.allocate(4L * N), gpu, DType.FP32, N, N);
            rejects(y, () -> op.matmul(x, prepared, bias, yOnGpu), "y is on", "expected the device of x");
            rejects(y, () -> op.matmul(x, prepared, biasOnGpu, y), "bias is on", "expected the device of x");
        }
    }

    @Test
    void rejectsActivationsOnADeviceTheBackendCannotReach() {
        Device gpu = new Device("fake", 0, "fake gpu", false);
        try (Arena arena = Arena.ofConfined()) {
            Tensor xOnGpu = Tensor.wrapDevice(null, arena.allocate(2L * M * K), gpu, DType.BF16, K, M, K);
            Tensor yOnGpu = Tensor.wrapDevice(null, arena.allocate(2L * M * N), gpu, DType.BF16, N, M, N);
            int matmuls = backend.kernel.matmuls;
            int prepacks = backend.kernel.prepacks;
            for (Runnable call : new Runnable[] {() -> op.matmul(xOnGpu, prepared, null, yOnGpu),
                    () -> op.matmul(xOnGpu, weight, null, yOnGpu)}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
                assertTrue(e.getMessage().contains("x (bf16[" + M + ", " + K + "]@fake) is in fake:0 (fake gpu) memory, "
                        + "which the 'ref' backend cannot reach"), e.getMessage());
            }
            assertEquals(matmuls, backend.kernel.matmuls, "kernel ran for a rejected call");
            assertEquals(prepacks, backend.kernel.prepacks, "a rejected call repacked the weight");
        }
    }

    @Test
    void rejectsNulls() {
        rejects(y, () -> op.matmul(null, prepared, bias, y), "x must not be null");
        rejects(y, () -> op.matmul(x, (W4A16.Prepared) null, bias, y), "w must not be null");
        rejects(y, () -> op.matmul(x, (QuantizedWeight) null, bias, y), "w must not be null");
        rejects(y, () -> op.matmul(x, prepared, bias, null), "y must not be null");
        assertThrows(IllegalArgumentException.class, () -> op.prepare(null));
        assertThrows(IllegalArgumentException.class, () -> W4A16.create(null));
    }

    @Test
    void rejectsClosedTensorsAndWeights() {
        Tensor closedX = Tensor.allocate(DType.BF16, M, K);
        closedX.close();
        rejects(y, () -> op.matmul(closedX, prepared, bias, y), "x", "closed");
        Tensor closedBias = Tensor.allocate(DType.FP32, N);
        closedBias.close();
        rejects(y, () -> op.matmul(x, prepared, closedBias, y), "bias", "closed");
        Tensor closedY = Tensor.allocate(DType.BF16, M, N);
        closedY.close();
        assertThrows(IllegalArgumentException.class, () -> op.matmul(x, prepared, bias, closedY));
        W4A16.Prepared p = op.prepare(weight);
        p.close();
        rejects(y, () -> op.matmul(x, p, bias, y), "w", "closed");
        QuantizedWeight w2 = TestWeights.random(K, N, 32, true, DType.BF16, 4);
        w2.close();
        rejects(y, () -> op.matmul(x, w2, bias, y), "w", "closed");
        assertThrows(IllegalArgumentException.class, () -> op.prepare(w2));
    }

    @Test
    void rejectsAWeightPreparedByAnotherBackend() {
        W4A16 other = W4A16.create(new ReferenceBackend("other"));
        try (W4A16.Prepared p = other.prepare(weight)) {
            rejects(y, () -> op.matmul(x, p, bias, y), "'other'", "'ref'");
        }
    }

    @Test
    void rejectsBadDtypes() {
        try (Tensor x32 = Tensor.allocate(DType.FP32, M, K); Tensor y32 = Tensor.allocate(DType.FP32, M, N);
             Tensor yFp16 = TensorFill.poison(Tensor.allocate(DType.FP16, M, N));
             Tensor biasFp16 = Tensor.allocate(DType.FP16, N); Tensor biasI = Tensor.allocate(DType.INT32, N)) {
            rejects(y32, () -> op.matmul(x32, prepared, bias, y32), "x has dtype fp32", "bf16, fp16");
            rejects(yFp16, () -> op.matmul(x, prepared, bias, yFp16), "y has dtype fp16", "expected bf16");
            rejects(y, () -> op.matmul(x, prepared, biasFp16, y), "bias has dtype fp16", "bf16", "fp32");
            rejects(y, () -> op.matmul(x, prepared, biasI, y), "bias has dtype int32");
        }
    }

    @Test
    void rejectsBadShapes() {
        try (Tensor xk = Tensor.allocate(DType.BF16, M, K + 8); Tensor x1 = Tensor.allocate(DType.BF16, K);
             Tensor x3 = Tensor.allocate(DType.BF16, 1, M, K); Tensor ym = TensorFill.poison(Tensor.allocate(DType.BF16, M + 1, N));
             Tensor yn = TensorFill.poison(Tensor.allocate(DType.BF16, M, N + 8)); Tensor y1 = TensorFill.poison(Tensor.allocate(DType.BF16, M * N));
             Tensor biasN = Tensor.allocate(DType.FP32, N + 8); Tensor bias2 = Tensor.allocate(DType.FP32, 1, N)) {
            rejects(y, () -> op.matmul(xk, prepared, bias, y), "x has shape [3, 72]", "[*, 64]");
            rejects(y, () -> op.matmul(x1, prepared, bias, y), "x has shape [64]");
            rejects(y, () -> op.matmul(x3, prepared, bias, y), "x has shape [1, 3, 64]");
            rejects(ym, () -> op.matmul(x, prepared, bias, ym), "y has shape [4, 16]", "[3, 16]");
            rejects(yn, () -> op.matmul(x, prepared, bias, yn), "y has shape [3, 24]", "[3, 16]");
            rejects(y1, () -> op.matmul(x, prepared, bias, y1), "y has shape [48]");
            rejects(y, () -> op.matmul(x, prepared, biasN, y), "bias has shape [24]", "[16]");
            rejects(y, () -> op.matmul(x, prepared, bias2, y), "bias has shape [1, 16]");
            rejects(y, () -> op.matmul(xk, weight, bias, y), "x has shape [3, 72]");
        }
    }

    @Test
    void rejectsOverlappingOutput() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(2L * M * K + 2L * M * N, 64);
            Tensor xo = Tensor.wrap(mem.asSlice(0, 2L * M * K), DType.BF16, new long[] {M, K});
            Tensor yInsideX = Tensor.wrap(mem.asSlice(2L * K, 2L * M * N), DType.BF16, new long[] {M, N});
            rejects(yInsideX, () -> op.matmul(xo, prepared, null, yInsideX), "y overlaps x");
            MemorySegment mem2 = arena.allocate(4L * N + 2L * M * N, 64);
            Tensor b = Tensor.wrap(mem2.asSlice(0, 4L * N), DType.FP32, new long[] {N});
            Tensor yOverBias = Tensor.wrap(mem2.asSlice(8, 2L * M * N), DType.BF16, new long[] {M, N});
            rejects(yOverBias, () -> op.matmul(x, prepared, b, yOverBias), "y overlaps bias");
            MemorySegment qs = weight.scales().segment();
            Tensor yOverScales = Tensor.wrap(qs, DType.BF16, new long[] {2, N});
            rejects(yOverScales, () -> op.matmul(xTwoRows(arena), weight, null, yOverScales), "y overlaps w.scales");
        }
    }

    private static Tensor xTwoRows(Arena arena) {
        return Tensor.allocate(arena, DType.BF16, 2, K);
    }
}
