package org.offload4j.cuda.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.AttentionShape;
import org.offload4j.attention.AttentionReference;
import org.offload4j.attention.Fp8Quantizer;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaBackend;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;

/**
 * The CUDA attention kernel through the {@link Attention} facade against
 * {@link AttentionReference} (float64 on the dequantized inputs): irregular sizes, causal on and
 * off with Sq below, at and above Skv, GQA and MQA, each D, per-tensor and per-head scales, lse.
 * Skipped (with the reason) where no CUDA backend comes up.
 */
class CudaAttentionKernelGpuTest {

    private static Tensor random(Random rnd, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(DType.BF16, v, shape);
    }

    /** {@link #random} values quantized to fp8 with per-head scales (the bf16 tensor freed). */
    private static Fp8Tensor randomFp8(Random rnd, long... shape) {
        try (Tensor x = random(rnd, shape)) {
            return Fp8Quantizer.quantize(x, ScaleGranularity.PER_HEAD);
        }
    }

    @GpuTest
    void matchesTheFloat64Reference() {
        Attention att = Attention.create(GpuAvailable.backend());
        int[][] shapes = {   // B, Hq, Hkv, Sq, Skv
            {1, 1, 1, 1, 1}, {2, 4, 2, 17, 45}, {1, 3, 1, 33, 33}, {1, 2, 1, 45, 17}, {2, 2, 2, 7, 130}, {1, 8, 2, 1, 257},
            {1, 1, 1, 5, 0},
        };
        long seed = 20260101;
        for (int d : new int[] {64, 128, 256}) {
            for (int[] s : shapes) {
                for (boolean causal : new boolean[] {false, true}) {
                    for (ScaleGranularity g : ScaleGranularity.values()) {
                        Random rnd = new Random(++seed);
                        String what = "seed " + seed + " B,Hq,Hkv,Sq,Skv=" + java.util.Arrays.toString(s) + " D=" + d
                                + " causal=" + causal + " " + g;
                        try (Tensor qb = random(rnd, s[0], s[1], s[3], d);
                             Tensor kb = random(rnd, s[0], s[2], s[4], d);
                             Tensor vb = random(rnd, s[0], s[2], s[4], d);
                             Fp8Tensor q = Fp8Quantizer.quantize(qb, g);
                             Fp8Tensor k = Fp8Quantizer.quantize(kb, g);
                             Fp8Tensor v = Fp8Quantizer.quantize(vb, g);
                             Tensor out = Tensor.allocate(DType.BF16, s[0], s[1], s[3], d);
                             Tensor lse = Tensor.allocate(DType.FP32, s[0], s[1], s[3])) {
                            float[] poison = new float[(int) out.elementCount()];
                            java.util.Arrays.fill(poison, Float.NaN);
                            out.copyFrom(poison);
                            lse.copyFrom(java.util.Arrays.copyOf(poison, (int) lse.elementCount()));
                            AttentionOptions opts = AttentionOptions.defaults().withCausal(causal);
                            att.forward(q, k, v, opts, out, lse);
                            AttentionReference.Result ref = AttentionReference.forward(q, k, v, opts);
                            float[] got = out.toFloatArray();
                            float[] gotLse = lse.toFloatArray();
                            double num = 0;
                            double den = 0;
                            for (int i = 0; i < got.length; i++) {
                                assertTrue(Float.isFinite(got[i]), what + ": out[" + i + "] = " + got[i]);
                                num += (got[i] - ref.out()[i]) * (got[i] - ref.out()[i]);
                                den += ref.out()[i] * ref.out()[i];
                            }
                            double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
                            assertTrue(rel <= 1e-2, what + ": relative L2 " + rel + " (contract 3e-2, expected ~2e-3)");
                            for (int i = 0; i < gotLse.length; i++) {
                                if (Double.isInfinite(ref.lse()[i])) {
                                    assertEquals(Float.NEGATIVE_INFINITY, gotLse[i], what + ": lse[" + i + "]");
                                } else {
                                    assertEquals(ref.lse()[i], gotLse[i], 1e-3 * Math.max(1, Math.abs(ref.lse()[i])),
                                            what + ": lse[" + i + "]");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Q, K and V (codes and scales), out and lse all in device memory, K and V KV caches filled to
     * half: the facade reads none of that memory (it could not) and the kernel uses it in place.
     * The result is the host call's, bit for bit (the same kernel on the same bytes).
     */
    @GpuTest
    void deviceResidentTensorsGiveTheBitsOfHostOnes() {
        CudaBackend backend = GpuAvailable.backend();
        CudaDevice device = backend.kernels(CudaDevice.class).orElseThrow();
        Attention att = Attention.create(backend);
        int b = 2, hq = 8, hkv = 2, sq = 3, kvLen = 150, capacity = 300, d = 128;
        Random rnd = new Random(20261208);
        AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
        try (Fp8Tensor q = randomFp8(rnd, b, hq, sq, d);
             Fp8Tensor k = randomFp8(rnd, b, hkv, capacity, d);
             Fp8Tensor v = randomFp8(rnd, b, hkv, capacity, d);
             Fp8Tensor qd = onDevice(device, q);
             Fp8Tensor kd = onDevice(device, k);
             Fp8Tensor vd = onDevice(device, v);
             Tensor out = Tensor.allocate(DType.BF16, b, hq, sq, d);
             Tensor lse = Tensor.allocate(DType.FP32, b, hq, sq);
             Tensor outd = device.allocateTensor(DType.BF16, b, hq, sq, d);
             Tensor lsed = device.allocateTensor(DType.FP32, b, hq, sq);
             Tensor outBack = Tensor.allocate(DType.BF16, b, hq, sq, d);
             Tensor lseBack = Tensor.allocate(DType.FP32, b, hq, sq)) {
            att.forward(q, k, v, kvLen, opts, out, lse);
            att.forward(qd, kd, vd, kvLen, opts, outd, lsed);
            device.copy(outd, outBack);
            device.copy(lsed, lseBack);
            org.junit.jupiter.api.Assertions.assertArrayEquals(out.toFloatArray(), outBack.toFloatArray(), "out");
            org.junit.jupiter.api.Assertions.assertArrayEquals(lse.toFloatArray(), lseBack.toFloatArray(), "lse");
        }
    }

    /** {@code t}'s codes and scales copied into device memory (one call's tensors live on one device). */
    private static Fp8Tensor onDevice(CudaDevice device, Fp8Tensor t) {
        return new Fp8Tensor(device.copyOf(t.data()), device.copyOf(t.scales()));
    }

    /**
     * KV caches of capacity 200 and 2048 per head, filled to 0, 1, 33, 130, 1500 (of 2048) and
     * all keys, the free slots holding NaN codes: the kernel must take head g's keys from row
     * g·capacity on and read none of the free slots (one that reached a result would make it NaN).
     * The host caches go to the device whole or as their filled keys
     * ({@link CudaAttentionKernel#stageFilledKeysOnly}); the cases take both ways.
     * Against the float64 reference of the cache call and, bit for bit, the call on K and V cut
     * to the filled keys.
     */
    @GpuTest
    void aKvCacheFilledToEachLength() {
        Attention att = Attention.create(GpuAvailable.backend());
        int b = 2, hq = 8, hkv = 2;
        long seed = 20261207;
        int filledOnly = 0;
        int whole = 0;
        for (int d : new int[] {64, 128, 256}) {
            for (int sq : new int[] {1, 3}) {
                for (int[] filled : new int[][] {{200, 0}, {200, 1}, {200, 33}, {200, 130}, {200, 200}, {2048, 1}, {2048, 1500},
                        {2048, 2048}}) {
                    int capacity = filled[0];
                    int kvLen = filled[1];
                    if (CudaAttentionKernel.stageFilledKeysOnly(new AttentionShape(b, hq, hkv, sq, kvLen, d, capacity), d, d)) {
                        filledOnly++;
                    } else {
                        whole++;
                    }
                    Random rnd = new Random(++seed);
                    String what = "seed " + seed + " D=" + d + " Sq=" + sq + " kvLen=" + kvLen + " of " + capacity;
                    try (Fp8Tensor q = randomFp8(rnd, b, hq, sq, d);
                         Fp8Tensor k = randomFp8(rnd, b, hkv, capacity, d);
                         Fp8Tensor v = randomFp8(rnd, b, hkv, capacity, d);
                         Tensor kCut = Tensor.allocate(DType.FP8_E4M3FN, b, hkv, kvLen, d);
                         Tensor vCut = Tensor.allocate(DType.FP8_E4M3FN, b, hkv, kvLen, d);
                         Tensor out = Tensor.allocate(DType.BF16, b, hq, sq, d);
                         Tensor cutOut = Tensor.allocate(DType.BF16, b, hq, sq, d)) {
                        for (long h = 0; h < (long) b * hkv; h++) {
                            for (long j = 0; j < capacity; j++) {
                                long row = h * capacity + j;
                                if (j < kvLen) {
                                    java.lang.foreign.MemorySegment.copy(k.data().segment(), k.data().rowByteOffset(row),
                                            kCut.segment(), kCut.rowByteOffset(h * kvLen + j), d);
                                    java.lang.foreign.MemorySegment.copy(v.data().segment(), v.data().rowByteOffset(row),
                                            vCut.segment(), vCut.rowByteOffset(h * kvLen + j), d);
                                } else {
                                    k.data().segment().asSlice(k.data().rowByteOffset(row), d).fill((byte) 0x7F);
                                    v.data().segment().asSlice(v.data().rowByteOffset(row), d).fill((byte) 0x7F);
                                }
                            }
                        }
                        AttentionOptions opts = AttentionOptions.defaults().withCausal(true);
                        att.forward(q, k, v, kvLen, opts, out);
                        att.forward(q, new Fp8Tensor(kCut, k.scales()), new Fp8Tensor(vCut, v.scales()), opts, cutOut);
                        float[] got = out.toFloatArray();
                        org.junit.jupiter.api.Assertions.assertArrayEquals(cutOut.toFloatArray(), got, what + ": cache vs cut call");
                        double[] want = AttentionReference.forward(q, k, v, kvLen, opts).out();
                        double num = 0;
                        double den = 0;
                        for (int i = 0; i < got.length; i++) {
                            assertTrue(Float.isFinite(got[i]), what + ": out[" + i + "] = " + got[i]);
                            num += (got[i] - want[i]) * (got[i] - want[i]);
                            den += want[i] * want[i];
                        }
                        double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
                        assertTrue(rel <= 1e-2, what + ": relative L2 " + rel);
                    }
                }
            }
        }
        // Both ways of staging host caches ran (e.g. 1 of 2048 keys: filled keys; 130 of 200 at D = 64: whole).
        assertTrue(filledOnly > 0 && whole > 0, filledOnly + " calls staged the filled keys only, " + whole + " whole caches");
    }
}
