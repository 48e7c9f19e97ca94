package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.cuda.attention.CudaAttentionKernel;

/**
 * {@link CudaAttentionKernel} with KV caches, end to end on the CPU: the {@link FakeCudaDriver}'s
 * "device" is host memory, and {@code o4j_attention_fp8_fwd_d64} is replaced by its launch
 * contract in Java (attention.cu's parameter list): it reads Q, K, V and the scales through the
 * argument slots as the kernel indexes them (key j of (b, g) at row (b·Hkv + g)·kv_cap + j, row r
 * at k + r·k_ld), computes attention in float64 and writes out (bf16) and lse. What this checks is
 * the Java side: which bytes of a host cache reach the device (its filled keys, or all of it),
 * and the kv_cap and row strides the launch passes with them. The kernel's own arithmetic is
 * attention_host_test.cu's to check, and finally a GPU's.
 */
class AttentionFakeDriverTest {
    private static final int D = 64;
    private static final byte NAN = 0x7F;

    private final List<Long> copiesToDevice = new ArrayList<>();
    private final List<long[]> launches = new ArrayList<>();
    private FakeCudaDriver driver;
    private CudaDevice device;
    private Attention attention;

    @BeforeEach
    void open() {
        driver = new FakeCudaDriver() {
            @Override
            public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
                copiesToDevice.add(bytes);
                super.memcpyHtoDAsync(dst, src, bytes, stream);
            }
        };
        driver.kernel("o4j_attention_fp8_fwd_d" + D, (a, gx, gy, gz, bx, smem) -> {
            launches.add(a);
            emulate(a);
        });
        device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
        attention = Attention.create(new OneKernelBackend("fake-cuda", device.asDevice(), AttentionKernel.class,
                new CudaAttentionKernel(device)));
    }

    @AfterEach
    void close() {
        device.close();
    }

    @Test
    void hostCachesGoAsTheirFilledKeys() {
        // 2 heads, 100 of 1000 keys: 230 KB left out for 2 added copies.
        Call c = run(1, 8, 2, 1, 100, 1000, D, false);
        assertEquals(100, c.kvCap(), "kv_cap: the packed filled keys");
        assertEquals(4, c.copiesOf(100 * D), "one copy per head of K and of V, of its 100 filled keys: " + copiesToDevice);
        assertEquals(0, c.copiesOver(100 * D), "no larger copy: " + copiesToDevice);
    }

    @Test
    void manyHeadsWithFewFreeKeysGoWhole() {
        // 32 heads, 60 of 64 keys: 16 KB left out would cost 62 added copies.
        Call c = run(4, 8, 8, 3, 60, 64, D, false);
        assertEquals(64, c.kvCap(), "kv_cap: the capacity");
        assertEquals(2, c.copiesOf(32 * 64 * D), "K and V whole, one copy each: " + copiesToDevice);
    }

    @Test
    void paddedRowsAreCopiedWithTheirStride() {
        // Row stride 68 bytes (a multiple of 4: no host copy first); each head's block is 100 strides.
        Call c = run(1, 4, 2, 2, 100, 1000, D + 4, true);
        assertEquals(100, c.kvCap());
        assertEquals(D + 4, c.slots()[3], "k_ld");
        assertEquals(D + 4, c.slots()[5], "v_ld");
        assertEquals(4, c.copiesOf(100 * (D + 4)), "one copy per head of K and of V: " + copiesToDevice);
    }

    @Test
    void misalignedCachesAreCompactedToTheirFilledKeysOnTheHost() {
        // Row stride 65 bytes: the kernel's 32-bit loads need a host copy, which takes the 100
        // filled keys of each of the 2·2 heads only (not the 1000-key capacity), then goes in one
        // copy each.
        Call c = run(2, 4, 2, 2, 100, 1000, D + 1, true);
        assertEquals(100, c.kvCap(), "kv_cap: the compacted keys");
        assertEquals(D, c.slots()[3], "k_ld: the compact rows");
        assertEquals(D, c.slots()[5], "v_ld");
        assertEquals(2, c.copiesOf(2 * 2 * 100 * D), "K and V compacted, one copy each: " + copiesToDevice);
        assertEquals(0, c.copiesOver(2 * 2 * 100 * D), "no larger copy: " + copiesToDevice);
    }

    @Test
    void oneCacheAsKAndVGoesOnce() {
        int b = 1, hq = 4, hkv = 2, kvLen = 100, capacity = 1000;
        try (Fp8Tensor q = fp8(1, b, hq, 1, D, D);
             Fp8Tensor kv = nanTail(fp8(2, b, hkv, capacity, D, D), kvLen);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, 1, D))) {
            AttentionOptions opts = AttentionOptions.defaults();
            attention.forward(q, kv, kv, kvLen, opts, out);
            long[] slots = launches.get(0);
            assertEquals(kvLen, slots[24], "kv_cap: the filled keys");
            assertEquals(slots[2], slots[4], "v: K's staged copy");
            assertEquals(hkv, copiesToDevice.stream().filter(n -> n == (long) kvLen * D).count(),
                    "one copy per head, for K and V together: " + copiesToDevice);
            assertClose(AttentionReference.forward(q, kv, kv, kvLen, opts).out(), out);
        }
    }

    @Test
    void anEmptyCacheIsNotCopied() {
        for (int stride : new int[] {D, D + 1}) { // aligned rows, and rows the misaligned path would compact
            launches.clear();
            copiesToDevice.clear();
            Call c = run(2, 4, 2, 1, 0, 500, stride, true);
            assertEquals(0, c.kvCap(), "stride " + stride);
            assertEquals(0, c.copiesOver(2 * 4 * D), "no K or V copy (Q is " + 2 * 4 * D + " bytes), stride " + stride + ": "
                    + copiesToDevice);
        }
    }

    @Test
    void deviceCachesAreUsedInPlace() {
        int b = 1, hq = 8, hkv = 2, kvLen = 100, capacity = 1000;
        try (Fp8Tensor q = fp8(1, b, hq, 1, D, D);
             Fp8Tensor k = nanTail(fp8(2, b, hkv, capacity, D, D), kvLen);
             Fp8Tensor v = nanTail(fp8(3, b, hkv, capacity, D, D), kvLen);
             Fp8Tensor qd = onDevice(q);
             Fp8Tensor kd = onDevice(k);
             Fp8Tensor vd = onDevice(v);
             Tensor outd = device.allocateTensor(DType.BF16, b, hq, 1, D);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, 1, D))) {
            device.copy(out, outd);
            copiesToDevice.clear();
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
            attention.forward(qd, kd, vd, kvLen, opts, outd);
            assertEquals(capacity, launches.get(0)[24], "kv_cap: the capacity");
            assertEquals(kd.data().deviceAddress(), launches.get(0)[2], "k: the cache itself");
            assertEquals(vd.data().deviceAddress(), launches.get(0)[4], "v: the cache itself");
            assertEquals(List.of(), copiesToDevice, "no copy to the device");
            device.copy(outd, out);
            assertClose(AttentionReference.forward(q, k, v, kvLen, opts).out(), out);
        }
    }

    /**
     * Device caches the kernel cannot read in place are refused naming the misaligned one: only
     * V's rows (stride D + 1) are misaligned here, and the error once named K.
     */
    @Test
    void aMisalignedDeviceCacheIsNamedInTheError() {
        int b = 1, hq = 4, hkv = 2, kvLen = 10, capacity = 100;
        try (Fp8Tensor q = fp8(1, b, hq, 1, D, D);
             Fp8Tensor k = fp8(2, b, hkv, capacity, D, D);
             Fp8Tensor qd = onDevice(q);
             Fp8Tensor kd = onDevice(k);
             Tensor vScales = device.copyOf(k.scales());
             Tensor vRows = device.allocateTensor(DType.FP8_E4M3FN, (long) b * hkv * capacity, D + 1);
             Tensor outd = device.allocateTensor(DType.BF16, b, hq, 1, D)) {
            MemorySegment range = MemorySegment.ofAddress(vRows.deviceAddress()).reinterpret(vRows.spanBytes());
            Tensor vData = Tensor.wrapDevice(null, range, vRows.device(), DType.FP8_E4M3FN, D + 1, b, hkv, capacity, D);
            Fp8Tensor vd = new Fp8Tensor(vData, vScales);
            var e = assertThrows(UnsupportedOperationException.class,
                    () -> attention.forward(qd, kd, vd, kvLen, AttentionOptions.defaults(), outd));
            assertTrue(e.getMessage().startsWith("v.data "), e.getMessage());
            assertEquals(List.of(), launches, "nothing launched");
        }
    }

    /** {@code t}'s codes and scales in device memory (a facade call takes all its tensors on one device). */
    private Fp8Tensor onDevice(Fp8Tensor t) {
        return new Fp8Tensor(device.copyOf(t.data()), device.copyOf(t.scales()));
    }

    @Test
    void paddedScaleRowsAreReadAtTheirStrideOnTheHostAndOnTheDevice() {
        int b = 2, hq = 4, hkv = 2, s = 3, pad = 5;
        AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
        try (Fp8Tensor q = fp8(1, b, hq, s, D, D);
             Fp8Tensor k = fp8(2, b, hkv, s, D, D);
             Fp8Tensor v = fp8(3, b, hkv, s, D, D);
             Tensor qWide = paddedCopy(q.scales(), pad);
             Tensor kWide = paddedCopy(k.scales(), pad);
             Tensor vWide = paddedCopy(v.scales(), pad);
             Tensor out = Tensor.allocate(DType.BF16, b, hq, s, D)) {
            double[] want = AttentionReference.forward(q, k, v, s, opts).out();
            attention.forward(new Fp8Tensor(q.data(), firstColumns(qWide, hq)), new Fp8Tensor(k.data(), firstColumns(kWide, hkv)),
                    new Fp8Tensor(v.data(), firstColumns(vWide, hkv)), s, opts, TensorFill.poison(out));
            long[] slots = launches.getLast();
            assertEquals(List.of(hq + pad, hkv + pad, hkv + pad), List.of((int) slots[7], (int) slots[10], (int) slots[13]),
                    "stride_b of the q, k and v scales: their row stride");
            assertClose(want, out);
            try (Tensor qd = device.copyOf(q.data());
                 Tensor kd = device.copyOf(k.data());
                 Tensor vd = device.copyOf(v.data());
                 Tensor qWideD = device.copyOf(qWide);
                 Tensor kWideD = device.copyOf(kWide);
                 Tensor vWideD = device.copyOf(vWide);
                 Tensor outd = device.allocateTensor(DType.BF16, b, hq, s, D)) {
                attention.forward(new Fp8Tensor(qd, firstColumns(qWideD, hq)), new Fp8Tensor(kd, firstColumns(kWideD, hkv)),
                        new Fp8Tensor(vd, firstColumns(vWideD, hkv)), s, opts, outd);
                assertEquals(hq + pad, launches.getLast()[7], "device scales, read in place at their stride");
                device.copy(outd, TensorFill.poison(out));
                assertClose(want, out);
            }
        }
    }

    /** {@code scales [B, H]} copied into rows of {@code H + pad} floats, the gaps NaN. */
    private static Tensor paddedCopy(Tensor scales, int pad) {
        long rows = scales.dim(0), h = scales.dim(1);
        Tensor wide = Tensor.allocate(DType.FP32, rows, h + pad);
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < h + pad; c++) {
                wide.setFloat(r, c, c < h ? scales.getFloat(r, c) : Float.NaN);
            }
        }
        return wide;
    }

    /** A view of the first {@code cols} columns of {@code wide}'s rows, on its device. */
    private static Tensor firstColumns(Tensor wide, long cols) {
        if (wide.device().hostAddressable()) {
            return Tensor.wrapStrided(wide.segment(), DType.FP32, wide.rowStride(), wide.dim(0), cols);
        }
        MemorySegment range = MemorySegment.ofAddress(wide.deviceAddress()).reinterpret(wide.spanBytes());
        return Tensor.wrapDevice(null, range, wide.device(), DType.FP32, wide.rowStride(), wide.dim(0), cols);
    }

    /** What one call launched with, and the host-to-device copies it made. */
    private record Call(long[] slots, List<Long> copies) {
        long kvCap() {
            return slots[24];
        }

        long copiesOf(long bytes) {
            return copies.stream().filter(n -> n == bytes).count();
        }

        long copiesOver(long bytes) {
            return copies.stream().filter(n -> n > bytes).count();
        }
    }

    /**
     * A call over host caches of {@code capacity} keys with row stride {@code kvStride} bytes,
     * filled to {@code kvLen} (NaN codes after), checked against the float64 reference.
     */
    private Call run(int b, int hq, int hkv, int sq, int kvLen, int capacity, int kvStride, boolean causal) {
        try (Fp8Tensor q = fp8(1, b, hq, sq, D, D);
             Fp8Tensor k = nanTail(fp8(2, b, hkv, capacity, D, kvStride), kvLen);
             Fp8Tensor v = nanTail(fp8(3, b, hkv, capacity, D, kvStride), kvLen);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, b, hq, sq, D));
             Tensor lse = TensorFill.poison(Tensor.allocate(DType.FP32, b, hq, sq))) {
            AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
            attention.forward(q, k, v, kvLen, opts, out, lse);
            assertEquals(1, launches.size(), "launches");
            AttentionReference.Result want = AttentionReference.forward(q, k, v, kvLen, opts);
            assertClose(want.out(), out);
            double[] gotLse = lse.toDoubleArray();
            for (int i = 0; i < gotLse.length; i++) {
                assertEquals(want.lse()[i], gotLse[i], 1e-5 * Math.max(1, Math.abs(want.lse()[i])), "lse " + i);
            }
            return new Call(launches.get(0), List.copyOf(copiesToDevice));
        }
    }

    /** Every element finite and within one bf16 rounding of the reference. */
    private static void assertClose(double[] want, Tensor out) {
        double[] got = out.toDoubleArray();
        for (int i = 0; i < got.length; i++) {
            assertTrue(Double.isFinite(got[i]), "out[" + i + "] = " + got[i] + ": a free slot or an unwritten element");
            assertEquals(want[i], got[i], 0x1p-8 * Math.abs(want[i]) + 1e-30, "out[" + i + "]");
        }
    }

    /** Random e4m3 codes [b, h, s, d] in rows of {@code stride} bytes (the gaps NaN codes), per-head scales. */
    private static Fp8Tensor fp8(long seed, int b, int h, int s, int d, int stride) {
        Tensor dense = TensorFill.gaussian(Tensor.allocate(DType.FP8_E4M3FN, b, h, s, d), seed, 64);
        Tensor data = dense;
        if (stride != d) {
            long rows = (long) b * h * s;
            MemorySegment seg = Arena.ofAuto().allocate((rows - 1) * stride + d, Tensor.ALIGNMENT);
            seg.fill(NAN);
            data = Tensor.wrapStrided(seg, DType.FP8_E4M3FN, stride, new long[] {b, h, s, d});
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(dense.segment(), dense.rowByteOffset(r), seg, data.rowByteOffset(r), d);
            }
            dense.close();
        }
        Tensor scales = Tensor.allocate(DType.FP32, b, h);
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < h; j++) {
                scales.setFloat(i, j, 0.01f + 0.001f * ((seed + 3 * i + j) % 20));
            }
        }
        return new Fp8Tensor(data, scales);
    }

    private static Fp8Tensor nanTail(Fp8Tensor cache, int kvLen) {
        Tensor t = cache.data();
        long capacity = t.dim(2);
        for (long h = 0; h < t.dim(0) * t.dim(1); h++) {
            for (long j = kvLen; j < capacity; j++) {
                t.segment().asSlice(t.rowByteOffset(h * capacity + j), t.cols()).fill(NAN);
            }
        }
        return cache;
    }

    private static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    /** The kernel's launch contract (attention.cu): arguments in its order, memory as it indexes it. */
    private static void emulate(long[] a) {
        assertEquals(27, a.length, "attention.cu's arguments");
        long q = a[0], qLd = a[1], k = a[2], kLd = a[3], v = a[4], vLd = a[5];
        long out = a[15], outLd = a[16], lse = a[17], lseLd = a[18];
        int batch = (int) a[19], hq = (int) a[20], hkv = (int) a[21], sq = (int) a[22], skv = (int) a[23], kvCap = (int) a[24];
        boolean causal = a[25] != 0;
        float softmaxScale = Float.intBitsToFloat((int) a[26]);
        AttentionShape s = new AttentionShape(batch, hq, hkv, sq, skv, D);
        double[] qd = new double[batch * hq * sq * D];
        double[] kd = new double[batch * hkv * skv * D];
        double[] vd = new double[kd.length];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < hq; h++) {
                float scale = scale(a[6], a[7], a[8], b, h);
                for (int i = 0; i < sq; i++) {
                    long row = ((long) b * hq + h) * sq + i;
                    decodeRow(q + row * qLd, scale, qd, (int) row * D);
                }
            }
            for (int g = 0; g < hkv; g++) {
                float ks = scale(a[9], a[10], a[11], b, g);
                float vs = scale(a[12], a[13], a[14], b, g);
                for (int j = 0; j < skv; j++) {
                    long row = ((long) b * hkv + g) * kvCap + j;
                    int to = ((b * hkv + g) * skv + j) * D;
                    decodeRow(k + row * kLd, ks, kd, to);
                    decodeRow(v + row * vLd, vs, vd, to);
                }
            }
        }
        AttentionReference.Result r = AttentionReference.forward(s, qd, kd, vd, causal, softmaxScale);
        for (int bh = 0; bh < batch * hq; bh++) {
            for (int i = 0; i < sq; i++) {
                MemorySegment o = at(out + 2L * ((long) bh * sq + i) * outLd, 2L * D);
                for (int c = 0; c < D; c++) {
                    o.setAtIndex(ValueLayout.JAVA_SHORT, c, Bf16.fromFloat((float) r.out()[(bh * sq + i) * D + c]));
                }
                if (lse != 0) {
                    at(lse + 4L * ((long) bh * lseLd + i), 4).set(ValueLayout.JAVA_FLOAT, 0, (float) r.lse()[bh * sq + i]);
                }
            }
        }
    }

    private static float scale(long scales, long strideB, long strideH, int b, int h) {
        return at(scales + 4 * (b * strideB + h * strideH), 4).get(ValueLayout.JAVA_FLOAT, 0);
    }

    private static void decodeRow(long row, float scale, double[] to, int at) {
        MemorySegment r = at(row, D);
        for (int c = 0; c < D; c++) {
            to[at + c] = (double) Fp8.e4m3ToFloat(r.get(ValueLayout.JAVA_BYTE, c)) * scale;
        }
    }
}
