package org.offload4j.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/**
 * Every kind of bad input is rejected by the facade with an IllegalArgumentException naming the
 * argument, before the kernel runs and with out and lse untouched.
 */
class AttentionValidationTest {
    private static final int B = 2, HQ = 4, HKV = 2, SQ = 3, SKV = 5, D = 64;

    private final List<AutoCloseable> open = new ArrayList<>();
    private RecordingBackend backend;
    private Attention attention;
    private Fp8Tensor q, k, v;
    private Tensor out, lse;

    @BeforeEach
    void setUp() {
        backend = new RecordingBackend();
        attention = Attention.create(backend);
        q = fp8(B, HQ, SQ, D, perHead(B, HQ, 0.5f));
        k = fp8(B, HKV, SKV, D, perTensor(0.25f));
        v = fp8(B, HKV, SKV, D, perHead(B, HKV, 2f));
        out = keep(TensorFill.gaussian(Tensor.allocate(DType.BF16, B, HQ, SQ, D), 7, 1));
        lse = keep(TensorFill.gaussian(Tensor.allocate(DType.FP32, B, HQ, SQ), 8, 1));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T keep(T t) {
        open.add(t);
        return t;
    }

    private Fp8Tensor fp8(int b, int h, int s, int d, Tensor scales) {
        return keep(new Fp8Tensor(TensorFill.gaussian(Tensor.allocate(DType.FP8_E4M3FN, b, h, s, d), 1, 50), scales));
    }

    private Tensor perTensor(float value) {
        Tensor t = keep(Tensor.allocate(DType.FP32, 1));
        t.setFloat(0, 0, value);
        return t;
    }

    private Tensor perHead(int b, int h, float value) {
        Tensor t = keep(Tensor.allocate(DType.FP32, b, h));
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < h; j++) {
                t.setFloat(i, j, value);
            }
        }
        return t;
    }

    private Tensor bf16(long... shape) {
        return keep(TensorFill.gaussian(Tensor.allocate(DType.BF16, shape), 3, 1));
    }

    /** The call throws IAE whose message contains every fragment; out and lse keep their bytes; no kernel call. */
    private void assertRejected(Executable call, String... fragments) {
        byte[] outBefore = out.isAlive() ? out.segment().toArray(ValueLayout.JAVA_BYTE) : null;
        byte[] lseBefore = lse.isAlive() ? lse.segment().toArray(ValueLayout.JAVA_BYTE) : null;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message \"" + e.getMessage() + "\" lacks \"" + f + "\"");
        }
        assertEquals(0, backend.calls, "the kernel ran although the input was rejected");
        if (outBefore != null) {
            assertArrayEquals(outBefore, out.segment().toArray(ValueLayout.JAVA_BYTE), "out was written");
        }
        if (lseBefore != null) {
            assertArrayEquals(lseBefore, lse.segment().toArray(ValueLayout.JAVA_BYTE), "lse was written");
        }
    }

    private void run() {
        attention.forward(q, k, v, AttentionOptions.defaults(), out, lse);
    }

    // ------------------------------------------------------------------ valid calls reach the kernel

    @Test
    void validCallReachesKernelWithShapeAndDefaultScale() {
        attention.forward(q, k, v, AttentionOptions.defaults().withCausal(true), out, lse);
        assertEquals(1, backend.calls);
        assertEquals(new AttentionShape(B, HQ, HKV, SQ, SKV, D), backend.shape);
        assertTrue(backend.causal);
        assertEquals(0.125f, backend.softmaxScale);
        assertTrue(backend.lseGiven);
        attention.forward(q, k, v, AttentionOptions.defaults().withScale(0.3f), out);
        assertEquals(0.3f, backend.softmaxScale);
        assertFalse(backend.lseGiven);
    }

    @Test
    void aKvCacheCallReachesTheKernelWithItsLengthAndCapacity() {
        attention.forward(q, k, v, 3, AttentionOptions.defaults().withCausal(true), out, lse);
        assertEquals(1, backend.calls);
        assertEquals(new AttentionShape(B, HQ, HKV, SQ, 3, D, SKV), backend.shape);
        assertEquals(0, backend.shape.keyOffset(), "the mask aligns to the filled length");
        attention.forward(q, k, v, 0, AttentionOptions.defaults(), out);
        assertEquals(new AttentionShape(B, HQ, HKV, SQ, 0, D, SKV), backend.shape);
    }

    @Test
    void aKvCacheLengthOutsideTheCacheIsRejected() {
        assertRejected(() -> attention.forward(q, k, v, SKV + 1, AttentionOptions.defaults(), out, lse), "kvLen = 6",
                "0 ≤ kvLen ≤ 5", "k.data");
        assertRejected(() -> attention.forward(q, k, v, -1, AttentionOptions.defaults(), out, lse), "kvLen = -1");
        assertRejected(() -> attention.forward(q, fp8(B, HKV, SKV, 32, perTensor(1)), v, 2, AttentionOptions.defaults(), out, lse),
                "k.data");
    }

    @Test
    void emptyQueryDoesNotCallKernel() {
        Fp8Tensor q0 = fp8(B, HQ, 0, D, perTensor(1));
        Tensor out0 = keep(Tensor.allocate(DType.BF16, B, HQ, 0, D));
        attention.forward(q0, k, v, AttentionOptions.defaults(), out0);
        assertEquals(0, backend.calls);
    }

    @Test
    void bf16CallQuantizesAndReachesKernel() {
        Tensor qb = bf16(B, HQ, SQ, D);
        Tensor kb = bf16(B, HKV, SKV, D);
        Tensor vb = bf16(B, HKV, SKV, D);
        attention.forward(qb, kb, vb, AttentionOptions.defaults().withGranularity(ScaleGranularity.PER_HEAD), out, lse);
        assertEquals(1, backend.calls);
        assertEquals(new AttentionShape(B, HQ, HKV, SQ, SKV, D), backend.shape);
    }

    // ------------------------------------------------------------------ head dimension, heads, shapes

    @Test
    void tensorsOnADeviceTheBackendCannotReachAreRejected() {
        Device gpu = new Device("fake", 0, "fake gpu", false);
        Arena arena = keep(Arena.ofConfined());
        Fp8Tensor qGpu = new Fp8Tensor(onDevice(arena, gpu, DType.FP8_E4M3FN, B, HQ, SQ, D), onDevice(arena, gpu, DType.FP32, 1));
        Fp8Tensor kGpu = new Fp8Tensor(onDevice(arena, gpu, DType.FP8_E4M3FN, B, HKV, SKV, D), onDevice(arena, gpu, DType.FP32, 1));
        Tensor outGpu = onDevice(arena, gpu, DType.BF16, B, HQ, SQ, D);
        Tensor lseGpu = onDevice(arena, gpu, DType.FP32, B, HQ, SQ);
        String where = "(fp8_e4m3[" + B + ", " + HQ + ", " + SQ + ", " + D + "]@fake) is in fake:0 (fake gpu) memory";
        assertRejected(() -> attention.forward(qGpu, kGpu, kGpu, AttentionOptions.defaults(), outGpu, lseGpu),
                "q.data " + where, "the 'recording' backend cannot reach");
        assertRejected(() -> attention.forward(qGpu, kGpu, kGpu, SKV - 1, AttentionOptions.defaults(), outGpu),
                "q.data " + where, "the 'recording' backend cannot reach");
        Tensor qBf16 = onDevice(arena, gpu, DType.BF16, B, HQ, SQ, D);
        Tensor kBf16 = onDevice(arena, gpu, DType.BF16, B, HKV, SKV, D);
        assertRejected(() -> attention.forward(qBf16, kBf16, kBf16, AttentionOptions.defaults(), outGpu, lseGpu),
                "q (bf16[" + B + ", " + HQ + ", " + SQ + ", " + D + "]@fake) is in fake:0 (fake gpu) memory; it must be in host memory");
    }

    /** A tensor on {@code device} over host bytes that the test never reads: what a GPU backend's allocation looks like to a CPU one. */
    private static Tensor onDevice(Arena arena, Device device, DType dtype, long... shape) {
        long count = java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        return Tensor.wrapDevice(null, arena.allocate(dtype.byteSize(count)), device, dtype, shape[shape.length - 1], shape);
    }

    @Test
    void unsupportedHeadDimension() {
        for (int d : new int[] {32, 96, 512}) {
            q = fp8(B, HQ, SQ, d, perTensor(1));
            k = fp8(B, HKV, SKV, d, perTensor(1));
            v = fp8(B, HKV, SKV, d, perTensor(1));
            out = keep(Tensor.allocate(DType.BF16, B, HQ, SQ, d));
            assertRejected(this::run, "q.data", "D = " + d, "64, 128, 256");
        }
    }

    @Test
    void qHeadsNotAMultipleOfKvHeads() {
        k = fp8(B, 3, SKV, D, perTensor(1));
        v = fp8(B, 3, SKV, D, perTensor(1));
        assertRejected(this::run, "k.data", "Hkv = 3", "multiple", "1, 2, 4");
    }

    @Test
    void shapeMismatches() {
        Fp8Tensor good = k;
        k = fp8(B + 1, HKV, SKV, D, perTensor(1));
        assertRejected(this::run, "k.data has shape [3, 2, 5, 64]", "[2, *, *, 64]");
        k = fp8(B, HKV, SKV, 128, perTensor(1));
        assertRejected(this::run, "k.data", "[2, *, *, 64]");
        k = good;
        v = fp8(B, HKV, SKV + 1, D, perHead(B, HKV, 1));
        assertRejected(this::run, "v.data has shape [2, 2, 6, 64]", "expected the shape of k.data");
    }

    @Test
    void wrongRank() {
        q = keep(new Fp8Tensor(keep(Tensor.allocate(DType.FP8_E4M3FN, B * HQ, SQ, D)), perTensor(1)));
        assertRejected(this::run, "q.data", "rank 4");
    }

    @Test
    void emptyBatchOrHeads() {
        q = fp8(0, HQ, SQ, D, perTensor(1));
        assertRejected(this::run, "q.data has shape [0, 4, 3, 64]", "B ≥ 1 and Hq ≥ 1");
        q = fp8(B, 0, SQ, D, perTensor(1));
        assertRejected(this::run, "q.data has shape [2, 0, 3, 64]", "B ≥ 1 and Hq ≥ 1");
        q = fp8(B, HQ, SQ, D, perTensor(1));
        k = fp8(B, 0, SKV, D, perTensor(1));
        v = fp8(B, 0, SKV, D, perTensor(1));
        assertRejected(this::run, "k.data has shape [2, 0, 5, 64]", "Hkv ≥ 1");
    }

    @Test
    void wrongRankBf16() {
        Tensor q3 = keep(Tensor.allocate(DType.BF16, B * HQ, SQ, D));
        Tensor kb = bf16(B, HKV, SKV, D);
        assertRejected(() -> attention.forward(q3, kb, kb, AttentionOptions.defaults(), out), "q has shape [8, 3, 64]", "rank 4");
        Tensor qb = bf16(B, HQ, SQ, D);
        Tensor v3 = keep(Tensor.allocate(DType.BF16, B * HKV, SKV, D));
        assertRejected(() -> attention.forward(qb, kb, v3, AttentionOptions.defaults(), out), "v has shape [4, 5, 64]", "rank 4");
    }

    @Test
    void outputShapeMismatches() {
        out = keep(Tensor.allocate(DType.BF16, B, HQ, SQ + 1, D));
        assertRejected(this::run, "out has shape [2, 4, 4, 64]", "[2, 4, 3, 64]");
        out = keep(Tensor.allocate(DType.BF16, B, HQ, SQ, D));
        lse = keep(Tensor.allocate(DType.FP32, B, HQ, SQ, 1));
        assertRejected(this::run, "lse has shape", "[2, 4, 3]");
    }

    // ------------------------------------------------------------------ dtypes

    @Test
    void wrongDtypes() {
        Fp8Tensor good = q;
        q = keep(new Fp8Tensor(keep(Tensor.allocate(DType.BF16, B, HQ, SQ, D)), perTensor(1)));
        assertRejected(this::run, "q.data has dtype bf16", "fp8_e4m3");
        q = keep(new Fp8Tensor(keep(Tensor.allocate(DType.FP8_E5M2, B, HQ, SQ, D)), perTensor(1)));
        assertRejected(this::run, "q.data has dtype fp8_e5m2");
        q = good;
        k = keep(new Fp8Tensor(k.data(), keep(Tensor.allocate(DType.FP16, 1))));
        assertRejected(this::run, "k.scales has dtype fp16", "fp32");
    }

    @Test
    void wrongOutputDtypes() {
        Tensor good = out;
        out = keep(Tensor.allocate(DType.FP32, B, HQ, SQ, D));
        assertRejected(this::run, "out has dtype fp32", "bf16");
        out = good;
        lse = keep(Tensor.allocate(DType.BF16, B, HQ, SQ));
        assertRejected(this::run, "lse has dtype bf16", "fp32");
    }

    @Test
    void bf16EntryRejectsOtherDtypes() {
        Tensor qf = keep(Tensor.allocate(DType.FP32, B, HQ, SQ, D));
        assertRejected(() -> attention.forward(qf, bf16(B, HKV, SKV, D), bf16(B, HKV, SKV, D), AttentionOptions.defaults(), out),
                "q has dtype fp32", "bf16");
    }

    // ------------------------------------------------------------------ scales

    @Test
    void scalesOfTheWrongShape() {
        k = keep(new Fp8Tensor(k.data(), keep(Tensor.allocate(DType.FP32, 2))));
        assertRejected(this::run, "k.scales has shape [2]", "[1] (per tensor) or [2, 2] (per batch·head)");
        k = keep(new Fp8Tensor(k.data(), perHead(B, HQ, 1)));
        assertRejected(this::run, "k.scales has shape [2, 4]", "[2, 2]");
        k = keep(new Fp8Tensor(k.data(), keep(Tensor.allocate(DType.FP32, B, HKV, 1))));
        assertRejected(this::run, "k.scales has shape [2, 2, 1]");
    }

    @Test
    void scalesNotFiniteOrNotPositive() {
        for (float bad : new float[] {0f, -0f, -1f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            k.scales().setFloat(0, 0, bad);
            assertRejected(this::run, "k.scales[0] = " + bad, "finite and > 0");
            k.scales().setFloat(0, 0, 1f);
            v.scales().setFloat(1, 0, bad);
            assertRejected(this::run, "v.scales[1, 0] = " + bad, "finite and > 0");
            v.scales().setFloat(1, 0, 1f);
        }
    }

    // ------------------------------------------------------------------ null, closed

    @Test
    void nullArguments() {
        AttentionOptions o = AttentionOptions.defaults();
        assertRejected(() -> attention.forward(null, k, v, o, out, lse), "q must not be null");
        assertRejected(() -> attention.forward(q, null, v, o, out, lse), "k must not be null");
        assertRejected(() -> attention.forward(q, k, null, o, out, lse), "v must not be null");
        assertRejected(() -> attention.forward(q, k, v, null, out, lse), "opts must not be null");
        assertRejected(() -> attention.forward(q, k, v, o, null, lse), "out must not be null");
        Tensor kb = bf16(B, HKV, SKV, D);
        assertRejected(() -> attention.forward((Tensor) null, kb, kb, o, out, lse), "q must not be null");
        assertThrows(IllegalArgumentException.class, () -> new Fp8Tensor(null, perTensor(1)));
        assertThrows(IllegalArgumentException.class, () -> new Fp8Tensor(k.data(), null));
        assertThrows(IllegalArgumentException.class, () -> Attention.create(null));
    }

    @Test
    void closedTensors() {
        Fp8Tensor q2 = fp8(B, HQ, SQ, D, perTensor(1));
        q2.data().close();
        assertRejected(() -> attention.forward(q2, k, v, AttentionOptions.defaults(), out, lse), "q.data", "is closed");
        Fp8Tensor k2 = fp8(B, HKV, SKV, D, perTensor(1));
        k2.scales().close();
        assertRejected(() -> attention.forward(q, k2, v, AttentionOptions.defaults(), out, lse), "k.scales", "is closed");
        Tensor lse2 = keep(Tensor.allocate(DType.FP32, B, HQ, SQ));
        lse2.close();
        assertRejected(() -> attention.forward(q, k, v, AttentionOptions.defaults(), out, lse2), "lse", "is closed");
        out.close();
        assertRejected(this::run, "out", "is closed");
    }

    @Test
    void readOnlyOutputs() {
        Tensor roOut = view(out.segment().asReadOnly(), 0, DType.BF16, B, HQ, SQ, D);
        assertRejected(() -> attention.forward(q, k, v, AttentionOptions.defaults(), roOut, lse), "out (", "is read-only");
        Tensor roLse = view(lse.segment().asReadOnly(), 0, DType.FP32, B, HQ, SQ);
        assertRejected(() -> attention.forward(q, k, v, AttentionOptions.defaults(), out, roLse), "lse (", "is read-only");
    }

    // ------------------------------------------------------------------ overlap

    /** A view of {@code bytes} at {@code offset} of {@code seg} (Tensor.wrap with the shape as an array: the varargs overloads are ambiguous). */
    private static Tensor view(MemorySegment seg, long offset, DType dtype, long... shape) {
        long n = 1;
        for (long x : shape) {
            n *= x;
        }
        return Tensor.wrap(seg.asSlice(offset, dtype.byteSize(n)), dtype, shape.clone());
    }

    @Test
    void outputOverlappingAnInput() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(1 << 16, 64);
            long qBytes = (long) B * HQ * SQ * D;
            Tensor qData = TensorFill.gaussian(view(seg, 0, DType.FP8_E4M3FN, B, HQ, SQ, D), 2, 30);
            Fp8Tensor qs = new Fp8Tensor(qData, perTensor(1));
            Tensor outOnQ = view(seg, qBytes / 2, DType.BF16, B, HQ, SQ, D);
            out = outOnQ;
            assertRejected(() -> attention.forward(qs, k, v, AttentionOptions.defaults(), outOnQ, lse), "out overlaps q.data");

            Tensor outOk = view(seg, 4 * qBytes, DType.BF16, B, HQ, SQ, D);
            Tensor lseOnOut = view(seg, 4 * qBytes + 8, DType.FP32, B, HQ, SQ);
            out = outOk;
            lse = lseOnOut;
            assertRejected(() -> attention.forward(qs, k, v, AttentionOptions.defaults(), outOk, lseOnOut), "lse overlaps out");

            MemorySegment scaleBytes = seg.asSlice(16 * qBytes, 4);
            Tensor sharedScale = Tensor.wrap(scaleBytes, DType.FP32, new long[] {1});
            sharedScale.setFloat(0, 0, 1f);
            Fp8Tensor q1 = new Fp8Tensor(view(seg, 12 * qBytes, DType.FP8_E4M3FN, 1, 1, 1, D), perTensor(1));
            Fp8Tensor k1 = new Fp8Tensor(view(seg, 13 * qBytes, DType.FP8_E4M3FN, 1, 1, 1, D), perTensor(1));
            Fp8Tensor v1s = new Fp8Tensor(view(seg, 14 * qBytes, DType.FP8_E4M3FN, 1, 1, 1, D), sharedScale);
            Tensor out1 = view(seg, 8 * qBytes, DType.BF16, 1, 1, 1, D);
            Tensor lseOnScales = Tensor.wrap(scaleBytes, DType.FP32, new long[] {1, 1, 1});
            out = out1;
            lse = lseOnScales;
            assertRejected(() -> attention.forward(q1, k1, v1s, AttentionOptions.defaults(), out1, lseOnScales), "lse overlaps v.scales");
        }
    }

    @Test
    void outputOverlappingABf16Input() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(1 << 16, 64);
            long bytes = 2L * B * HQ * SQ * D;
            Tensor qb = TensorFill.gaussian(view(seg, 0, DType.BF16, B, HQ, SQ, D), 4, 1);
            Tensor outOver = view(seg, bytes - 2, DType.BF16, B, HQ, SQ, D);
            out = outOver;
            Tensor kb = bf16(B, HKV, SKV, D);
            assertRejected(() -> attention.forward(qb, kb, kb, AttentionOptions.defaults(), outOver), "out overlaps q");
        }
    }

    // ------------------------------------------------------------------ options and bf16 values

    @Test
    void optionsRejectInfiniteScaleAndNullGranularity() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AttentionOptions.defaults().withScale(Float.POSITIVE_INFINITY));
        assertTrue(e.getMessage().contains("scale = Infinity"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AttentionOptions.defaults().withGranularity(null));
        assertTrue(e.getMessage().contains("granularity"), e.getMessage());
    }

    @Test
    void nonFiniteBf16Input() {
        Tensor qb = bf16(B, HQ, SQ, D);
        Tensor kb = bf16(B, HKV, SKV, D);
        Tensor vb = bf16(B, HKV, SKV, D);
        kb.setFloat(7, 3, Float.NaN);
        assertRejected(() -> attention.forward(qb, kb, vb, AttentionOptions.defaults(), out, lse),
                "k holds a non-finite value, NaN, at [0, 1, 2, 3]");
        kb.setFloat(7, 3, 0f);
        vb.setFloat(0, 0, Float.NEGATIVE_INFINITY);
        assertRejected(() -> attention.forward(qb, kb, vb, AttentionOptions.defaults(), out, lse), "v holds a non-finite value");
    }

    @Test
    void rotationThatBreaksValues() {
        Tensor qb = bf16(B, HQ, SQ, D);
        Tensor kb = bf16(B, HKV, SKV, D);
        QkRotation broken = (in, o) -> {
            for (long r = 0; r < o.rows(); r++) {
                for (long c = 0; c < o.cols(); c++) {
                    o.setFloat(r, c, Float.POSITIVE_INFINITY);
                }
            }
        };
        assertRejected(() -> attention.forward(qb, kb, kb, AttentionOptions.defaults().withRotation(broken), out, lse),
                "the rotation's output for q", "non-finite");
    }
}
