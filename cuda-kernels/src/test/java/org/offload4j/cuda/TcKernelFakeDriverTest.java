package org.offload4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.cuda.kernels.KernelName;
import org.offload4j.cuda.w4a16.ActOrderGather;
import org.offload4j.cuda.w4a16.ActOrderWeights;
import org.offload4j.cuda.w4a16.TcPackedLayout;
import org.offload4j.cuda.w4a16.TcW4A16Kernel;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Kernel;
import org.offload4j.w4a16.W4A16Reference;

/**
 * {@link TcW4A16Kernel} end to end on the CPU: the {@link FakeCudaDriver}'s "device" is host
 * memory, and the 18 tensor-core entry points are replaced by a Java emulation of the kernel's
 * contract (w4a16_tc.cu, sections 1, 4 and 6) that reads the packed weight, scales and zeros
 * through the argument slots exactly as the kernel indexes them, dequantizes as it does ((q − z)
 * times the scale rounded to X's dtype, the product rounded once), accumulates in fp32 and rounds
 * once. The emulation also asserts the launch contract: block 256, grid (nTiles, splits, z), X
 * 16-byte aligned with ldx a multiple of 8, workspace present and counters zero whenever splits &gt; 1.
 * What this cannot check is the kernel itself (its fragments, pipeline and fix-up): that is the
 * host replay's job (TcHostProgramTest) and, finally, a GPU's.
 */
class TcKernelFakeDriverTest {
    private FakeCudaDriver driver;
    private CudaDevice device;
    private int memsets;
    private final List<String> launches = new ArrayList<>();

    @BeforeEach
    void open() {
        driver = new FakeCudaDriver() {
            @Override
            public void memsetD32Async(long dst, int value, long count, long stream) {
                memsets++;
                super.memsetD32Async(dst, value, count, stream);
            }
        };
        for (KernelName name : KernelName.values()) {
            String s = name.symbol();
            if (s.startsWith("o4j_w4a16_tc_")) {
                boolean bf16 = s.contains("_bf16_");
                int mb = Integer.parseInt(s.replaceAll(".*_m(\\d+)_n.*", "$1"));
                int tileN = Integer.parseInt(s.replaceAll(".*_n(\\d+)$", "$1"));
                driver.kernel(s, (a, gx, gy, gz, bx, smem) -> {
                    launches.add(s + " grid " + gx + "x" + gy + "x" + gz);
                    emulate(a, gx, gy, gz, bx, bf16, mb, tileN);
                });
            }
        }
        driver.kernel(KernelName.W4A16_GATHER_COLUMNS.symbol(), (a, gx, gy, gz, bx, smem) -> {
            launches.add(KernelName.W4A16_GATHER_COLUMNS.symbol() + " grid " + gx + "x" + gy + "x" + gz);
            gather(a, gx, gy, gz, bx);
        });
        device = CudaDevice.open(driver, 0, KernelImage.of(new byte[] {1}, new Properties()));
    }

    /** o4j_w4a16_gather_columns's contract (w4a16.cu, ActOrderGather): x'[i, r] = x[i, order[r]], with its launch checked. */
    static void gather(long[] a, int gx, int gy, int gz, int bx) {
        long x = a[0], ldx = a[1], order = a[2], out = a[3];
        int m = (int) a[4], k = (int) a[5];
        assertEquals(ActOrderGather.THREADS, bx, "block");
        assertEquals(Math.ceilDiv(k / 8, ActOrderGather.THREADS), gx, "grid x: a thread per 8 columns");
        assertEquals(Math.min(m, 65535), gy, "grid y");
        assertEquals(1, gz);
        assertEquals(0, k % 8);
        assertEquals(0, order & 15, "order 16-byte aligned");
        assertEquals(0, out & 15, "out 16-byte aligned");
        MemorySegment o = at(order, 4L * k);
        for (int i = 0; i < m; i++) {
            MemorySegment xr = at(x + 2 * i * ldx, 2 * ldx);
            MemorySegment dst = at(out + 2L * i * k, 2L * k);
            for (int r = 0; r < k; r++) {
                dst.setAtIndex(ValueLayout.JAVA_SHORT, r, xr.getAtIndex(ValueLayout.JAVA_SHORT, o.getAtIndex(ValueLayout.JAVA_INT, r)));
            }
        }
    }

    @AfterEach
    void close() {
        device.close();
    }

    private static MemorySegment at(long address, long bytes) {
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    /** The kernel's contract in Java (dense and grouped). */
    static void emulate(long[] a, int gx, int gy, int gz, int bx, boolean bf16, int mb, int tileN) {
        long x = a[0], qw = a[1], sc = a[2], zr = a[3], bias = a[4], y = a[5], ws = a[6], ctr = a[7], prob = a[8];
        int m = (int) a[9], n = (int) a[10], k = (int) a[11], g = (int) a[12], groups = (int) a[13], kPad = (int) a[14];
        int ldx = (int) a[15], ldy = (int) a[16], kind = (int) a[17], biasF32 = (int) a[18], splits = (int) a[19];
        int kChunk = (int) a[20], mbpp = (int) a[21];
        long qwS = a[22], scS = a[23], zS = a[24], bS = a[25];
        assertEquals(256, bx, "block");
        assertEquals(splits, gy, "grid y = splits");
        assertEquals(Math.ceilDiv(TcPackedLayout.slabs(n), tileN / 64), gx, "grid x = n tiles");
        assertEquals(0, x & 15, "x 16-byte aligned");
        assertEquals(0, ldx % 8, "ldx multiple of 8");
        assertEquals(groups, k / g);
        assertEquals(TcPackedLayout.paddedK(k), kPad);
        assertTrue((long) splits * kChunk >= kPad && (long) (splits - 1) * kChunk < kPad, "splits cover k");
        if (splits > 1) {
            assertTrue(ws != 0, "workspace");
            MemorySegment c = at(ctr, 4L * gz * gx);
            for (long i = 0; i < (long) gz * gx; i++) {
                assertEquals(0, c.getAtIndex(ValueLayout.JAVA_INT, i), "counter " + i + " zero before the launch");
            }
        }
        int slabs = TcPackedLayout.slabs(n);
        int esz = TcPackedLayout.scaleBytes(kind);
        for (int z = 0; z < gz; z++) {
            int expert = 0, rb = 0, re = m;
            if (prob != 0) {
                MemorySegment p = at(prob + 12L * (z / mbpp), 12);
                expert = p.getAtIndex(ValueLayout.JAVA_INT, 0);
                rb = p.getAtIndex(ValueLayout.JAVA_INT, 1);
                re = p.getAtIndex(ValueLayout.JAVA_INT, 2);
            }
            int row0 = rb + (z % mbpp) * mb;
            int rows = Math.min(mb, re - row0);
            for (int r = 0; r < rows; r++) {
                MemorySegment xr = at(x + 2L * (row0 + r) * ldx, 2L * k);
                for (int j = 0; j < n; j++) {
                    float acc = 0;
                    int slab = j / 64, c = j % 64;
                    for (int kk = 0; kk < k; kk++) {
                        int rr = kk % 16;
                        long wi = TcPackedLayout.qweightWordIndex(slab, kk / 16, TcPackedLayout.lane(rr, c), TcPackedLayout.word(rr, c),
                                kPad / 16);
                        int word = at(qw + 16 * expert * qwS + 4 * wi, 4).get(ValueLayout.JAVA_INT, 0);
                        int q = (word >>> (4 * TcPackedLayout.nibble(rr, c))) & 0xF;
                        int gi = Math.min(kk / g, groups - 1);
                        long so = (expert * scS + TcPackedLayout.scaleIndex(gi, j, slabs)) * esz;
                        float s = switch (kind) {
                            case TcPackedLayout.SCALE_F16 -> Float.float16ToFloat(at(sc + so, 2).get(ValueLayout.JAVA_SHORT, 0));
                            case TcPackedLayout.SCALE_BF16 -> Bf16.toFloat(at(sc + so, 2).get(ValueLayout.JAVA_SHORT, 0));
                            default -> at(sc + so, 4).get(ValueLayout.JAVA_FLOAT, 0);
                        };
                        int zero = 8;
                        if (zr != 0) {
                            int zw = at(zr + 4 * (expert * zS + TcPackedLayout.zeroWordIndex(gi, j, slabs)), 4).get(ValueLayout.JAVA_INT, 0);
                            zero = (zw >>> (4 * (c >> 3))) & 0xF;
                        }
                        float sx = bf16 ? Bf16.round(s) : Fp16.round(s);
                        float w = bf16 ? Bf16.round((q - zero) * sx) : Fp16.round((q - zero) * sx);
                        short xb = xr.getAtIndex(ValueLayout.JAVA_SHORT, kk);
                        acc += (bf16 ? Bf16.toFloat(xb) : Float.float16ToFloat(xb)) * w;
                    }
                    if (bias != 0) {
                        long bi = expert * bS + j;
                        acc += biasF32 == 1 ? at(bias + 4 * bi, 4).get(ValueLayout.JAVA_FLOAT, 0)
                                : bf16 ? Bf16.toFloat(at(bias + 2 * bi, 2).get(ValueLayout.JAVA_SHORT, 0))
                                : Float.float16ToFloat(at(bias + 2 * bi, 2).get(ValueLayout.JAVA_SHORT, 0));
                    }
                    short out = bf16 ? Bf16.fromFloat(acc) : Float.floatToFloat16(acc);
                    at(y + 2L * ((long) (row0 + r) * ldy + j), 2).set(ValueLayout.JAVA_SHORT, 0, out);
                }
            }
        }
    }

    private W4A16 op(W4A16Kernel kernel) {
        return W4A16.create(new OneKernelBackend("fake-cuda", device.asDevice(), W4A16Kernel.class, kernel));
    }

    private double run(W4A16 op, int m, int n, int k, int g, boolean sym, DType scaleType, DType dtype, int biasMode, long seed) {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, g, sym, scaleType);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, k), seed + 1, 1.0);
             Tensor bias = biasMode == 0 ? null
                     : TensorFill.gaussian(Tensor.allocate(biasMode == 1 ? DType.FP32 : dtype, n), seed + 2, 0.5);
             Tensor y = TensorFill.poison(Tensor.allocate(dtype, m, n))) {
            op.matmul(x, p, bias, y);
            assertFalse(TensorFill.hasPoison(y), "every element written");
            return Accuracy.relativeL2(W4A16Reference.product(x, qw, bias), y);
        }
    }

    @Test
    void matmulThroughTheFacadeMatchesTheReference() {
        W4A16 op = op(new TcW4A16Kernel(device));
        long seed = 10;
        int[][] shapes = {{1, 8, 128}, {3, 136, 256}, {17, 72, 384}, {65, 200, 128}};
        int variant = 0;
        for (int[] s : shapes) {
            for (int g : new int[] {32, 128, s[2]}) {
                DType dtype = variant % 2 == 0 ? DType.BF16 : DType.FP16;
                DType scaleType = new DType[] {DType.FP16, DType.BF16, DType.FP32}[variant % 3];
                double err = run(op, s[0], s[1], s[2], g, variant % 2 == 1, scaleType, dtype, variant % 3, seed += 3);
                assertTrue(err <= 5e-3, "rel L2 " + err + " for " + java.util.Arrays.toString(s) + " g=" + g);
                variant++;
            }
        }
        assertTrue(launches.stream().allMatch(l -> l.startsWith("o4j_w4a16_tc_")), launches.toString());
    }

    @Test
    void weightsWhoseScalesFp16CannotCarryGoToTheSimpleKernels() {
        for (String simple : new String[] {"o4j_w4a16_splitk_f16", "o4j_w4a16_reduce_f16"}) {
            driver.kernel(simple, (a, gx, gy, gz, bx, smem) -> launches.add(simple)); // the launch is what is checked here
        }
        W4A16 op = op(new TcW4A16Kernel(device));
        for (double std : new double[] {1e5, 1e-5}) { // scales near 3e4 (fp16 weights overflow), near 3e-6 (subnormal)
            launches.clear();
            try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 256, 64), 7, std);
                 QuantizedWeight qw = RtnQuantizer.quantize(wf, 32, false, DType.FP32);
                 W4A16.Prepared p = op.prepare(qw);
                 Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP16, 2, 256), 8, 1.0);
                 Tensor y = Tensor.allocate(DType.FP16, 2, 64)) {
                op.matmul(x, p, null, y);
                assertTrue(launches.contains("o4j_w4a16_splitk_f16") && launches.stream().noneMatch(l -> l.startsWith("o4j_w4a16_tc_")),
                        "std " + std + ": " + launches);
            }
        }
        launches.clear();
        assertTrue(run(op, 2, 64, 256, 32, false, DType.FP32, DType.FP16, 0, 9) <= 5e-3, "realistic scales: the tensor cores");
        assertTrue(launches.stream().allMatch(l -> l.startsWith("o4j_w4a16_tc_")), launches.toString());
    }

    @Test
    void countersAreZeroedOnceAndTheWorkspaceIsReused() {
        W4A16 op = op(new TcW4A16Kernel(device));
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 1024, 72), 1, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 128, false, DType.FP16);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 2, 1024), 2, 1.0);
             Tensor y1 = Tensor.allocate(DType.BF16, 2, 72);
             Tensor y2 = Tensor.allocate(DType.BF16, 2, 72)) {
            int before = memsets;
            op.matmul(x, p, null, y1);
            assertTrue(launches.getLast().matches(".*grid \\d+x([2-9]|\\d\\d+)x1"), "several splits: " + launches.getLast());
            assertEquals(before + 1, memsets, "counters zeroed at allocation");
            op.matmul(x, p, null, y2);
            assertEquals(before + 1, memsets, "the launch left them zero: no second memset");
            assertArrayEquals(y1.toFloatArray(), y2.toFloatArray());
        }
    }

    @Test
    void unalignedXIsCopiedAndGivesTheSameBits() {
        W4A16 op = op(new TcW4A16Kernel(device));
        int m = 5, k = 256, n = 72;
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), 3, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 64, true, DType.BF16);
             W4A16.Prepared p = op.prepare(qw);
             Tensor wide = TensorFill.gaussian(Tensor.allocate(DType.FP16, m, k + 3), 4, 1.0);
             Tensor dense = Tensor.allocate(DType.FP16, m, k);
             Tensor y1 = Tensor.allocate(DType.FP16, m, n);
             Tensor y2 = Tensor.allocate(DType.FP16, m, n)) {
            Tensor strided = Tensor.wrapStrided(wide.segment(), DType.FP16, k + 3, m, k);
            for (int r = 0; r < m; r++) {
                for (int c = 0; c < k; c++) {
                    dense.setFloat(r, c, strided.getFloat(r, c));
                }
            }
            op.matmul(strided, p, null, y1);   // ldx = 259: re-staged contiguously
            op.matmul(dense, p, null, y2);
            assertArrayEquals(y2.toFloatArray(), y1.toFloatArray());
            assertTrue(Accuracy.relativeL2(W4A16Reference.product(dense, qw, null), y1) <= 5e-3);
        }
    }

    /**
     * An act-order weight with x on the device, on the host and strided: the gather runs on the
     * device before the tensor-core launch, the result matches the reference of the original W,
     * and every form gives the same bits as the facade's host gather feeding the same kernel (a
     * wrapper that does not gather makes the facade gather on the host).
     */
    @Test
    void actOrderGathersOnTheDeviceForDeviceAndHostActivations() {
        W4A16 op = op(new TcW4A16Kernel(device));
        int m = 5, k = 384, n = 72, g = 128;
        try (QuantizedWeight qw = ActOrderWeights.random(k, n, g, false, DType.FP16, 41);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, k), 42, 1.0);
             Tensor yHost = TensorFill.poison(Tensor.allocate(DType.BF16, m, n));
             Tensor xd = device.allocateTensor(DType.BF16, m, k);
             Tensor yd = device.allocateTensor(DType.BF16, m, n);
             Tensor yBack = TensorFill.poison(Tensor.allocate(DType.BF16, m, n))) {
            assertTrue(p.actOrder() && p.packed().toString().contains("act-order"), p.packed().toString());
            launches.clear();
            op.matmul(x, p, null, yHost);
            assertEquals(2, launches.size(), launches.toString());
            assertTrue(launches.get(0).startsWith("o4j_w4a16_gather_columns grid 1x5x1"), launches.toString());
            assertTrue(launches.get(1).startsWith("o4j_w4a16_tc_bf16_"), launches.toString());
            assertFalse(TensorFill.hasPoison(yHost));
            assertTrue(Accuracy.relativeL2(W4A16Reference.product(x, qw, null), yHost) <= 5e-3);

            W4A16Kernel tc = new TcW4A16Kernel(device);
            W4A16Kernel hostGather = new W4A16Kernel() { // gathersColumns() false: the facade gathers
                @Override
                public org.offload4j.w4a16.PackedWeight prepack(QuantizedWeight w) {
                    return tc.prepack(w);
                }

                @Override
                public void matmul(Tensor xx, org.offload4j.w4a16.PackedWeight w, Tensor bias, Tensor yy) {
                    tc.matmul(xx, w, bias, yy);
                }
            };
            try (Tensor yFacade = TensorFill.poison(Tensor.allocate(DType.BF16, m, n))) {
                W4A16 viaFacade = op(hostGather);
                try (W4A16.Prepared ph = viaFacade.prepare(qw)) {
                    launches.clear();
                    viaFacade.matmul(x, ph, null, yFacade);
                }
                assertTrue(launches.stream().noneMatch(l -> l.startsWith("o4j_w4a16_gather")), launches.toString());
                assertArrayEquals(yFacade.toFloatArray(), yHost.toFloatArray(), "device gather = host gather, bit for bit");
            }

            device.copy(x, xd);
            op.matmul(xd, p, null, yd);
            device.copy(yd, yBack);
            assertArrayEquals(yHost.toFloatArray(), yBack.toFloatArray(), "device x gives the same bits");

            try (Tensor wide = Tensor.allocate(DType.BF16, m, k + 3)) { // ldx = 387: the gather reads any stride
                Tensor strided = Tensor.wrapStrided(wide.segment(), DType.BF16, k + 3, m, k);
                for (int r = 0; r < m; r++) {
                    for (int c = 0; c < k; c++) {
                        strided.setFloat(r, c, x.getFloat(r, c));
                    }
                }
                op.matmul(strided, p, null, TensorFill.poison(yBack));
                assertArrayEquals(yHost.toFloatArray(), yBack.toFloatArray(), "strided x gives the same bits");
            }

            device.copy(TensorFill.poison(yBack), yd);
            op.matmul(xd, qw, null, yd); // the overload that repacks per call
            device.copy(yd, yBack);
            assertArrayEquals(yHost.toFloatArray(), yBack.toFloatArray(), "the one-off overload too");
        }
    }

    /** A routing of {@code rows[e]} rows to each expert e (k = 1, weight 1), tokens in expert order. */
    private static org.offload4j.moe.Routing routingOf(int... rows) {
        int tokens = java.util.Arrays.stream(rows).sum();
        int[] ids = new int[tokens];
        float[] w = new float[tokens];
        int t = 0;
        for (int e = 0; e < rows.length; e++) {
            for (int r = 0; r < rows[e]; r++, t++) {
                ids[t] = e;
                w[t] = 1f;
            }
        }
        return org.offload4j.moe.Routing.of(rows.length, 1, ids, w);
    }

    /**
     * The MoE grouped GEMM on the tensor-core path, through the fake driver: a skewed routing
     * (one expert with 70 rows, others with 1 to 3, one with none) launches one grid-z block per
     * row block that holds rows (70 rows: two 64-row blocks, then one per small expert), not every
     * expert times the largest one's blocks, and matches the float64 reference.
     */
    @Test
    void moeGroupedGemmLaunchesOnlyTheRowBlocksThatHoldRows() {
        int experts = 6, dModel = 64, dFf = 32;
        int[] rows = {2, 70, 0, 1, 3, 1};
        org.offload4j.moe.Routing routing = routingOf(rows);
        java.util.Random rnd = new java.util.Random(61);
        float[] w1v = new float[experts * dModel * 2 * dFf];
        float[] w2v = new float[experts * dFf * dModel];
        for (int i = 0; i < w1v.length; i++) {
            w1v[i] = (float) (0.1 * rnd.nextGaussian());
        }
        for (int i = 0; i < w2v.length; i++) {
            w2v[i] = (float) (0.1 * rnd.nextGaussian());
        }
        var moe = new org.offload4j.cuda.moe.CudaMoeKernel(device, true);
        try (Tensor w1 = Tensor.of(DType.BF16, w1v, experts, dModel, 2 * dFf);
             Tensor w2 = Tensor.of(DType.BF16, w2v, experts, dFf, dModel);
             org.offload4j.moe.W4A16ExpertWeights weights = org.offload4j.moe.W4A16ExpertWeights.quantize(w1, w2, 32, false, DType.FP16);
             Tensor in = TensorFill.gaussian(Tensor.allocate(DType.BF16, routing.copies(), dModel), 62, 1.0);
             Tensor out = TensorFill.poison(Tensor.allocate(DType.BF16, routing.copies(), 2 * dFf))) {
            launches.clear();
            moe.groupedGemm(in, routing, weights, org.offload4j.moe.ExpertWeights.Matrix.GATE_UP, out);
            assertEquals(1, launches.size(), launches.toString());
            assertTrue(launches.get(0).endsWith("x" + (2 + 4)), "6 row blocks (70 rows = 2 blocks of 64, then 4 experts), "
                    + "not 5 experts × 2: " + launches);
            assertFalse(TensorFill.hasPoison(out), "every row written");
            double[] ref = org.offload4j.moe.MoeReference.groupedGemm(in.toDoubleArray(), routing, weights,
                    org.offload4j.moe.ExpertWeights.Matrix.GATE_UP);
            assertTrue(Accuracy.relativeL2(ref, out) <= 5e-3, "rel L2 " + Accuracy.relativeL2(ref, out));
        }
    }

    /** Device buffers freed when a prepared weight that ran one matmul is closed. */
    private long freesOfPrepareRunClose(QuantizedWeight qw, DType dtype, int m) {
        W4A16 op = op(new TcW4A16Kernel(device));
        long frees = driver.frees.get();
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, qw.k()), 44, 1.0);
             Tensor y = Tensor.allocate(dtype, m, qw.n())) {
            W4A16.Prepared p = op.prepare(qw);
            op.matmul(x, p, null, y);
            p.close();
        }
        return driver.frees.get() - frees;
    }

    @Test
    void anActOrderWeightFreesItsRowOrderToo() {
        try (QuantizedWeight qw = ActOrderWeights.random(256, 64, 64, true, DType.BF16, 43)) {
            // qweight, scales, row order, partials, counters (symmetric: no zeros)
            assertEquals(5, freesOfPrepareRunClose(qw, DType.FP16, 2));
        }
    }

    @Test
    void closingTheWeightFreesEverything() {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 512, 64), 5, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 32, false, DType.FP16)) {
            // qweight, scales, zeros, partials, counters
            assertEquals(5, freesOfPrepareRunClose(qw, DType.BF16, 1));
        }
    }
}
