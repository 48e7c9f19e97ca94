package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

class TensorTest {

    private static Tensor contiguous(MemorySegment seg, DType dtype, long... shape) {
        return Tensor.wrap(seg, dtype, shape);
    }

    private static Tensor strided(MemorySegment seg, DType dtype, long rowStride, long... shape) {
        return Tensor.wrapStrided(seg, dtype, rowStride, shape);
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "'" + e.getMessage() + "' does not mention '" + p + "'");
        }
    }

    /** What a store of {@code v} keeps in each dtype (int types: the truncated integer). */
    private static float stored(DType t, float v) {
        return switch (t) {
            case FP32 -> v;
            case BF16 -> Bf16.round(v);
            case FP16 -> Fp16.round(v);
            case FP8_E4M3FN -> Fp8.roundE4m3(v);
            case FP8_E5M2 -> Fp8.roundE5m2(v);
            case INT4, INT32 -> (int) v;
        };
    }

    /** The raw bits of element {@code i} (flat index) of a segment in dtype {@code t}. */
    private static int rawBits(MemorySegment seg, DType t, long i) {
        return switch (t) {
            case FP32, INT32 -> seg.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            case BF16, FP16 -> seg.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xFFFF;
            case FP8_E4M3FN, FP8_E5M2 -> seg.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            case INT4 -> (seg.get(ValueLayout.JAVA_BYTE, i / 2) >> (4 * (i % 2))) & 0xF;
        };
    }

    /** The encoding of {@code v} in dtype {@code t}, as the converters give it. */
    private static int encode(DType t, float v) {
        return switch (t) {
            case FP32 -> Float.floatToRawIntBits(v);
            case BF16 -> Bf16.fromFloat(v) & 0xFFFF;
            case FP16 -> Fp16.fromFloat(v) & 0xFFFF;
            case FP8_E4M3FN -> Fp8.floatToE4m3(v, Fp8Overflow.SATURATE) & 0xFF;
            case FP8_E5M2 -> Fp8.floatToE5m2(v, Fp8Overflow.SATURATE) & 0xFF;
            case INT4, INT32 -> (int) v;
        };
    }

    /** A value for element k that is valid in every dtype (int4 takes 0..15). */
    private static float sample(DType t, int k) {
        if (t == DType.INT4) {
            return k % 16;
        }
        if (t == DType.INT32) {
            return k * 37 - 100;
        }
        return (k % 2 == 0 ? 1 : -1) * (0.1f + 1.37f * k);
    }

    // ------------------------------------------------------------------ allocation and shape

    @ParameterizedTest
    @EnumSource(DType.class)
    void allocateGivesAZeroFilledContiguousAlignedHostTensor(DType t) {
        try (Tensor x = Tensor.allocate(t, 3, 6)) {
            assertEquals(t, x.dtype());
            assertEquals(Device.HOST, x.device());
            assertArrayEquals(new long[] {3, 6}, x.shape());
            assertEquals(2, x.rank());
            assertEquals(3, x.rows());
            assertEquals(6, x.cols());
            assertEquals(6, x.rowStride());
            assertEquals(18, x.elementCount());
            assertTrue(x.isContiguous());
            assertTrue(x.isAlive());
            assertEquals(t.byteSize(18), x.segment().byteSize());
            assertEquals(0, x.segment().address() % Tensor.ALIGNMENT, "64-byte aligned");
            assertEquals(t.byteSize(6), x.rowByteOffset(1));
            for (float v : x.toFloatArray()) {
                assertEquals(0f, v);
            }
            for (int b = 0; b < x.segment().byteSize(); b++) {
                assertEquals(0, x.segment().get(ValueLayout.JAVA_BYTE, b));
            }
            assertEquals(t + "[3, 6]@host", x.describe());
        }
    }

    @Test
    void rowsAreAllButTheLastDimension() {
        try (Tensor v = Tensor.allocate(DType.FP32, 7);
                Tensor r3 = Tensor.allocate(DType.BF16, 2, 3, 4);
                Tensor empty = Tensor.allocate(DType.FP16, 0, 4)) {
            assertEquals(1, v.rows());
            assertEquals(7, v.cols());
            assertEquals(1, v.rank());
            assertEquals(6, r3.rows());
            assertEquals(4, r3.cols());
            assertEquals(2, r3.dim(0));
            assertEquals(3, r3.dim(1));
            assertEquals(4, r3.dim(-1));
            assertEquals(2, r3.dim(-3));
            assertEquals(24, r3.elementCount());
            assertEquals(0, empty.rows());
            assertEquals(0, empty.elementCount());
            assertEquals(0, empty.toFloatArray().length);
        }
    }

    @Test
    void shapeIsACopy() {
        long[] given = {2, 4};
        try (Tensor x = Tensor.allocate(DType.FP32, given)) {
            given[0] = 99;
            assertArrayEquals(new long[] {2, 4}, x.shape(), "the tensor keeps its own copy of the shape");
            x.shape()[1] = 99;
            assertEquals(4, x.cols());
        }
    }

    @Test
    void badShapesAreRejected() {
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(null, 2, 2)), "dtype");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.FP32)), "shape");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.FP32, (long[]) null)), "shape");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.FP32, 2, -1)), "negative", "[2, -1]");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.INT4, 3, 5)), "int4", "even");
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(null, DType.FP32, 4)), "arena");
    }

    /**
     * One element past what a Java array holds: refused by name, not with an overflow or an OOM.
     * The int4 tensor (1 GiB) is wrapped around an address range that is never read, so the test
     * allocates nothing.
     */
    @Test
    void toFloatArrayRefusesMoreElementsThanAJavaArrayHolds() {
        long cols = (Tensor.MAX_ARRAY_ELEMENTS + 1L) / 2;
        try (Tensor big = Tensor.wrap(MemorySegment.NULL.reinterpret(cols), DType.INT4, 2, cols)) {
            assertEquals(Tensor.MAX_ARRAY_ELEMENTS + 1L, big.elementCount());
            assertMentions(assertThrows(IllegalStateException.class, big::toFloatArray), "2147483640 elements", "at most 2147483639");
            assertMentions(assertThrows(IllegalStateException.class, big::toDoubleArray), "2147483640 elements");
        }
        try (Tensor small = Tensor.of(DType.FP32, new float[] {1f, -2f, 3.5f}, 3)) {
            assertArrayEquals(new float[] {1f, -2f, 3.5f}, small.toFloatArray());
        }
    }

    @Test
    void int4AllowsAnOddLengthOnlyInASingleRow() {
        try (Tensor a = Tensor.allocate(DType.INT4, 5); Tensor b = Tensor.allocate(DType.INT4, 1, 5)) {
            assertEquals(3, a.segment().byteSize(), "5 nibbles round up to 3 bytes");
            assertEquals(3, b.segment().byteSize());
            for (int c = 0; c < 5; c++) {
                a.setInt(0, c, 15 - c);
            }
            for (int c = 0; c < 5; c++) {
                assertEquals(15 - c, a.getInt(0, c));
            }
        }
    }

    // ------------------------------------------------------------------ element access

    @ParameterizedTest
    @EnumSource(DType.class)
    void setThenGetStoresTheConvertersEncodingForEveryDtype(DType t) {
        try (Tensor x = Tensor.allocate(t, 4, 8)) {
            for (int r = 0; r < 4; r++) {
                for (int c = 0; c < 8; c++) {
                    x.setFloat(r, c, sample(t, r * 8 + c));
                }
            }
            float[] all = x.toFloatArray();
            double[] allD = x.toDoubleArray();
            for (int k = 0; k < 32; k++) {
                float v = sample(t, k);
                assertEquals(stored(t, v), x.getFloat(k / 8, k % 8), t + " element " + k);
                assertEquals(encode(t, v), rawBits(x.segment(), t, k), t + " raw bits of element " + k);
                assertEquals(stored(t, v), all[k]);
                assertEquals(stored(t, v), allD[k]);
            }
        }
    }

    @Test
    void floatStoresRoundToNearestEvenAndFp8Saturates() {
        try (Tensor bf = Tensor.allocate(DType.BF16, 3);
                Tensor h = Tensor.allocate(DType.FP16, 3);
                Tensor e4 = Tensor.allocate(DType.FP8_E4M3FN, 3);
                Tensor e5 = Tensor.allocate(DType.FP8_E5M2, 3)) {
            bf.setFloat(0, 0, 1f + 0x1p-8f); // tie -> even 1
            bf.setFloat(0, 1, 1f + 0x1.8p-8f);
            bf.setFloat(0, 2, Float.NaN);
            assertArrayEquals(new float[] {1f, 1f + 0x1p-7f, Float.NaN}, bf.toFloatArray());
            h.setFloat(0, 0, 1e6f); // fp16 overflows to infinity (IEEE), not saturating
            h.setFloat(0, 1, -65520f);
            h.setFloat(0, 2, 0x1p-25f); // tie -> +0
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f}, h.toFloatArray());
            e4.setFloat(0, 0, 1000f);
            e4.setFloat(0, 1, Float.NEGATIVE_INFINITY);
            e4.setFloat(0, 2, 17f);
            assertArrayEquals(new float[] {448f, -448f, 16f}, e4.toFloatArray());
            e5.setFloat(0, 0, 1e9f);
            e5.setFloat(0, 1, Float.NEGATIVE_INFINITY);
            e5.setFloat(0, 2, 0x1p-17f);
            assertArrayEquals(new float[] {57344f, -57344f, 0f}, e5.toFloatArray());
        }
    }

    @Test
    void int32TruncatesFloatsAndKeepsEveryInt() {
        try (Tensor x = Tensor.allocate(DType.INT32, 2, 3)) {
            x.setFloat(0, 0, 3.7f);
            x.setFloat(0, 1, -3.7f);
            x.setInt(0, 2, Integer.MIN_VALUE);
            x.setInt(1, 0, Integer.MAX_VALUE);
            x.setInt(1, 1, -1);
            assertEquals(3, x.getInt(0, 0));
            assertEquals(-3, x.getInt(0, 1));
            assertEquals(Integer.MIN_VALUE, x.getInt(0, 2));
            assertEquals(Integer.MAX_VALUE, x.getInt(1, 0));
            assertEquals(-1, x.getInt(1, 1));
            assertEquals(3f, x.getFloat(0, 0));
            assertEquals(-1f, x.getFloat(1, 1));
        }
    }

    /** DType's Javadoc: element i of a row is in byte i/2, low nibble when even, high nibble when odd. */
    @Test
    void int4PacksTwoNibblesPerByteLowFirst() {
        try (Tensor x = Tensor.allocate(DType.INT4, 2, 4)) {
            int[][] v = {{0x1, 0x2, 0x3, 0x4}, {0xA, 0xB, 0xC, 0xF}};
            for (int r = 0; r < 2; r++) {
                for (int c = 0; c < 4; c++) {
                    x.setInt(r, c, v[r][c]);
                }
            }
            byte[] bytes = x.segment().toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(new byte[] {0x21, 0x43, (byte) 0xBA, (byte) 0xFC}, bytes);
            assertEquals(12f, x.getFloat(1, 2));
            assertArrayEquals(new float[] {1, 2, 3, 4, 10, 11, 12, 15}, x.toFloatArray());
        }
    }

    @Test
    void int4WritesLeaveTheNeighbourNibbleAlone() {
        try (Tensor x = Tensor.allocate(DType.INT4, 2)) {
            for (int a = 0; a < 16; a++) {
                for (int b = 0; b < 16; b++) {
                    x.setInt(0, 0, a);
                    x.setInt(0, 1, b);
                    assertEquals(a, x.getInt(0, 0));
                    assertEquals(b, x.getInt(0, 1));
                    x.setInt(0, 0, 15 - a);
                    assertEquals(b, x.getInt(0, 1), "writing the low nibble changed the high one");
                    x.setInt(0, 1, 15 - b);
                    assertEquals(15 - a, x.getInt(0, 0), "writing the high nibble changed the low one");
                }
            }
        }
    }

    @Test
    void int4RejectsValuesOutside0To15() {
        try (Tensor x = Tensor.allocate(DType.INT4, 4)) {
            assertMentions(assertThrows(IllegalArgumentException.class, () -> x.setInt(0, 1, 16)), "16", "0..15");
            assertMentions(assertThrows(IllegalArgumentException.class, () -> x.setInt(0, 1, -1)), "-1");
            assertMentions(assertThrows(IllegalArgumentException.class, () -> x.setFloat(0, 1, -2f)), "-2");
            assertEquals(0, x.getInt(0, 1), "a rejected value must not be written");
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "BF16", "FP16", "FP8_E4M3FN", "FP8_E5M2"})
    void intAccessorsRefuseFloatTensors(DType t) {
        try (Tensor x = Tensor.allocate(t, 2)) {
            assertMentions(assertThrows(IllegalStateException.class, () -> x.getInt(0, 0)), t.toString());
            assertMentions(assertThrows(IllegalStateException.class, () -> x.setInt(0, 0, 1)), t.toString());
        }
    }

    @Test
    void indicesOutsideTheShapeThrow() {
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 3)) {
            for (long[] rc : new long[][] {{-1, 0}, {2, 0}, {0, -1}, {0, 3}, {Long.MAX_VALUE, 0}}) {
                IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> x.getFloat(rc[0], rc[1]));
                assertMentions(e, "(" + rc[0] + ", " + rc[1] + ")", "[2, 3]");
                assertThrows(IndexOutOfBoundsException.class, () -> x.setFloat(rc[0], rc[1], 1f));
            }
        }
    }

    @Test
    void ofRoundsEveryValueAndChecksTheCount() {
        float[] values = {1f, 1f + 0x1p-8f, 3.3f, -1000f};
        try (Tensor x = Tensor.of(DType.BF16, values, 2, 2)) {
            assertArrayEquals(new long[] {2, 2}, x.shape());
            float[] expected = new float[values.length];
            for (int i = 0; i < values.length; i++) {
                expected[i] = Bf16.round(values[i]);
            }
            assertArrayEquals(expected, x.toFloatArray());
        }
        try (Tensor x = Tensor.of(DType.FP8_E4M3FN, values, 4)) {
            assertArrayEquals(new float[] {1f, 1f, 3.25f, -448f}, x.toFloatArray());
        }
        assertMentions(assertThrows(IllegalArgumentException.class, () -> Tensor.of(DType.FP32, values, 3, 2)), "4", "6");
    }

    @Test
    void copyFromChecksTheCount() {
        try (Tensor x = Tensor.allocate(DType.FP32, 2, 2)) {
            x.copyFrom(new float[] {1, 2, 3, 4});
            assertArrayEquals(new float[] {1, 2, 3, 4}, x.toFloatArray());
            assertMentions(assertThrows(IllegalArgumentException.class, () -> x.copyFrom(new float[3])), "3", "4");
            assertArrayEquals(new float[] {1, 2, 3, 4}, x.toFloatArray(), "a rejected copy must not write");
        }
    }

    // ------------------------------------------------------------------ wrap and strides

    /**
     * A strided view (3 rows of 5, row stride 8) and a flat view of the same bytes: element
     * (r, c) of the strided view is element r·8 + c of the flat one, the gaps are untouched,
     * and toFloatArray skips them.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void wrapWithARowStrideLongerThanARow(DType t) {
        int rows = 3;
        int cols = t == DType.INT4 ? 6 : 5;
        int stride = 8;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(t.byteSize(rows * stride), 8);
            Tensor flat = contiguous(seg, t, rows * stride);
            float gap = t == DType.INT4 ? 9 : 7.5f;
            for (int k = 0; k < rows * stride; k++) {
                flat.setFloat(0, k, gap);
            }
            Tensor x = strided(seg, t, stride, rows, cols);
            assertEquals(rows, x.rows());
            assertEquals(cols, x.cols());
            assertEquals(stride, x.rowStride());
            assertFalse(x.isContiguous());
            assertEquals(t.byteSize(2L * stride), x.rowByteOffset(2));
            assertTrue(x.describe().contains("stride 8"), x.describe());
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    x.setFloat(r, c, sample(t, r * cols + c));
                }
            }
            float[] dense = x.toFloatArray();
            assertEquals(rows * cols, dense.length);
            for (int r = 0; r < rows; r++) {
                for (int k = 0; k < stride; k++) {
                    float inFlat = flat.getFloat(0, r * stride + k);
                    if (k < cols) {
                        float v = stored(t, sample(t, r * cols + k));
                        assertEquals(v, inFlat, t + " (" + r + ", " + k + ") in the flat view");
                        assertEquals(v, x.getFloat(r, k));
                        assertEquals(v, dense[r * cols + k]);
                    } else {
                        assertEquals(stored(t, gap), inFlat, t + ": the gap after row " + r + " was written");
                    }
                }
            }
        }
    }

    @Test
    void wrapNeedsOnlyTheBytesUpToTheLastElement() {
        try (Arena arena = Arena.ofConfined()) {
            // 3 rows of 5 fp32 with stride 7: (3 - 1) * 7 + 5 = 19 elements = 76 bytes
            MemorySegment seg = arena.allocate(76);
            Tensor x = strided(seg, DType.FP32, 7, 3, 5);
            x.setFloat(2, 4, 1f);
            assertEquals(1f, seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 18));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> strided(seg.asSlice(0, 75), DType.FP32, 7, 3, 5));
            assertMentions(e, "75", "76", "[3, 5]");
            // int4: 2 rows of 4 with stride 6 -> 10 nibbles = 5 bytes
            Tensor q = strided(arena.allocate(5), DType.INT4, 6, 2, 4);
            q.setInt(1, 3, 0xF);
            assertEquals(0xF, q.getInt(1, 3));
            assertThrows(IllegalArgumentException.class, () -> strided(arena.allocate(4), DType.INT4, 6, 2, 4));
        }
    }

    @Test
    void int4RowsStartOnAByte() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            // row 1 starts at nibble 6 = byte 3, low nibble
            Tensor q = strided(seg, DType.INT4, 6, 2, 4);
            q.setInt(1, 0, 0x5);
            q.setInt(1, 1, 0xA);
            assertEquals((byte) 0xA5, seg.get(ValueLayout.JAVA_BYTE, 3));
            assertEquals(3, q.rowByteOffset(1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> strided(seg, DType.INT4, 5, 2, 4));
            assertMentions(e, "rowStride = 5", "even", "int4");
        }
    }

    @Test
    void wrapRejectsBadArguments() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(1024);
            assertMentions(assertThrows(IllegalArgumentException.class, () -> strided(seg, DType.FP32, 3, 2, 4)), "rowStride = 3", "cols = 4");
            assertMentions(assertThrows(IllegalArgumentException.class, () -> strided(null, DType.FP32, 4, 2, 4)), "segment");
            assertMentions(assertThrows(IllegalArgumentException.class, () -> contiguous(seg, DType.FP32, 2, -4)), "negative");
            assertMentions(assertThrows(IllegalArgumentException.class, () -> contiguous(seg, DType.FP32, 16, 17)), "1024", "1088");
        }
    }

    @Test
    void wrapDoesNotCopy() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16);
            Tensor x = contiguous(seg, DType.FP32, 2, 2);
            assertTrue(x.isContiguous());
            seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 3, 2.5f);
            assertEquals(2.5f, x.getFloat(1, 1));
            x.setFloat(0, 1, -1f);
            assertEquals(-1f, seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 1));
        }
    }

    // ------------------------------------------------------------------ overlap

    @Test
    void overlapsAndSameStorage() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(256, 64);
            Tensor whole = contiguous(seg, DType.FP32, 8, 8);
            Tensor again = contiguous(seg, DType.FP32, 8, 8);
            Tensor head = contiguous(seg.asSlice(0, 128), DType.FP32, 4, 8);
            Tensor tail = contiguous(seg.asSlice(128, 128), DType.FP32, 4, 8);
            Tensor middle = contiguous(seg.asSlice(124, 8), DType.FP32, 2);
            Tensor asBf16 = contiguous(seg, DType.BF16, 8, 16);
            Tensor elsewhere = Tensor.allocate(arena, DType.FP32, 8, 8);

            assertTrue(whole.overlaps(again));
            assertTrue(whole.sameStorage(again));
            assertTrue(whole.overlaps(whole));
            assertTrue(whole.sameStorage(whole));

            assertTrue(whole.overlaps(head));
            assertTrue(head.overlaps(whole), "symmetric");
            assertFalse(whole.sameStorage(head));

            assertFalse(head.overlaps(tail), "adjacent ranges share no byte");
            assertFalse(tail.overlaps(head));
            assertTrue(middle.overlaps(head), "one shared float at the end of head");
            assertTrue(middle.overlaps(tail), "one shared float at the start of tail");

            assertTrue(whole.overlaps(asBf16));
            assertFalse(whole.sameStorage(asBf16), "same bytes, other dtype: not the same storage");

            assertFalse(whole.overlaps(elsewhere));
            assertFalse(whole.sameStorage(elsewhere));

            Tensor strided = strided(seg, DType.FP32, 16, 4, 8);
            assertTrue(strided.overlaps(whole));
            assertFalse(strided.sameStorage(whole), "same bytes, other row stride");
        }
    }

    /** Sizes whose byte counts overflow a long are refused, not wrapped around. */
    @Test
    void sizesThatOverflowAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.FP32, 1L << 60));
        assertTrue(e.getMessage().contains("too large"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.allocate(DType.BF16, 1L << 40, 1L << 40));
        MemorySegment small = MemorySegment.ofArray(new byte[16]);
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.wrapStrided(small, DType.FP32, 1L << 61, 3, 4));
        assertTrue(e.getMessage().contains("rowStride"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tensor.wrapStrided(small, DType.FP32, Long.MAX_VALUE, 2, 1));
    }

    /** A single int4 row of odd length: allocate takes it, and so does wrap (there is no second row to align). */
    @Test
    void oneOddInt4RowWraps() {
        try (Tensor a = Tensor.allocate(DType.INT4, 5)) {
            assertDoesNotThrow(() -> Tensor.wrap(a.segment(), DType.INT4, 5));
            assertDoesNotThrow(() -> Tensor.wrap(a.segment(), DType.INT4, 1, 5));
            assertThrows(IllegalArgumentException.class, () -> Tensor.wrapStrided(a.segment(), DType.INT4, 5, 2, 5));
        }
    }

    /** Overlap is decided on the bytes a tensor uses, not on its (possibly larger) segment. */
    @Test
    void overlapsLooksAtTheBytesInUse() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(512, 64);
            // Views that keep the rest of the buffer in their segment.
            Tensor first = contiguous(seg, DType.FP32, 4, 8);                   // bytes [0, 128)
            Tensor second = contiguous(seg.asSlice(128), DType.FP32, 4, 8);     // bytes [128, 256)
            assertFalse(first.overlaps(second), "disjoint views of one buffer");
            assertFalse(second.overlaps(first));
            Tensor straddling = contiguous(seg.asSlice(124), DType.FP32, 2);    // bytes [124, 132)
            assertTrue(first.overlaps(straddling));
            assertTrue(second.overlaps(straddling));

            Tensor sameBytes = contiguous(seg.asSlice(0, 128), DType.FP32, 4, 8);
            assertTrue(first.overlaps(sameBytes));
            assertTrue(first.sameStorage(sameBytes), "same first byte and layout; the segments' lengths differ");
            assertFalse(first.sameStorage(contiguous(seg, DType.FP32, 2, 8)), "fewer rows");
            assertFalse(first.sameStorage(contiguous(seg, DType.FP32, 4, 4)), "fewer columns");

            // Rows of 8 floats every 16: a second tensor in the gaps shares no byte, one shifted by a float does.
            Tensor even = strided(seg, DType.FP32, 16, 4, 8);                   // [64k, 64k + 32)
            Tensor inGaps = strided(seg.asSlice(32), DType.FP32, 16, 4, 8);     // [64k + 32, 64k + 64)
            Tensor shifted = strided(seg.asSlice(28), DType.FP32, 16, 4, 8);
            Tensor otherStride = strided(seg.asSlice(32), DType.FP32, 12, 4, 8);
            assertFalse(even.overlaps(inGaps), "interleaved rows");
            assertFalse(inGaps.overlaps(even));
            assertTrue(even.overlaps(shifted), "each row shares its last float");
            assertTrue(even.overlaps(otherStride), "other strides: judged by the spans");
            assertTrue(even.overlaps(contiguous(seg.asSlice(24), DType.FP32, 2)), "two floats inside a row");
            assertFalse(even.overlaps(strided(seg.asSlice(36), DType.FP32, 16, 4, 6)), "narrower rows in the gaps");

            // int4: a row of 6 values takes 3 bytes; rows 4 bytes apart leave one free byte each.
            Tensor nibbles = strided(seg, DType.INT4, 8, 4, 6);
            assertFalse(nibbles.overlaps(strided(seg.asSlice(3), DType.INT4, 8, 4, 2)));
            assertTrue(nibbles.overlaps(strided(seg.asSlice(2), DType.INT4, 8, 4, 2)));

            Tensor empty = contiguous(seg, DType.FP32, 0, 8);
            assertFalse(empty.overlaps(first), "an empty tensor uses no byte");
            assertFalse(first.overlaps(contiguous(seg.asSlice(64), DType.FP32, 0, 8)), "not even one inside another's span");

            // A single row has no stride of its own: against strided rows it is judged by their stride.
            Tensor rowInGap = strided(seg.asSlice(32), DType.FP32, Long.MAX_VALUE / 8, 1, 8);
            assertFalse(even.overlaps(rowInGap), "a row in the gaps, whatever its nominal stride");
            assertFalse(rowInGap.overlaps(even));
            assertTrue(strided(seg, DType.FP32, Long.MAX_VALUE / 8, 1, 8).overlaps(even), "the first row itself");
            assertTrue(first.sameStorage(strided(seg, DType.FP32, 8, 4, 8)), "same rows, same stride");
            Tensor oneRow = strided(seg, DType.FP32, 8, 1, 8);
            assertTrue(oneRow.sameStorage(strided(seg, DType.FP32, 99, 1, 8)), "one row: the stride does not matter");
        }
    }

    // ------------------------------------------------------------------ lifetime

    /** Every operation that touches the elements, for the close tests. */
    private static Map<String, Executable> elementUses(Tensor x) {
        boolean isInt = !x.dtype().isFloatingPoint();
        Map<String, Executable> uses = new LinkedHashMap<>();
        uses.put("segment()", x::segment);
        uses.put("getFloat", () -> x.getFloat(0, 0));
        uses.put("setFloat", () -> x.setFloat(0, 0, 1f));
        uses.put("toFloatArray", x::toFloatArray);
        uses.put("toDoubleArray", x::toDoubleArray);
        uses.put("copyFrom", () -> x.copyFrom(new float[(int) x.elementCount()]));
        uses.put("TensorFill.poison", () -> TensorFill.poison(x));
        uses.put("TensorFill.gaussian", () -> TensorFill.gaussian(x, 1, 1.0));
        if (isInt) {
            uses.put("getInt", () -> x.getInt(0, 0));
            uses.put("setInt", () -> x.setInt(0, 0, 1));
        } else {
            uses.put("Accuracy.firstNonFinite", () -> Accuracy.firstNonFinite(x));
            uses.put("Accuracy.relativeL2", () -> Accuracy.relativeL2(new double[(int) x.elementCount()], x));
        }
        return uses;
    }

    private static void assertEveryUseThrowsIllegalState(Tensor x) {
        List<String> failures = new ArrayList<>();
        elementUses(x).forEach((name, use) -> {
            try {
                use.execute();
                failures.add(name + " did not throw");
            } catch (IllegalStateException expected) {
                // the only acceptable outcome
            } catch (Throwable other) {
                failures.add(name + " threw " + other);
            }
        });
        assertTrue(failures.isEmpty(), () -> x.describe() + " after close: " + failures);
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void closeFreesTheOwnedArenaAndEveryLaterUseThrows(DType t) {
        Tensor x = Tensor.allocate(t, 2, 4);
        MemorySegment seg = x.segment();
        x.close();
        assertFalse(x.isAlive());
        assertFalse(seg.scope().isAlive(), "the owned arena must be freed");
        assertThrows(IllegalStateException.class, () -> seg.get(ValueLayout.JAVA_BYTE, 0), "the freed memory is unreachable");
        assertEveryUseThrowsIllegalState(x);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> x.getFloat(0, 0));
        assertMentions(e, "closed", t + "[2, 4]");
        // closing again is harmless, and the metadata stays readable
        assertDoesNotThrow(x::close);
        assertDoesNotThrow(x::close);
        assertArrayEquals(new long[] {2, 4}, x.shape());
        assertTrue(x.toString().endsWith("(closed)"), x.toString());
    }

    @Test
    void tensorsInACallersArenaDieWithTheArena() {
        Arena arena = Arena.ofShared();
        Tensor a = Tensor.allocate(arena, DType.BF16, 4, 4);
        Tensor w = strided(arena.allocate(64), DType.FP32, 8, 2, 4);
        Tensor q = Tensor.allocate(arena, DType.INT4, 2, 4);
        a.setFloat(1, 1, 2f);
        w.setFloat(1, 3, 3f);
        assertEquals(2f, a.getFloat(1, 1));
        arena.close();
        for (Tensor x : List.of(a, w, q)) {
            assertFalse(x.isAlive(), x.describe());
            assertEveryUseThrowsIllegalState(x);
            assertDoesNotThrow(x::close, "closing a view after its arena is harmless");
        }
    }

    @Test
    void closingAViewInACallersArenaLeavesTheMemoryToTheArena() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(32);
            Tensor first = contiguous(seg, DType.FP32, 8);
            Tensor second = contiguous(seg, DType.FP32, 8);
            Tensor owned = Tensor.allocate(arena, DType.FP32, 8);
            first.setFloat(0, 3, 4f);
            first.close();
            owned.close();
            assertFalse(first.isAlive());
            assertFalse(owned.isAlive());
            assertEveryUseThrowsIllegalState(first);
            assertEveryUseThrowsIllegalState(owned);
            assertTrue(seg.scope().isAlive(), "the caller's arena is not the tensor's to close");
            assertTrue(second.isAlive());
            assertEquals(4f, second.getFloat(0, 3));
        }
    }

    @Test
    void tryWithResourcesCloses() {
        Tensor escaped;
        MemorySegment seg;
        try (Tensor x = Tensor.allocate(DType.FP16, 3)) {
            escaped = x;
            seg = x.segment();
        }
        assertFalse(escaped.isAlive());
        assertFalse(seg.scope().isAlive());
    }

    @Test
    void heapTensorsOverDifferentArraysNeverOverlap() {
        Tensor a = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(new float[64]), DType.FP32, 8, 8);
        Tensor b = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(new float[64]), DType.FP32, 8, 8);
        org.junit.jupiter.api.Assertions.assertFalse(a.overlaps(b), "distinct arrays, both at offset 0");
        org.junit.jupiter.api.Assertions.assertFalse(a.sameStorage(b));
        float[] shared = new float[64];
        Tensor c = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(shared), DType.FP32, 8, 8);
        Tensor d = Tensor.wrap(java.lang.foreign.MemorySegment.ofArray(shared).asSlice(4 * 8), DType.FP32, 7, 8);
        assertTrue(c.overlaps(d), "the same array, overlapping rows");
        try (Tensor native1 = Tensor.allocate(DType.FP32, 8, 8)) {
            org.junit.jupiter.api.Assertions.assertFalse(native1.overlaps(a), "native memory never overlaps a heap array");
        }
    }

    /** A read-only heap segment hides its array from heapBase(): overlap is still judged by the bytes. */
    @Test
    void readOnlyHeapViewsAreComparedByTheirArray() {
        float[] shared = new float[9 * 8];
        MemorySegment seg = MemorySegment.ofArray(shared);
        Tensor in = Tensor.wrap(seg.asSlice(0, 4 * 64).asReadOnly(), DType.FP32, 8, 8);
        Tensor out = Tensor.wrap(seg.asSlice(4 * 8, 4 * 64), DType.FP32, 8, 8); // one row later
        assertTrue(in.overlaps(out) && out.overlaps(in), "a read-only input and a writable output on one array");
        Tensor same = Tensor.wrap(seg.asSlice(0, 4 * 64), DType.FP32, 8, 8);
        assertTrue(in.sameStorage(same) && same.sameStorage(in), "the same bytes, one view read-only");
        Tensor gap = Tensor.wrapStrided(seg.asSlice(4 * 4).asReadOnly(), DType.FP32, 8, 8, 4); // columns 4..7 of the rows
        Tensor left = Tensor.wrapStrided(seg, DType.FP32, 8, 8, 4);                              // columns 0..3
        assertFalse(gap.overlaps(left), "interleaved rows share nothing, read-only or not");
        Tensor otherArray = Tensor.wrap(MemorySegment.ofArray(new float[64]).asReadOnly(), DType.FP32, 8, 8);
        Tensor otherArray2 = Tensor.wrap(MemorySegment.ofArray(new float[64]).asReadOnly(), DType.FP32, 8, 8);
        assertFalse(otherArray.overlaps(otherArray2) || otherArray.sameStorage(otherArray2), "two arrays, both read-only at offset 0");
        assertFalse(otherArray.overlaps(same));
        try (Tensor nativeT = Tensor.allocate(DType.FP32, 8, 8)) {
            assertFalse(nativeT.overlaps(in) || in.overlaps(nativeT), "native memory never overlaps a heap array");
        }
    }

    @Test
    void deviceTensorsRefuseHostAccessAndNameTheDevice() {
        Device gpu = new Device("cuda", 0, "test GPU", false);
        try (Arena arena = Arena.ofConfined()) {
            // An address range that is never dereferenced: only its bounds matter to a device tensor.
            MemorySegment range = MemorySegment.ofAddress(1L << 40).reinterpret(64, arena, null);
            Tensor t = Tensor.wrapDevice(null, range, gpu, DType.FP32, 4, 4, 4);
            assertEquals(gpu, t.device());
            assertEquals(16, t.elementCount());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> t.getFloat(0, 0));
            assertTrue(e.getMessage().contains("cuda:0"), e.getMessage());
            assertThrows(IllegalStateException.class, t::segment);
            assertEquals(1L << 40, t.deviceAddress());
            assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrapDevice(null, range, Device.HOST, DType.FP32, 4, 4, 4));
            assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrapDevice(null, range, gpu, DType.FP32, 4, 5, 4));
        }
    }

    /** spanBytes: first element to just past the last, gaps between strided rows included. */
    @Test
    void spanBytesCountsTheGapsBetweenRowsButNotAfterTheLast() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(1024, 64);
            assertEquals(3 * 5 * 2, Tensor.wrapStrided(seg, DType.BF16, 5, 3, 5).spanBytes());
            assertEquals(2 * (2 * 8 + 5), Tensor.wrapStrided(seg, DType.BF16, 8, 3, 5).spanBytes());
            assertEquals(4 * 7, Tensor.wrapStrided(seg, DType.FP32, 100, 1, 7).spanBytes());
            assertEquals(0, Tensor.wrapStrided(seg, DType.FP32, 8, 0, 5).spanBytes());
            assertEquals(0, Tensor.wrapStrided(seg, DType.FP32, 8, 3, 0).spanBytes());
        }
    }

    /** No element, however many rows: the row loops must not walk 2^40 empty rows. */
    @Test
    void emptyTensorsWithManyRowsAreDoneAtOnce() {
        try (Tensor t = Tensor.allocate(DType.FP32, 1L << 40, 0); Tensor b = Tensor.allocate(DType.BF16, 1L << 40, 0)) {
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                assertEquals(0, t.toFloatArray().length);
                assertEquals(0, t.toDoubleArray().length);
                t.copyFrom(new float[0]);
                TensorFill.gaussian(b, 1, 1.0);
                TensorFill.poison(t);
                assertFalse(TensorFill.hasPoison(t));
                assertEquals(-1, Accuracy.firstNonFinite(b));
            });
        }
    }

    @Test
    void ofRejectsValuesTheDtypeCannotHoldOrNone() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.of(DType.INT4, new float[] {3, 16}, 2));
        assertTrue(e.getMessage().contains("16"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.of(DType.FP32, null, 2)).getMessage()
                .contains("values must not be null"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Tensor.of(DType.FP32, new float[3], 2)).getMessage()
                .contains("values has 3 elements"));
    }
}
