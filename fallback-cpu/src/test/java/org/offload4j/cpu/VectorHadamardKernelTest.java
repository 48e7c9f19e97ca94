package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.hadamard.RandomizedRotation;

/**
 * The Vector API kernel against the float64 reference, through the facade. Inputs are fresh
 * random each run; every failure message carries the seed, and {@code -Doffload.test.seed=…}
 * replays a run.
 */
class VectorHadamardKernelTest {
    static final long BASE_SEED = Long.getLong("offload.test.seed", System.nanoTime());
    static final CpuBackend CPU = (CpuBackend) new CpuBackendProvider().create();
    static final Hadamard HADAMARD = Hadamard.create(CPU);
    static final DType[] DTYPES = {DType.FP32, DType.BF16, DType.FP16};

    static long seed(Object... parts) {
        long h = BASE_SEED;
        for (Object p : parts) {
            h = h * 0x9E3779B97F4A7C15L + p.hashCode();
        }
        return h;
    }

    static String why(long seed, String what) {
        return what + " (seed " + seed + "; base seed " + BASE_SEED + ", replay with -Doffload.test.seed=" + BASE_SEED + ")";
    }

    static double tolerance(DType t) {
        return switch (t) {
            case BF16 -> 4e-3;
            case FP16 -> 1e-3;
            default -> 1e-6;
        };
    }

    /** Fewer rows as d grows, irregular counts throughout, so the whole suite stays fast. */
    static int rowsFor(int d) {
        return d <= 64 ? 129 : d <= 1024 ? 17 : d <= 8192 ? 7 : 1;
    }

    static void assertClose(double[] want, Tensor got, long seed, String what) {
        assertEquals(-1, Accuracy.firstNonFinite(got), why(seed, what + ": an output is non-finite (not written?)"));
        double err = Accuracy.relativeL2(want, got);
        assertTrue(err <= tolerance(got.dtype()), why(seed, what + ": relative L2 " + err + " > " + tolerance(got.dtype())));
    }

    /** Forward and transposed, out of place into a poisoned tensor, against the reference. */
    static void check(DType dtype, int d, int rows, boolean inPlace) {
        HadamardSize size = HadamardSize.of(d);
        for (boolean transpose : new boolean[] {false, true}) {
            long seed = seed(dtype, d, rows, transpose, inPlace);
            String what = dtype + " d=" + d + " rows=" + rows + (transpose ? " inverse" : " forward") + (inPlace ? " in place" : "");
            float scale = Hadamard.defaultScale(d);
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), seed, 1.0);
                 Tensor y = inPlace ? null : TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                double[] want = HadamardReference.compute(x, size, scale, transpose, null, null);
                Tensor out = inPlace ? x : y;
                if (transpose) {
                    HADAMARD.inverse(x, out);
                } else {
                    HADAMARD.transform(x, out);
                }
                assertClose(want, out, seed, what);
            }
        }
    }

    static Stream<Arguments> powersOfTwo() {
        List<Arguments> out = new ArrayList<>();
        for (DType t : DTYPES) {
            for (int d = 2; d <= HadamardSize.MAX_D; d *= 2) {
                out.add(Arguments.of(t, d));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} d={1}")
    @MethodSource("powersOfTwo")
    void everyPowerOfTwo(DType dtype, int d) {
        check(dtype, d, rowsFor(d), false);
    }

    static Stream<Arguments> blockSizes() {
        int[] ds = {12, 24, 48, 96, 192, 12 * 256, 12 * 2048,
            20, 40, 80, 160, 320, 640, 40 * 256, 40 * 512,
            28, 56, 112, 224, 448, 28 * 512, 28 * 1024};
        List<Arguments> out = new ArrayList<>();
        for (DType t : DTYPES) {
            for (int d : ds) {
                out.add(Arguments.of(t, d));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} d={1}")
    @MethodSource("blockSizes")
    void everyBlockFamily(DType dtype, int d) {
        check(dtype, d, Math.max(1, rowsFor(d) / 2), false);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void irregularRowCountsAcrossThreads(DType dtype) {
        for (int rows : new int[] {1, 7, 17, 129}) {
            check(dtype, 256, rows, false);
            check(dtype, 1024, rows, false);
            check(dtype, 40 * 32, rows, false);
        }
        // Paired m-point rows (MIX stores into the rows) split across threads, out of place and in place.
        check(dtype, 12 * 256, 45, false);
        check(dtype, 12 * 256, 45, true);
        // Enough rows of 8 vectors (the one-pass row kernel with AVX-512 or AVX2) to be split across threads.
        check(dtype, 8 * CpuBackend.FLOATS.length(), 513, false);
        // Rows whose bf16 STORE reads ahead into the next row of its task (9 rows, grain 4: three tasks of 3
        // rows, each with rows that read ahead and a last row that reads itself), in and out of place.
        check(dtype, 8192, 9, false);
        check(dtype, 8192, 9, true);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void inPlace(DType dtype) {
        for (int d : new int[] {4, 16, 64, 128, 1024, 4096, 16384, 12 * 64, 28 * 16, 40 * 128, 12 * 256, 28 * 512, 40 * 256}) {
            check(dtype, d, 7, true);
        }
    }

    @Test
    void rank3TensorsAreRowsOfTheLastDimension() {
        long seed = seed("rank3");
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 3, 5, 512), seed, 1.0);
             Tensor y = TensorFill.poison(Tensor.allocate(DType.BF16, 3, 5, 512))) {
            HADAMARD.transform(x, y, 0.5f);
            assertClose(HadamardReference.compute(x, HadamardSize.of(512), 0.5, false, null, null), y, seed, "bf16 [3, 5, 512]");
        }
    }

    /** Rows apart in memory (odd strides, so vectors are unaligned too); the gaps between rows are never written. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void stridedTensors(DType dtype) {
        // fp32 rows of 256 and more (AVX-512; 4096 with narrower vectors) are transformed in the output
        // rows themselves, and d = 128 is stored straight into them: the gaps must stay untouched.
        for (int d : new int[] {8, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 12 * 32, 12 * 256, 40 * 256}) {
            int rows = 9;
            long inStride = d + 5;
            long outStride = d + 3;
            long seed = seed("strided", dtype, d);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment inSeg = arena.allocate(dtype.byteSize(rows * inStride), 64);
                MemorySegment outSeg = arena.allocate(dtype.byteSize(rows * outStride), 64);
                outSeg.fill((byte) 0x5A);
                Tensor x = TensorFill.gaussian(Tensor.wrapStrided(inSeg, dtype, inStride, new long[] {rows, d}), seed, 1.0);
                Tensor y = TensorFill.poison(Tensor.wrapStrided(outSeg, dtype, outStride, new long[] {rows, d}));
                double[] want = HadamardReference.compute(x, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null);
                HADAMARD.transform(x, y);
                assertClose(want, y, seed, dtype + " strided d=" + d);
                for (long r = 0; r < rows; r++) {
                    long gapFrom = dtype.byteSize(r * outStride + d);
                    long gapTo = r == rows - 1 ? outSeg.byteSize() : dtype.byteSize((r + 1) * outStride);
                    for (long b = gapFrom; b < gapTo; b++) {
                        assertEquals((byte) 0x5A, outSeg.get(ValueLayout.JAVA_BYTE, b), "gap byte " + b + " after row " + r + " was written");
                    }
                }
            }
        }
    }

    /**
     * Segments exactly as long as their rows need ({@code (rows − 1)·stride + d} elements, the least
     * {@code Tensor.wrapStrided} accepts), so that a kernel pass touching a byte past the last row,
     * or a slice of its segment taken a byte too long, fails; contiguous and strided, in place and
     * out of place, across the one-pass, rows, paired, and m-point paths.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void segmentsEndWithTheLastRow(DType dtype) {
        // 8192: bf16 STORE reads ahead into the next row, which the last row must not do past the segment.
        for (int d : new int[] {128, 256, 1024, 4096, 8192, 12 * 256, 40 * 256}) {
            for (long gap : new long[] {0, 3}) {
                for (boolean inPlace : new boolean[] {false, true}) {
                    int rows = 5;
                    long stride = d + gap;
                    long elements = (rows - 1) * stride + d;
                    long seed = seed("exact", dtype, d, gap, inPlace);
                    String what = dtype + " d=" + d + " stride=" + stride + (inPlace ? " in place" : "");
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment inSeg = arena.allocate(dtype.byteSize(elements), 64);
                        Tensor x = TensorFill.gaussian(Tensor.wrapStrided(inSeg, dtype, stride, new long[] {rows, d}), seed, 1.0);
                        double[] want = HadamardReference.compute(x, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null);
                        Tensor y = x;
                        if (!inPlace) {
                            MemorySegment outSeg = arena.allocate(dtype.byteSize(elements), 64);
                            y = TensorFill.poison(Tensor.wrapStrided(outSeg, dtype, stride, new long[] {rows, d}));
                        }
                        HADAMARD.transform(x, y);
                        assertClose(want, y, seed, what);
                    }
                }
            }
        }
    }

    /**
     * Heap memory: byte[]-backed segments take the vector path (fp32 rows of 2048 work in the heap
     * rows themselves), other arrays the scalar-conversion path.
     */
    @ParameterizedTest
    @ValueSource(ints = {256, 2048})
    void heapSegments(int d) {
        int rows = 3;
        long seed = seed("heap", d);
        for (DType dtype : DTYPES) {
            MemorySegment[] outs = {
                MemorySegment.ofArray(new byte[(int) dtype.byteSize(rows * d)]),
                dtype == DType.FP32 ? MemorySegment.ofArray(new float[rows * d]) : MemorySegment.ofArray(new short[rows * d])};
            for (MemorySegment seg : outs) {
                try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, rows, d), seed, 1.0)) {
                    Tensor y = TensorFill.poison(Tensor.wrap(seg, dtype, new long[] {rows, d}));
                    HADAMARD.transform(x, y);
                    assertClose(HadamardReference.compute(x, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null), y, seed,
                            dtype + " into a heap segment of " + seg.heapBase().orElseThrow().getClass().getSimpleName());
                    double[] again = HadamardReference.compute(y, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null);
                    HADAMARD.transform(y, y);
                    assertClose(again, y, seed, dtype + " in place in a heap segment of " + seg.heapBase().orElseThrow().getClass().getSimpleName());
                }
            }
        }
    }

    /**
     * fp32 rows of 256 to 1024 floats run, with 16-float vectors, as a pipeline over batches of 16
     * rows, the LOAD of each row beside the STORE of the row before: row counts that end a batch
     * early or leave a batch of one row, tasks split across threads (d = 512 and 1024 at the larger
     * counts), signs before and after, in place and out of place, and the same bits as strided
     * rows, which are not pipelined. (With narrower vectors these sizes take the other paths,
     * checked the same way.)
     */
    @Test
    void pipelinedRowsWithSignsInAndOutOfPlace() {
        for (int d : new int[] {128, 256, 512, 1024, 2048}) {
            try (Tensor t = Tensor.allocate(DType.FP32, 2, d)) {
                boolean expected = CpuBackend.FLOATS.length() == 16 && d >= 256 && d <= 1024;
                assertEquals(expected, VectorHadamardKernel.pipelines(t, t, HadamardSize.of(d)), "pipelined at d=" + d);
            }
        }
        for (int d : new int[] {256, 512, 1024}) {
            for (int rows : new int[] {2, 15, 16, 17, 33, 97}) {
                for (boolean inPlace : new boolean[] {false, true}) {
                    long seed = seed("pipelined", d, rows, inPlace);
                    String what = "fp32 d=" + d + " rows=" + rows + (inPlace ? " in place" : "");
                    RandomizedRotation rot = RandomizedRotation.of(HADAMARD, d, seed);
                    double scale = 1 / Math.sqrt(d);
                    try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, rows, d), seed, 1.0);
                         Tensor y = TensorFill.poison(Tensor.allocate(DType.FP32, rows, d))) {
                        double[] rotated = HadamardReference.compute(x, HadamardSize.of(d), scale, false, rot.signs(), null);
                        Tensor out = inPlace ? x : y;
                        rot.rotate(x, out);
                        assertClose(rotated, out, seed, what + " rotate");
                        double[] back = HadamardReference.compute(out, HadamardSize.of(d), scale, true, null, rot.signs());
                        try (Tensor z = TensorFill.poison(Tensor.allocate(DType.FP32, rows, d));
                             Tensor wide = TensorFill.poison(Tensor.allocate(DType.FP32, rows, d + 16))) {
                            rot.unrotate(out, z);
                            assertClose(back, z, seed, what + " unrotate");
                            // Strided rows (a column range of wider rows) take one row per batch, unpipelined.
                            Tensor strided = Tensor.wrapStrided(wide.segment(), DType.FP32, d + 16, rows, d);
                            rot.unrotate(out, strided);
                            assertArrayEquals(z.toFloatArray(), strided.toFloatArray(), why(seed, what + " pipelined against strided"));
                            rot.unrotate(out, out);
                            assertArrayEquals(z.toFloatArray(), out.toFloatArray(), why(seed, what + " unrotate in place"));
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void rotationMatchesTheReferenceAndRoundTrips(DType dtype) {
        for (int d : new int[] {16, 64, 128, 4096, 16384, 12 * 256, 40 * 64, 28 * 8, 40 * 256, 28 * 512}) {
            long seed = seed("rotation", dtype, d);
            RandomizedRotation rot = RandomizedRotation.of(HADAMARD, d, seed);
            assertSame(HADAMARD, rot.hadamard());
            double scale = 1 / Math.sqrt(d);
            try (Tensor x = TensorFill.gaussian(Tensor.allocate(dtype, 5, d), seed, 1.0);
                 Tensor y = TensorFill.poison(Tensor.allocate(dtype, 5, d));
                 Tensor z = TensorFill.poison(Tensor.allocate(dtype, 5, d))) {
                rot.rotate(x, y);
                assertClose(HadamardReference.compute(x, HadamardSize.of(d), scale, false, rot.signs(), null), y, seed,
                        dtype + " rotate d=" + d);
                rot.unrotate(y, z);
                assertClose(HadamardReference.compute(y, HadamardSize.of(d), scale, true, null, rot.signs()), z, seed,
                        dtype + " unrotate d=" + d);
                // Two roundings to the dtype lie between x and z.
                double err = Accuracy.relativeL2(x.toDoubleArray(), z);
                assertTrue(err <= 2 * tolerance(dtype), why(seed, dtype + " round trip d=" + d + ": " + err));
                rot.unrotate(y, y);
                assertArrayEquals(z.toFloatArray(), y.toFloatArray(), why(seed, dtype + " unrotate in place d=" + d));
            }
        }
    }

    /**
     * fp16 rows run the fp32 kernels on an exact fp32 copy and round once: every fp16 output is
     * {@code Float.floatToFloat16} of the fp32 kernel's output on the widened input, bit for bit,
     * forward and inverse, with rotation signs, in place too, from a {@code short[]} heap segment,
     * and on every kind (one-pass rows at 8V, load/store passes, m-point sizes).
     */
    @Test
    void fp16IsTheFp32KernelRoundedOnce() {
        for (int d : new int[] {128, 256, 1024, 4096, 32768, 12 * 256, 20 * 512, 28 * 512, 40 * 512}) {
            long seed = seed("fp16 staged", d);
            int rows = Math.max(1, 6000 / d + 1);
            RandomizedRotation rot = RandomizedRotation.of(HADAMARD, d, seed);
            try (Tensor x16 = TensorFill.gaussian(Tensor.allocate(DType.FP16, rows, d), seed, 3.0);
                 Tensor x32 = Tensor.allocate(DType.FP32, rows, d);
                 Tensor y32 = Tensor.allocate(DType.FP32, rows, d);
                 Tensor y16 = TensorFill.poison(Tensor.allocate(DType.FP16, rows, d))) {
                x32.copyFrom(x16.toFloatArray());
                for (int variant = 0; variant < 4; variant++) {
                    Tensor out16 = y16;
                    switch (variant) {
                        case 0 -> { HADAMARD.transform(x32, y32); HADAMARD.transform(x16, y16); }
                        case 1 -> { HADAMARD.inverse(x32, y32); HADAMARD.inverse(x16, y16); }
                        case 2 -> { rot.rotate(x32, y32); MemorySegment.copy(x16.segment(), 0, y16.segment(), 0, y16.segment().byteSize()); rot.rotate(y16, y16); }
                        default -> {
                            HADAMARD.transform(x32, y32);
                            out16 = Tensor.wrap(MemorySegment.ofArray(new short[rows * d]), DType.FP16, new long[] {rows, d});
                            Tensor in16 = Tensor.wrap(MemorySegment.ofArray(x16.segment().toArray(ValueLayout.JAVA_SHORT)), DType.FP16,
                                    new long[] {rows, d});
                            HADAMARD.transform(in16, out16);
                        }
                    }
                    float[] want = y32.toFloatArray();
                    short[] got = out16.segment().toArray(ValueLayout.JAVA_SHORT);
                    for (int i = 0; i < want.length; i++) {
                        short w = Float.floatToFloat16(want[i]);
                        if (w != got[i]) {
                            fail(why(seed, "d=" + d + " variant " + variant + " element " + i + ": fp16 " + Float.float16ToFloat(got[i])
                                    + ", the fp32 kernel's " + want[i] + " rounds to " + Float.float16ToFloat(w)));
                        }
                    }
                    TensorFill.poison(y16);
                }
            }
        }
    }

    @Test
    void powerOfTwoTransformIsItsOwnTranspose() {
        long seed = seed("symmetric");
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.FP32, 3, 2048), seed, 1.0);
             Tensor y = Tensor.allocate(DType.FP32, 3, 2048);
             Tensor z = Tensor.allocate(DType.FP32, 3, 2048)) {
            HADAMARD.transform(x, y);
            HADAMARD.inverse(x, z);
            assertArrayEquals(y.toFloatArray(), z.toFloatArray());
        }
    }

    /**
     * One-hot rows make every butterfly exact, so each output is exactly {@code ±x·scale} rounded
     * once: this pins the vector rounding (ties to even, NaN kept, overflow to infinity) to
     * {@code Bf16.fromFloat}/{@code Fp16.fromFloat} bit for bit.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void roundsOnceToNearestEven(DType dtype) {
        long seed = seed("rounding", dtype);
        SplittableRandom rnd = new SplittableRandom(seed);
        // 12·256 and 40·256 take the paired m-point path (MIX rounds and stores) at every width, 12·64 and 40·64 with 4-float vectors.
        // 8192: bf16 rows stored by storeBf16Ahead (with AVX-512), a copy of storeBf16's rounding.
        for (int d : new int[] {8, 64, 128, 512, 4096, 8192, 12 * 32, 12 * 64, 40 * 64, 12 * 256, 40 * 256}) {
            HadamardSize size = HadamardSize.of(d);
            int[][] hm = HadamardMatrices.of(size.m());
            int rows = 6;
            float[] xs = new float[rows];
            int[] hot = new int[rows];
            try (Tensor x = Tensor.allocate(dtype, rows, d); Tensor y = TensorFill.poison(Tensor.allocate(dtype, rows, d))) {
                for (int r = 0; r < rows; r++) {
                    hot[r] = rnd.nextInt(d);
                    // Values with 8 significant bits, exact in every dtype; row 2 is ±1, so its product with the
                    // scale below is exactly halfway between two neighbours of the dtype (a tie).
                    float mantissa = r == 2 ? 1 : 1 + rnd.nextInt(128) / 128f;
                    xs[r] = r == 0 ? Float.NaN : mantissa * (rnd.nextBoolean() ? 1 : -1) * (r == 1 ? 1 << 15 : 1);
                    x.setFloat(r, hot[r], xs[r]);
                }
                float scale = dtype == DType.FP16 ? 1 + 0x1p-11f + rnd.nextInt(4) * 0x1p-10f : 1 + 0x1p-8f + rnd.nextInt(4) * 0x1p-7f;
                if (dtype == DType.BF16) {
                    scale *= 0x1p120f; // row 1 overflows to ±infinity
                } else if (dtype == DType.FP16) {
                    scale *= 2; // row 1: 2^16 · … overflows fp16
                }
                HADAMARD.transform(x, y, scale);
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < d; c++) {
                        float exact = xs[r] * scale * HadamardMatrices.entry(size, hm, hot[r], c);
                        float want = switch (dtype) {
                            case BF16 -> Bf16.round(exact);
                            case FP16 -> Fp16.round(exact);
                            default -> exact;
                        };
                        float got = y.getFloat(r, c);
                        if (Float.isNaN(want)) {
                            assertTrue(Float.isNaN(got), why(seed, dtype + " d=" + d + " NaN row, col " + c + " gave " + got));
                        } else {
                            assertEquals(want, got, why(seed, dtype + " d=" + d + " row " + r + " col " + c + " x=" + xs[r] + " scale=" + scale));
                        }
                    }
                }
                if (dtype != DType.FP32) {
                    assertFalse(Float.isFinite(y.getFloat(1, 0)), "row 1 is meant to overflow");
                }
            }
        }
    }

    /**
     * +∞ and −∞ in one row meet in the butterflies: outputs where they cancel are the default NaN
     * made mid-transform, the others ±∞. The bf16 store has no NaN test (see the kernel's class
     * comment); this checks that such NaNs stay NaN and infinities stay infinite, element by element
     * against the float64 reference, for every path.
     */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16"})
    void infinitiesAndNaNsPropagate(DType dtype) {
        for (int d : new int[] {16, 64, 128, 512, 4096, 8192, 12 * 64, 12 * 256, 40 * 256}) {
            try (Tensor x = Tensor.allocate(dtype, 3, d); Tensor y = TensorFill.poison(Tensor.allocate(dtype, 3, d))) {
                x.setFloat(0, 0, Float.POSITIVE_INFINITY);
                x.setFloat(0, 1, Float.NEGATIVE_INFINITY);
                x.setFloat(1, 3, Float.NaN);
                x.setFloat(1, 5, 1f);
                x.setFloat(2, d - 1, Float.NEGATIVE_INFINITY);
                x.setFloat(2, 0, 2f);
                HADAMARD.transform(x, y);
                double[] want = HadamardReference.compute(x, HadamardSize.of(d), Hadamard.defaultScale(d), false, null, null);
                float[] got = y.toFloatArray();
                for (int i = 0; i < got.length; i++) {
                    if (Double.isNaN(want[i])) {
                        assertTrue(Float.isNaN(got[i]), dtype + " d=" + d + " element " + i + ": want NaN, got " + got[i]);
                    } else {
                        assertEquals((float) want[i], got[i], dtype + " d=" + d + " element " + i);
                    }
                }
            }
        }
    }

    @Test
    void theBackendHandsOutTheKernel() {
        assertTrue(CPU.kernels(HadamardKernel.class).orElseThrow() instanceof VectorHadamardKernel);
        assertSame(CPU, HADAMARD.backend());
    }
}
