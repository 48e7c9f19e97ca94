package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.cuda.CudaDevice;
import org.offload4j.cuda.GpuAvailable;
import org.offload4j.cuda.GpuTest;
import org.offload4j.cuda.OneKernelBackend;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Kernel;
import org.offload4j.w4a16.W4A16Reference;

/**
 * Both CUDA W4A16 paths, each through the facade over exactly that kernel (whatever
 * {@code -Doffload.cuda.w4a16} says), against the float64 reference: m ∈ {1, 3, 7, 17, 33, 64, 65},
 * n not a multiple of the 64/128/256 column tiles, every group size (32, 64, 128, k), symmetric and
 * asymmetric, every scale dtype, bias none / fp32 / x's dtype, bf16 and fp16; a split-heavy decode
 * shape; the tensor-core output against the simple kernels' output; and bit-identical reruns of
 * the tensor-core kernel. The first GPU run of this class is the tensor-core kernel's first run on
 * hardware. Skipped, with the reason, where no CUDA backend comes up.
 */
class TcW4A16KernelGpuTest {
    static final double TOLERANCE = 5e-3;
    static final int[] MS = {1, 3, 7, 17, 33, 64, 65};

    private static CudaDevice device() {
        return GpuAvailable.backend().device();
    }

    private static W4A16 op(W4A16Kernel kernel) {
        return W4A16.create(new OneKernelBackend("cuda", device().asDevice(), W4A16Kernel.class, kernel));
    }

    private static W4A16 op(CudaW4A16Kernels.Path path) {
        return op(CudaW4A16Kernels.forDevice(device(), path));
    }

    private static Tensor run(W4A16 op, QuantizedWeight qw, Tensor x, Tensor bias) {
        Tensor y = TensorFill.poison(Tensor.allocate(x.dtype(), x.dim(0), qw.n()));
        try (W4A16.Prepared p = op.prepare(qw)) {
            op.matmul(x, p, bias, y);
        }
        return y;
    }

    private static void check(CudaW4A16Kernels.Path path, W4A16 op, int m, int n, int k, int g, boolean sym, DType scaleType,
                              DType dtype, int biasMode, long seed) {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, g, sym, scaleType);
             Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, k), seed + 1, 1.0);
             Tensor bias = biasMode == 0 ? null
                     : TensorFill.gaussian(Tensor.allocate(biasMode == 1 ? DType.FP32 : dtype, n), seed + 2, 0.5);
             Tensor y = run(op, qw, x, bias)) {
            String ctx = path + " m=" + m + " n=" + n + " k=" + k + " g=" + g + (sym ? " sym" : " asym") + " scales=" + scaleType
                    + " " + dtype + " bias=" + (bias == null ? "none" : bias.dtype()) + " seed=" + seed + " "
                    + TcSplitKPlanner.plan(m, n, k, g, device().smCount());
            assertFalse(TensorFill.hasPoison(y), "unwritten or non-finite output: " + ctx);
            double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, bias), y);
            assertTrue(err <= TOLERANCE, "rel L2 " + err + ": " + ctx);
        }
    }

    private static void contract(CudaW4A16Kernels.Path path) {
        W4A16 op = op(path);
        int[] ns = {8, 72, 200, 264, 520};     // none a multiple of 64; 520 spans more than two 256-column tiles
        int[] ks = {128, 384, 256, 512};
        long seed = 1000;
        int variant = 0;
        for (int m : MS) {
            for (int g0 : new int[] {32, 64, 128, -1}) {
                int k = ks[variant % ks.length];
                int g = g0 == -1 ? k : g0;
                if (k % g != 0) {
                    g = k;
                }
                int n = ns[variant % ns.length];
                DType dtype = variant % 2 == 0 ? DType.BF16 : DType.FP16;
                DType scaleType = new DType[] {DType.FP16, DType.BF16, DType.FP32}[variant % 3];
                check(path, op, m, n, k, g, (variant / 2) % 2 == 0, scaleType, dtype, (variant / 3) % 3, seed += 3);
                variant++;
            }
        }
        // decode shapes with many splits, one group and several
        for (int m : new int[] {1, 5}) {
            check(path, op, m, 264, 4096, 128, false, DType.FP16, DType.BF16, 1, 900 + m);
            check(path, op, m, 264, 4096, 4096, true, DType.BF16, DType.FP16, 2, 950 + m);
        }
    }

    @GpuTest
    void tensorCorePathMatchesTheReference() {
        contract(CudaW4A16Kernels.Path.TC);
    }

    @GpuTest
    void simplePathMatchesTheReference() {
        contract(CudaW4A16Kernels.Path.SIMPLE);
    }

    /** Scales fp16 cannot carry (fp16 weights past 65504, or subnormal): fp16 activations still meet the contract. */
    @GpuTest
    void fp16ActivationsWithScalesOutsideFp16sRange() {
        W4A16 op = op(CudaW4A16Kernels.Path.TC);
        for (double std : new double[] {1e5, 1e-5}) {
            try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 512, 72), 77, std);
                 QuantizedWeight qw = RtnQuantizer.quantize(wf, 32, false, DType.FP32);
                 Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP16, 7, 512), 78, std >= 1 ? 1e-4 : 10.0);
                 Tensor y = run(op, qw, x, null)) {
                assertFalse(TensorFill.hasPoison(y), "non-finite output, weight std " + std);
                double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, null), y);
                assertTrue(err <= TOLERANCE, "rel L2 " + err + ", weight std " + std);
            }
        }
    }

    @GpuTest
    void tensorCoreAndSimpleAgree() {
        W4A16 tc = op(CudaW4A16Kernels.Path.TC);
        W4A16 simple = op(CudaW4A16Kernels.Path.SIMPLE);
        for (int m : MS) {
            for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
                long seed = 70 + m;
                try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 1024, 200), seed, 0.05);
                     QuantizedWeight qw = RtnQuantizer.quantize(wf, 64, false, DType.FP16);
                     Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, 1024), seed + 1, 1.0);
                     Tensor bias = TensorFill.gaussian(Tensor.allocate(DType.FP32, 200), seed + 2, 0.5);
                     Tensor a = run(tc, qw, x, bias);
                     Tensor b = run(simple, qw, x, bias)) {
                    // each is within 5e-3 of float64; the two differ by their roundings (the TC kernel rounds
                    // each dequantized weight to x's dtype)
                    double d = Accuracy.relativeL2(b.toDoubleArray(), a);
                    assertTrue(d <= TOLERANCE, "TC vs simple rel L2 " + d + " m=" + m + " " + dtype);
                }
            }
        }
    }

    @GpuTest
    void tensorCoreResultsAreBitIdenticalAcrossRuns() {
        W4A16 op = op(CudaW4A16Kernels.Path.TC);
        for (int m : new int[] {1, 3, 33, 65}) {
            try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 4096, 264), 5 + m, 0.05);
                 QuantizedWeight qw = RtnQuantizer.quantize(wf, 128, false, DType.FP16);
                 W4A16.Prepared p = op.prepare(qw);
                 Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, 4096), 6 + m, 1.0);
                 Tensor y1 = Tensor.allocate(DType.BF16, m, 264);
                 Tensor y2 = Tensor.allocate(DType.BF16, m, 264);
                 Tensor y3 = Tensor.allocate(DType.BF16, m, 264)) {
                op.matmul(x, p, null, y1);
                op.matmul(x, p, null, y2);
                op.matmul(x, p, null, y3);
                assertArrayEquals(y1.toFloatArray(), y2.toFloatArray(), "m=" + m);
                assertArrayEquals(y1.toFloatArray(), y3.toFloatArray(), "m=" + m);
            }
        }
    }

    @GpuTest
    void deviceTensorsAndAnUnalignedViewGiveTheSameBits() {
        CudaDevice dev = device();
        W4A16 op = op(CudaW4A16Kernels.Path.TC);
        int m = 7, k = 512, n = 200;
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), 31, 0.05);
             QuantizedWeight qw = RtnQuantizer.quantize(wf, 128, true, DType.BF16);
             W4A16.Prepared p = op.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP16, m, k), 32, 1.0);
             Tensor wide = TensorFill.gaussian(Tensor.allocate(DType.FP16, m, k + 3), 33, 1.0);
             Tensor xd = dev.allocateTensor(DType.FP16, m, k);
             Tensor yd = dev.allocateTensor(DType.FP16, m, n);
             Tensor y1 = Tensor.allocate(DType.FP16, m, n);
             Tensor y2 = Tensor.allocate(DType.FP16, m, n)) {
            Tensor strided = Tensor.wrapStrided(wide.segment(), DType.FP16, k + 3, m, k);
            for (int r = 0; r < m; r++) {
                for (int c = 0; c < k; c++) {
                    strided.setFloat(r, c, x.getFloat(r, c));
                }
            }
            dev.copy(x, xd);
            op.matmul(xd, p, null, yd);
            dev.copy(yd, y1);
            op.matmul(strided, p, null, y2);   // ldx = 515: re-staged
            assertArrayEquals(y1.toFloatArray(), y2.toFloatArray());
            assertTrue(Accuracy.relativeL2(W4A16Reference.product(x, qw, null), y1) <= TOLERANCE);
        }
    }

    /**
     * Act-order weights on both paths: the device-side column gather (o4j_w4a16_gather_columns)
     * before the GEMM, for x on the device and for a strided host x, against the float64 reference
     * of the original W; both give the same bits.
     */
    @GpuTest
    void actOrderGathersOnTheDevice() {
        CudaDevice dev = device();
        int k = 512, n = 200;
        for (CudaW4A16Kernels.Path path : CudaW4A16Kernels.Path.values()) {
            W4A16 op = op(path);
            for (int m : new int[] {1, 7, 65}) {
                for (DType dtype : new DType[] {DType.BF16, DType.FP16}) {
                    boolean sym = dtype == DType.FP16;
                    String ctx = path + " m=" + m + " " + dtype + (sym ? " sym" : " asym");
                    try (QuantizedWeight qw = ActOrderWeights.random(k, n, 128, sym, DType.FP16, 50 + m);
                         W4A16.Prepared p = op.prepare(qw);
                         Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, m, k), 51 + m, 1.0);
                         Tensor wide = Tensor.allocate(dtype, m, k + 5);
                         Tensor xd = dev.allocateTensor(dtype, m, k);
                         Tensor yd = dev.allocateTensor(dtype, m, n);
                         Tensor y1 = TensorFill.poison(Tensor.allocate(dtype, m, n));
                         Tensor y2 = TensorFill.poison(Tensor.allocate(dtype, m, n))) {
                        assertTrue(p.actOrder(), ctx);
                        Tensor strided = Tensor.wrapStrided(wide.segment(), dtype, k + 5, m, k);
                        for (int r = 0; r < m; r++) {
                            for (int c = 0; c < k; c++) {
                                strided.setFloat(r, c, x.getFloat(r, c));
                            }
                        }
                        dev.copy(x, xd);
                        dev.copy(y1, yd); // poison on the device too
                        op.matmul(xd, p, null, yd);
                        dev.copy(yd, y1);
                        op.matmul(strided, p, null, y2);
                        assertFalse(TensorFill.hasPoison(y1), "unwritten output: " + ctx);
                        double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, null), y1);
                        assertTrue(err <= TOLERANCE, "rel L2 " + err + ": " + ctx);
                        assertArrayEquals(y1.toFloatArray(), y2.toFloatArray(), "device x and strided host x: " + ctx);
                    }
                }
            }
        }
        // more rows than grid y (65 535): the gather's row loop, and the tensor-core path's launches per 4 194 240 rows
        int m = 65_600;
        W4A16 tc = op(CudaW4A16Kernels.Path.TC); // one op: a handle runs only on the kernel that prepared it
        try (QuantizedWeight qw = ActOrderWeights.random(64, 8, 32, false, DType.BF16, 59);
             W4A16.Prepared p = tc.prepare(qw);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, 64), 60, 1.0);
             Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, 8))) {
            tc.matmul(x, p, null, y);
            assertFalse(TensorFill.hasPoison(y), "unwritten output, m = " + m);
            double err = Accuracy.relativeL2(W4A16Reference.product(x, qw, null), y);
            assertTrue(err <= TOLERANCE, "rel L2 " + err + ", m = " + m);
        }
    }
}
