package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;

class RtnQuantizerTest {

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int g : new int[] {32, 64, 128, -1}) {
            for (boolean sym : new boolean[] {false, true}) {
                for (DType st : new DType[] {DType.FP16, DType.BF16, DType.FP32}) {
                    b.add(Arguments.of(g, sym, st));
                }
            }
        }
        return b.build();
    }

    /** Round trip: every dequantized element is within s/2 of the input, for each group. */
    @ParameterizedTest(name = "g={0} sym={1} scales={2}")
    @MethodSource("cases")
    void roundTripErrorIsAtMostHalfAStep(int groupSize, boolean symmetric, DType scaleType) {
        long seed = 1000L + groupSize * 7L + (symmetric ? 1 : 0) + scaleType.ordinal() * 13L;
        int k = 256;
        int n = 24;
        try (Tensor w = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight q = RtnQuantizer.quantize(w, groupSize, symmetric, scaleType)) {
            int g = q.groupSize();
            assertEquals(groupSize == -1 ? k : groupSize, g);
            assertEquals(symmetric, q.symmetric());
            assertEquals(scaleType, q.scaleType());
            checkHalfStep(w, q, "seed " + seed);
        }
    }

    private static void checkHalfStep(Tensor w, QuantizedWeight q, String what) {
        for (int row = 0; row < q.k(); row++) {
            for (int col = 0; col < q.n(); col++) {
                int gi = row / q.groupSize();
                double s = q.scale(gi, col);
                double err = Math.abs(w.getFloat(row, col) - q.weight(row, col));
                assertTrue(err <= 0.5 * s * (1 + 1e-12), what + ": |w - dq| = " + err + " > s/2 = " + s / 2
                        + " at (" + row + ", " + col + ")");
                if (q.symmetric()) {
                    assertTrue(q.q(row, col) >= 1, "symmetric q never uses level 0");
                }
            }
        }
    }

    /** A weight built from known q, z, s (each group using levels 0 and 15) is recovered exactly. */
    @ParameterizedTest(name = "g={0} sym={1} scales={2}")
    @MethodSource("cases")
    void knownQuantizationIsRecoveredExactly(int groupSize, boolean symmetric, DType scaleType) {
        int k = 128;
        int n = 16;
        int g = groupSize == -1 ? k : groupSize;
        SplittableRandom rnd = new SplittableRandom(77 + g + (symmetric ? 5 : 0) + scaleType.ordinal());
        int[][] q = new int[k][n];
        int[][] z = new int[k / g][n];
        float[][] s = new float[k / g][n];
        for (int gi = 0; gi < k / g; gi++) {
            for (int j = 0; j < n; j++) {
                z[gi][j] = symmetric ? 8 : rnd.nextInt(16);
                float raw = (float) (0.001 + rnd.nextDouble() * 0.1);
                s[gi][j] = switch (scaleType) {
                    case FP16 -> Fp16.round(raw);
                    case BF16 -> Bf16.round(raw);
                    default -> Fp16.round(raw); // few significand bits, so (q - z)·s is exact in fp32
                };
                int lo = gi * g + rnd.nextInt(g);
                int hi;
                do {
                    hi = gi * g + rnd.nextInt(g);
                } while (hi == lo);
                for (int r = gi * g; r < (gi + 1) * g; r++) {
                    q[r][j] = symmetric ? 1 + rnd.nextInt(15) : rnd.nextInt(16);
                }
                // The extremes fix the range: asymmetric uses levels 0 and 15, symmetric |q - 8| = 7.
                q[lo][j] = symmetric ? 1 : 0;
                q[hi][j] = 15;
            }
        }
        try (Tensor w = Tensor.allocate(DType.FP32, k, n)) {
            for (int r = 0; r < k; r++) {
                for (int j = 0; j < n; j++) {
                    w.setFloat(r, j, (float) ((q[r][j] - z[r / g][j]) * (double) s[r / g][j]));
                }
            }
            try (QuantizedWeight qw = RtnQuantizer.quantize(w, groupSize, symmetric, scaleType)) {
                for (int r = 0; r < k; r++) {
                    for (int j = 0; j < n; j++) {
                        assertEquals(q[r][j], qw.q(r, j), "q(" + r + ", " + j + ")");
                    }
                }
                for (int gi = 0; gi < k / g; gi++) {
                    for (int j = 0; j < n; j++) {
                        assertEquals(z[gi][j], qw.zero(gi, j), "z(" + gi + ", " + j + ")");
                        assertEquals(s[gi][j], qw.scale(gi, j), "s(" + gi + ", " + j + ")");
                    }
                }
            }
        }
    }

    @Test
    void allZeroGroupGetsZeroScaleAndDequantizesToZero() {
        try (Tensor w = Tensor.allocate(DType.BF16, 64, 8)) {
            w.setFloat(40, 3, 0.25f); // only group 1 of column 3 is non-zero
            for (boolean sym : new boolean[] {false, true}) {
                try (QuantizedWeight q = RtnQuantizer.quantize(w, 32, sym, DType.FP16)) {
                    assertEquals(0f, q.scale(0, 3));
                    assertEquals(0f, q.scale(1, 0));
                    assertTrue(q.scale(1, 3) > 0);
                    assertEquals(sym ? 8 : 0, q.zero(0, 3));
                    for (int r = 0; r < 64; r++) {
                        for (int j = 0; j < 8; j++) {
                            assertEquals(w.getFloat(r, j), q.weight(r, j), 0.5 * q.scale(r / 32, j));
                        }
                    }
                    assertEquals(0.0, q.weight(0, 0));
                }
            }
        }
    }

    @Test
    void scaleOverflowingFp16IsRejected() {
        try (Tensor w = Tensor.allocate(DType.FP32, 32, 8)) {
            w.setFloat(5, 2, 3e6f);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RtnQuantizer.quantize(w, 32, false, DType.FP16));
            assertTrue(e.getMessage().contains("column 2"), e.getMessage());
            try (QuantizedWeight q = RtnQuantizer.quantize(w, 32, false, DType.BF16)) {
                assertTrue(Math.abs(q.weight(5, 2) - 3e6) <= 0.5 * q.scale(0, 2));
            }
        }
    }

    @Test
    void rejectsBadArguments() {
        try (Tensor w = Tensor.allocate(DType.FP32, 64, 16); Tensor w3 = Tensor.allocate(DType.FP32, 2, 64, 16);
             Tensor wi = Tensor.allocate(DType.INT32, 64, 16); Tensor wk = Tensor.allocate(DType.FP32, 60, 16)) {
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(null, 32, false, DType.FP16));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(w3, 32, false, DType.FP16));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(wi, 32, false, DType.FP16));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(wk, 32, false, DType.FP16));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(w, 48, false, DType.FP16));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(w, 32, false, DType.FP8_E4M3FN));
            assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(w, 32, false, null));
            w.setFloat(3, 4, Float.NaN);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RtnQuantizer.quantize(w, 32, false, DType.FP16));
            assertTrue(e.getMessage().contains("w[3, 4]"), e.getMessage());
        }
    }

    /** 60 seeded random shapes, symmetric and asymmetric, standard deviations 1e-4 to 1e3. */
    @Test
    void roundTripPropertyOnRandomShapes() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(60);
        for (int i = 0; i < 60; i++) {
            roundTripOnShape(rnd.nextInt(1, 5), rnd.nextInt(1, 4), rnd.nextBoolean(), rnd.nextInt(-4, 4), rnd.nextLong());
        }
    }

    private static void roundTripOnShape(int groups, int n8, boolean symmetric, int log10Std, long seed) {
        int k = 32 * groups;
        double std = Math.pow(10, log10Std);
        try (Tensor w = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, 8 * n8), seed, std);
             QuantizedWeight q = RtnQuantizer.quantize(w, 32, symmetric, DType.FP32)) {
            checkHalfStep(w, q, "seed " + seed + " std " + std);
        }
    }

    /** 300 seeded values in [0, 60000] plus the ends and the binade edges. */
    @Test
    void roundUpGivesTheSmallestValueNotBelow() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(301);
        double[] xs = new double[300];
        xs[1] = 60000;
        xs[2] = 1;
        xs[3] = Math.pow(2, -14);
        for (int i = 4; i < xs.length; i++) {
            xs[i] = (i & 1) == 0 ? rnd.nextDouble(0, 60000) : Math.pow(2, rnd.nextDouble(-24, 15.8));
        }
        for (double x : xs) {
            checkRoundUp(x);
        }
    }

    private static void checkRoundUp(double x) {
        float f16 = RtnQuantizer.roundUp(x, DType.FP16);
        assertTrue(f16 >= x);
        assertTrue(Fp16.toFloat((short) (Fp16.fromFloat(f16) - 1)) < x || f16 == 0);
        float b16 = RtnQuantizer.roundUp(x, DType.BF16);
        assertTrue(b16 >= x);
        assertTrue(Bf16.toFloat((short) (Bf16.fromFloat(b16) - 1)) < x || b16 == 0);
        float f32 = RtnQuantizer.roundUp(x, DType.FP32);
        assertTrue(f32 >= x && Math.nextDown(f32) < x || f32 == 0);
    }

    /**
     * k · n beyond a Java array (here 2^31 values, which checkSizes accepts) is refused up front,
     * naming w, instead of failing with an overflow inside. The weight is a sparse read-only mapping.
     */
    @Test
    void refusesWeightsTooLargeForItsArrays(@TempDir Path dir) throws Exception {
        long k = 65536;
        long n = 32768;
        Path file = dir.resolve("huge.bin");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(2 * k * n);
        }
        try (FileChannel ch = FileChannel.open(file); Arena arena = Arena.ofConfined()) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, 2 * k * n, arena);
            Tensor w = Tensor.wrap(seg, DType.BF16, k, n);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RtnQuantizer.quantize(w, 128, false, DType.FP16));
            assertTrue(e.getMessage().startsWith("w has k · n = 65536 · 32768"), e.getMessage());
        }
    }
}
