package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;
import org.offload4j.w4a16.W4A16Reference;

/**
 * The Vector API kernel against the float64 reference on fresh random inputs (the seed is in
 * every failure message), through the public facade, outputs poisoned first.
 */
class VectorW4A16KernelTest {
    private static final double TOLERANCE = 5e-3;
    private static final byte GAP = 0x5A;
    private static W4A16 op;

    @BeforeAll
    static void createOp() {
        op = W4A16.create(CpuBackend.create());
    }

    /** One case: shapes, group size (-1 = k), variant, dtypes, bias dtype (null = none), X row padding. */
    record Case(int m, int k, int n, int groupSize, boolean symmetric, DType scaleType, DType xType, DType biasType,
                int xPad, int yPad) {
        @Override
        public String toString() {
            return "m=" + m + " k=" + k + " n=" + n + " g=" + (groupSize == -1 ? "k" : groupSize) + (symmetric ? " sym" : " asym")
                    + " s=" + scaleType + " x=" + xType + " bias=" + biasType + (xPad > 0 ? " xPad=" + xPad : "") + (yPad > 0 ? " yPad=" + yPad : "");
        }
    }

    static Stream<Case> cases() {
        int[] ms = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 64, 129};
        int[] ns = {8, 24, 136};
        int[][] kg = {{256, 32}, {384, 128}, {192, 64}, {104, -1}, {264, -1}};
        DType[] scaleTypes = {DType.FP16, DType.BF16, DType.FP32};
        DType[] xTypes = {DType.BF16, DType.FP16};
        Stream.Builder<Case> b = Stream.builder();
        int i = 0;
        for (int m : ms) {
            for (int n : ns) {
                int[] kgi = kg[i % kg.length];
                DType xType = xTypes[i % 2];
                DType biasType = switch (i % 3) {
                    case 0 -> null;
                    case 1 -> xType;
                    default -> DType.FP32;
                };
                b.add(new Case(m, kgi[0], n, kgi[1], i % 4 == 1, scaleTypes[(i / 2) % 3], xType, biasType,
                        i % 5 == 0 ? 24 : 0, i % 7 == 3 ? 16 : 0));
                i++;
            }
        }
        // Wide n (many blocks, threads split them), every group size, with and without bias.
        b.add(new Case(1, 128, 4104, 32, false, DType.FP16, DType.BF16, DType.FP32, 0, 0));
        b.add(new Case(1, 256, 4104, 128, true, DType.BF16, DType.FP16, null, 8, 0));
        b.add(new Case(3, 128, 4104, 64, false, DType.FP32, DType.FP16, DType.FP16, 0, 8));
        b.add(new Case(17, 64, 4104, -1, true, DType.FP16, DType.BF16, DType.BF16, 0, 0));
        b.add(new Case(7, 128, 4104, 32, true, DType.BF16, DType.BF16, DType.FP32, 0, 8)); // two GEMV chunks, 4 + 3
        // Three GEMV chunks, the last of 1, 2, 3 and 4 rows (m ≤ GEMV_MAX_ROWS = 12).
        b.add(new Case(9, 64, 40, -1, false, DType.FP16, DType.FP16, null, 0, 0));
        b.add(new Case(10, 192, 40, 64, false, DType.FP16, DType.BF16, DType.BF16, 0, 0));
        b.add(new Case(11, 128, 24, 32, true, DType.BF16, DType.FP16, null, 8, 0));
        b.add(new Case(12, 256, 24, 128, false, DType.FP32, DType.BF16, DType.FP32, 0, 8));
        // Every GEMM row-tile tail (m ≥ 13 is GEMM; m mod 6 = 0..5 and the 4 + 4 split of 14).
        b.add(new Case(13, 128, 40, 64, true, DType.FP16, DType.BF16, null, 0, 0));
        b.add(new Case(14, 192, 24, 32, false, DType.BF16, DType.FP16, DType.FP16, 8, 0));
        b.add(new Case(15, 64, 40, -1, false, DType.FP16, DType.FP16, null, 0, 0));
        b.add(new Case(16, 192, 40, 64, false, DType.FP16, DType.BF16, DType.BF16, 0, 0));
        b.add(new Case(17, 128, 24, 32, true, DType.BF16, DType.FP16, null, 8, 0));
        b.add(new Case(18, 256, 24, 128, false, DType.FP32, DType.BF16, DType.FP32, 0, 8));
        // Long k: many groups, several GEMM k-slabs, one column block.
        b.add(new Case(1, 4096, 8, 128, false, DType.FP16, DType.BF16, null, 0, 0));
        b.add(new Case(2, 4096, 16, 32, true, DType.BF16, DType.FP16, DType.FP32, 0, 0));
        b.add(new Case(5, 2048, 8, -1, false, DType.FP32, DType.BF16, null, 0, 0));
        b.add(new Case(11, 2048, 8, -1, false, DType.FP32, DType.BF16, null, 0, 0));
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesReference(Case c) {
        check(c, Arena.ofShared());
    }

    /** Tensors only the calling thread may touch: the kernel must not hand them to its workers. */
    @Test
    void confinedTensorsStayOnTheCallingThread() {
        check(new Case(1, 256, 4104, 64, false, DType.FP16, DType.BF16, DType.FP32, 8, 8), Arena.ofConfined());
        check(new Case(17, 128, 136, 32, true, DType.BF16, DType.FP16, DType.FP16, 0, 16), Arena.ofConfined());
        check(new Case(6, 128, 1032, 64, false, DType.FP16, DType.BF16, DType.BF16, 0, 8), Arena.ofConfined());
    }

    private static void check(Case c, Arena tensorArena) {
        long seed = new SplittableRandom().nextLong();
        String what = c + " seed=" + seed;
        try (Arena arena = tensorArena;
             Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, c.k, c.n), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, c.groupSize, c.symmetric, c.scaleType);
             W4A16.Prepared prepared = op.prepare(w)) {
            Tensor x = strided(arena, c.xType, c.m, c.k, c.xPad);
            TensorFill.gaussian(x, seed + 1, 1.0);
            Tensor y = TensorFill.poison(strided(arena, c.xType, c.m, c.n, c.yPad));
            Tensor bias = c.biasType == null ? null : TensorFill.gaussian(Tensor.allocate(arena, c.biasType, c.n), seed + 2, 0.5);
            MemorySegment ySeg = y.segment();
            op.matmul(x, prepared, bias, y);
            assertFalse(TensorFill.hasPoison(y), what + ": an element of y was not written");
            for (long r = 0; r + 1 < c.m && c.yPad > 0; r++) {
                long gapFrom = y.rowByteOffset(r) + 2L * c.n;
                for (long b = gapFrom; b < y.rowByteOffset(r + 1); b++) {
                    assertEquals(GAP, ySeg.get(ValueLayout.JAVA_BYTE, b), what + ": gap byte after row " + r + " written");
                }
            }
            double err = Accuracy.relativeL2(W4A16Reference.product(x, w, bias), y);
            assertTrue(err <= TOLERANCE, what + ": relative L2 error " + err);
        }
    }

    private static Tensor strided(Arena arena, DType type, int rows, int cols, int pad) {
        if (pad == 0) {
            return Tensor.allocate(arena, type, rows, cols);
        }
        long stride = cols + pad;
        MemorySegment seg = arena.allocate(type.byteSize((rows - 1) * stride + cols), 64);
        seg.fill(GAP);
        return Tensor.wrapStrided(seg, type, stride, new long[] {rows, cols});
    }

    /** Raw GPTQ words (every q and z value, random zeros) rather than RTN output, and the QuantizedWeight overload. */
    @Test
    void rawRandomWordsAndPerCallPacking() {
        long seed = new SplittableRandom().nextLong();
        for (boolean sym : new boolean[] {false, true}) {
            for (int m : new int[] {1, 6}) {
                try (Tensor qweight = TensorFill.gaussian(Tensor.allocate(DType.INT32, 32, 40), seed, 1);
                     Tensor qzeros = sym ? null : TensorFill.gaussian(Tensor.allocate(DType.INT32, 4, 5), seed + 1, 1);
                     Tensor scales = TensorFill.gaussian(Tensor.allocate(DType.FP16, 4, 40), seed + 2, 0.01);
                     Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, 256), seed + 3, 1);
                     Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, 40))) {
                    QuantizedWeight w = QuantizedWeight.wrap(256, 40, 64, qweight, qzeros, scales);
                    op.matmul(x, w, null, y);
                    double err = Accuracy.relativeL2(W4A16Reference.product(x, w, null), y);
                    assertTrue(err <= TOLERANCE, "sym=" + sym + " m=" + m + " seed=" + seed + ": " + err);
                }
            }
        }
    }

    /** The GEMV's 2^E activation scaling across the range of bf16, and all-zero input. */
    @Test
    void extremeActivationMagnitudes() {
        long seed = new SplittableRandom().nextLong();
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 256, 24), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, 64, false, DType.FP32);
             W4A16.Prepared p = op.prepare(w)) {
            for (double scale : new double[] {1e-30, 1e-8, 1e8, 1e30}) {
                for (int m : new int[] {1, 4}) {
                    try (Tensor x = Tensor.allocate(DType.BF16, m, 256); Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, 24))) {
                        TensorFill.gaussian(x, seed + 1, scale);
                        op.matmul(x, p, null, y);
                        double err = Accuracy.relativeL2(W4A16Reference.product(x, w, null), y);
                        assertTrue(err <= TOLERANCE, "scale " + scale + " m=" + m + " seed=" + seed + ": " + err);
                    }
                }
            }
            try (Tensor x = Tensor.allocate(DType.FP16, 1, 256); Tensor y = TensorFill.poison(Tensor.allocate(DType.FP16, 1, 24));
                 Tensor bias = Tensor.allocate(DType.FP32, 24)) {
                bias.setFloat(0, 5, 1.5f);
                op.matmul(x, p, bias, y);
                for (int j = 0; j < 24; j++) {
                    assertEquals(j == 5 ? 1.5f : 0f, y.getFloat(0, j), "x = 0 gives exactly the bias");
                }
            }
        }
    }

    /** The bf16 output rounding (vector path) agrees with Bf16.fromFloat, ties and NaN included. */
    @Test
    void bf16NarrowingMatchesScalar() {
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = Float.intBitsToFloat(0x3F80_8000 + (i % 4) * 0x1_0000 + (i / 4) % 3 - 1); // around ties
        }
        v[3] = Float.NaN;
        v[9] = Float.intBitsToFloat(0x7FC0_1234);
        v[10] = Float.POSITIVE_INFINITY;
        v[11] = Float.intBitsToFloat(0x7F7F_FFFF);
        v[12] = -0f;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(2L * v.length);
            VectorW4A16Kernel.narrowRow(v, 0, v.length, out, 0, DType.BF16);
            for (int i = 0; i < v.length; i++) {
                assertEquals(org.offload4j.core.numerics.Bf16.fromFloat(v[i]), out.getAtIndex(ValueLayout.JAVA_SHORT, i), "element " + i);
            }
        }
    }

    /**
     * Calls made from inside the worker pool, as an op built on this one would make them, run
     * concurrently, each on its own thread's buffers. (A call never starts on a thread in the middle
     * of another there: a caller works only on its own loop. The guard for that case is tested in
     * {@link #aCallNestedInAnotherOnItsThreadGetsBuffersOfItsOwn}.)
     */
    @Test
    void concurrentCallsFromPoolWorkers() {
        long seed = new SplittableRandom().nextLong();
        int calls = 6;
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 512, 1024), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, 128, false, DType.BF16);
             W4A16.Prepared p = op.prepare(w)) {
            Tensor[] xs = new Tensor[calls];
            Tensor[] ys = new Tensor[calls];
            double[][] want = new double[calls][];
            for (int c = 0; c < calls; c++) {
                int m = c % 3 == 0 ? 1 : c % 3 == 1 ? 2 : 5;
                xs[c] = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, 512), seed + c, 1);
                ys[c] = TensorFill.poison(Tensor.allocate(DType.BF16, m, 1024));
                want[c] = W4A16Reference.product(xs[c], w, null);
            }
            CpuThreads.forRange(calls, 1, (from, to) -> {
                for (long c = from; c < to; c++) {
                    op.matmul(xs[(int) c], p, null, ys[(int) c]);
                }
            });
            for (int c = 0; c < calls; c++) {
                double err = Accuracy.relativeL2(want[c], ys[c]);
                assertTrue(err <= TOLERANCE, "call " + c + " seed=" + seed + ": " + err);
                xs[c].close();
                ys[c].close();
            }
        }
    }

    /**
     * A call that starts while another call on the same thread holds the thread's buffers (the
     * busy flag set, as an op that nests calls would leave it) must use arrays of its own, on every
     * path (GEMV, 4-row chunks with and without a last single row, GEMM), leave the flag as it
     * found it, and clear it after a call that throws.
     */
    @Test
    void aCallNestedInAnotherOnItsThreadGetsBuffersOfItsOwn() {
        VectorW4A16Kernel kernel = new VectorW4A16Kernel();
        int[] busy = VectorW4A16Kernel.callBusyFlag();
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, 512, 264), 41, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, 64, false, DType.FP16)) {
            org.offload4j.w4a16.PackedWeight packed = kernel.prepack(w);
            for (int m : new int[] {1, 3, 5, 12, 13, 300}) {
                for (int outer = 0; outer <= 1; outer++) {
                    busy[0] = outer;
                    boolean withBias = m % 2 == 1;
                    try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, m, 512), m, 1);
                         Tensor bias = TensorFill.gaussian(Tensor.allocate(DType.FP32, 264), m + 1, 1);
                         Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, m, 264))) {
                        kernel.matmul(x, packed, withBias ? bias : null, y);
                        double err = Accuracy.relativeL2(W4A16Reference.product(x, w, withBias ? bias : null), y);
                        assertTrue(err <= TOLERANCE, "m = " + m + ", nested = " + (outer == 1) + ": " + err);
                        assertEquals(outer, busy[0], "the flag is left as the call found it");
                    }
                }
            }
            busy[0] = 0;
            packed.close();
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 5, 512), 7, 1);
                 Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, 5, 264))) {
                org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> kernel.matmul(x, packed, null, y));
                assertEquals(0, busy[0], "cleared after a call that threw");
            }
        } finally {
            busy[0] = 0;
        }
    }

    /**
     * A chunk of three rows (its own kernel) gives those rows the bits the four-row kernel gives
     * them: same products, same order of sums. m = 3 against the first three rows of m = 4, and
     * m = 7 (4 + 3) against m = 8, in fp16 (the finer of the two activation types: the output's
     * rounding hides the least of a difference).
     */
    @Test
    void threeRowChunksMatchTheFourRowKernelBitForBit() {
        long seed = new SplittableRandom().nextLong();
        int k = 384;
        int n = 72;
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight w = RtnQuantizer.quantize(wf, 128, false, DType.FP16);
             W4A16.Prepared prepared = op.prepare(w)) {
            for (int m : new int[] {3, 7}) {
                try (Tensor xAll = TensorFill.gaussian(Tensor.allocate(DType.FP16, m + 1, k), seed + m, 1.0);
                     Tensor yAll = TensorFill.poison(Tensor.allocate(DType.FP16, m + 1, n));
                     Tensor y = TensorFill.poison(Tensor.allocate(DType.FP16, m, n))) {
                    Tensor x = Tensor.wrap(xAll.segment().asSlice(0, 2L * m * k), DType.FP16, m, k);
                    op.matmul(xAll, prepared, null, yAll);
                    op.matmul(x, prepared, null, y);
                    for (int r = 0; r < m; r++) {
                        for (int j = 0; j < n; j++) {
                            assertEquals(Float.floatToRawIntBits(yAll.getFloat(r, j)), Float.floatToRawIntBits(y.getFloat(r, j)),
                                    "m = " + m + ", row " + r + ", column " + j + ", seed " + seed);
                        }
                    }
                }
            }
        }
    }

    @Test
    void defaultBackendFindsTheCpuKernel() {
        assertEquals("cpu", W4A16.create().backend().name());
    }
}
