package org.offload4j.w4a16;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;

class QuantizedWeightTest {

    /** Hand-made words: q of row 8r+i sits in bits 4i..4i+3 of word (r, j); z of column 8c+i likewise. */
    @Test
    void gptqBitLayoutOnHandMadeWords() {
        try (Tensor qweight = Tensor.allocate(DType.INT32, 2, 8);
             Tensor qzeros = Tensor.allocate(DType.INT32, 1, 1);
             Tensor scales = Tensor.allocate(DType.FP16, 1, 8)) {
            for (int j = 0; j < 8; j++) {
                qweight.setInt(0, j, 0x76543210);
                qweight.setInt(1, j, 0xFEDCBA98);
                scales.setFloat(0, j, 0.5f * (j + 1));
            }
            qzeros.setInt(0, 0, 0x89ABCDEF); // z of column i = 15 - i
            QuantizedWeight w = QuantizedWeight.wrap(16, 8, 16, qweight, qzeros, scales);
            for (int row = 0; row < 16; row++) {
                for (int col = 0; col < 8; col++) {
                    assertEquals(row, w.q(row, col), "q(" + row + ", " + col + ")");
                    assertEquals((row - (15 - col)) * 0.5 * (col + 1), w.weight(row, col));
                }
            }
            for (int col = 0; col < 8; col++) {
                assertEquals(15 - col, w.zero(0, col));
                assertEquals(0.5f * (col + 1), w.scale(0, col));
            }
            assertEquals(1, w.groups());
            assertEquals(16, w.groupSize());
            assertFalse(w.symmetric());
        }
    }

    @Test
    void symmetricZeroIsEight() {
        try (QuantizedWeight w = TestWeights.random(64, 16, 32, true, DType.BF16, 1)) {
            assertTrue(w.symmetric());
            assertNull(w.qzeros());
            for (int g = 0; g < 2; g++) {
                for (int j = 0; j < 16; j++) {
                    assertEquals(8, w.zero(g, j));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fp16", "bf16", "fp32"})
    void dequantizeIsElementwiseWeight(String scaleType) {
        try (QuantizedWeight w = TestWeights.random(128, 24, 64, false, DType.parse(scaleType), 7);
             Tensor d = w.dequantize()) {
            assertEquals(DType.FP32, d.dtype());
            assertEquals(128, d.dim(0));
            assertEquals(24, d.dim(1));
            for (int row = 0; row < 128; row++) {
                for (int col = 0; col < 24; col++) {
                    assertEquals((float) w.weight(row, col), d.getFloat(row, col));
                    if (!scaleType.equals("fp32")) {
                        assertEquals(w.weight(row, col), d.getFloat(row, col), 0.0, "exact for 16-bit scales");
                    }
                }
            }
        }
    }

    @Test
    void minusOneGroupSizeMeansK() {
        try (QuantizedWeight w = TestWeights.random(96, 8, -1, false, DType.FP16, 3)) {
            assertEquals(96, w.groupSize());
            assertEquals(1, w.groups());
        }
    }

    @Test
    void fromGptqV1ZerosAddsOnePerNibble() {
        try (Tensor v1 = Tensor.allocate(DType.INT32, 1, 1)) {
            // nibbles (low first): 15, 0, 7, 8, 14, 1, 6, 9
            v1.setInt(0, 0, 0x961E_870F);
            try (Tensor v2 = QuantizedWeight.fromGptqV1Zeros(v1)) {
                // expected: 0, 1, 8, 9, 15, 2, 7, 10
                assertEquals(0xA72F_9810, v2.getInt(0, 0));
            }
        }
    }

    @Test
    void fromGptqV1ZerosIsNibblewiseIncrement() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(300);
        int[] words = new int[304];
        words[0] = 0;
        words[1] = -1;
        words[2] = 0x0F0F0F0F;
        words[3] = 0x76543210;
        for (int i = 4; i < words.length; i++) {
            words[i] = rnd.nextInt();
        }
        for (int word : words) {
            checkV1Increment(word);
        }
    }

    private static void checkV1Increment(int word) {
        try (Tensor v1 = Tensor.allocate(DType.INT32, 1, 1)) {
            v1.setInt(0, 0, word);
            try (Tensor v2 = QuantizedWeight.fromGptqV1Zeros(v1)) {
                int out = v2.getInt(0, 0);
                for (int i = 0; i < 8; i++) {
                    assertEquals((QuantizedWeight.nibble(word, i) + 1) & 0xF, QuantizedWeight.nibble(out, i),
                            "nibble " + i + " of " + Integer.toHexString(word));
                }
            }
        }
    }

    @Test
    void adoptClosesTensorsWrapDoesNot() {
        Tensor qweight = Tensor.allocate(DType.INT32, 4, 8);
        Tensor scales = Tensor.allocate(DType.FP16, 1, 8);
        QuantizedWeight borrowed = QuantizedWeight.wrap(32, 8, 32, qweight, null, scales);
        borrowed.close();
        assertFalse(borrowed.isAlive());
        assertTrue(qweight.isAlive());
        assertThrows(IllegalStateException.class, () -> borrowed.q(0, 0));
        QuantizedWeight owned = QuantizedWeight.adopt(32, 8, 32, qweight, null, scales);
        owned.close();
        assertFalse(qweight.isAlive());
        assertFalse(scales.isAlive());
        owned.close(); // idempotent
    }

    @Test
    void weightClosedThroughItsTensorIsNotAlive() {
        Tensor qweight = Tensor.allocate(DType.INT32, 4, 8);
        try (Tensor scales = Tensor.allocate(DType.FP16, 1, 8)) {
            QuantizedWeight w = QuantizedWeight.wrap(32, 8, 32, qweight, null, scales);
            qweight.close();
            assertFalse(w.isAlive());
        }
    }

    // ---- factory rejections: one per rule, each naming the argument ----

    private static void rejects(String expectedInMessage, Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(expectedInMessage), "message '" + e.getMessage() + "' should mention '" + expectedInMessage + "'");
    }

    private static Tensor i32(long... shape) {
        return Tensor.allocate(DType.INT32, shape);
    }

    @Test
    void rejectsBadSizes() {
        try (Tensor qw = i32(8, 16); Tensor qz = i32(2, 2); Tensor s = Tensor.allocate(DType.FP16, 2, 16)) {
            rejects("k = 60", () -> QuantizedWeight.wrap(60, 16, 32, qw, qz, s));
            rejects("k = 0", () -> QuantizedWeight.wrap(0, 16, 32, qw, qz, s));
            rejects("n = 12", () -> QuantizedWeight.wrap(64, 12, 32, qw, qz, s));
            rejects("groupSize = 16", () -> QuantizedWeight.wrap(64, 16, 16, qw, qz, s));
            rejects("groupSize = 256", () -> QuantizedWeight.wrap(64, 16, 256, qw, qz, s));
            rejects("groupSize = 0", () -> QuantizedWeight.wrap(64, 16, 0, qw, qz, s));
            rejects("groupSize = -2", () -> QuantizedWeight.wrap(64, 16, -2, qw, qz, s));
            rejects("not a multiple of groupSize = 128", () -> QuantizedWeight.wrap(64, 16, 128, qw, qz, s));
            rejects("not a multiple of groupSize = 64", () -> QuantizedWeight.wrap(96, 16, 64, qw, qz, s));
        }
    }

    @Test
    void rejectsBadTensors() {
        try (Tensor qw = i32(8, 16); Tensor qz = i32(2, 2); Tensor s = Tensor.allocate(DType.FP16, 2, 16);
             Tensor qwF = Tensor.allocate(DType.FP32, 8, 16); Tensor qwShape = i32(16, 8);
             Tensor qzShape = i32(2, 16); Tensor qzF = Tensor.allocate(DType.FP16, 2, 2);
             Tensor sI = i32(2, 16); Tensor s8 = Tensor.allocate(DType.FP8_E4M3FN, 2, 16); Tensor sShape = Tensor.allocate(DType.FP16, 1, 16);
             Tensor sNaN = Tensor.allocate(DType.FP32, 2, 16)) {
            rejects("qweight must not be null", () -> QuantizedWeight.wrap(64, 16, 32, null, qz, s));
            rejects("scales must not be null", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, null));
            rejects("qweight has dtype fp32", () -> QuantizedWeight.wrap(64, 16, 32, qwF, qz, s));
            rejects("qweight has shape [16, 8]", () -> QuantizedWeight.wrap(64, 16, 32, qwShape, qz, s));
            rejects("qzeros has shape [2, 16]", () -> QuantizedWeight.wrap(64, 16, 32, qw, qzShape, s));
            rejects("qzeros has dtype fp16", () -> QuantizedWeight.wrap(64, 16, 32, qw, qzF, s));
            rejects("scales has dtype int32", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, sI));
            rejects("scales has dtype fp8_e4m3", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, s8));
            rejects("scales has shape [1, 16]", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, sShape));
            sNaN.setFloat(1, 3, Float.NaN);
            rejects("scales[1, 3] = NaN", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, sNaN));
            sNaN.setFloat(1, 3, Float.POSITIVE_INFINITY);
            rejects("scales[1, 3] = Infinity", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, sNaN));
        }
    }

    @Test
    void rejectsTensorsOutsideHostMemory() {
        Device gpu = new Device("fake", 0, "fake gpu", false);
        try (Arena arena = Arena.ofConfined();
             Tensor qw = i32(8, 16); Tensor qz = i32(2, 2); Tensor s = Tensor.allocate(DType.FP16, 2, 16);
             Tensor gIdx = i32(64); Tensor w = Tensor.allocate(DType.BF16, 64, 16)) {
            Tensor qwGpu = Tensor.wrapDevice(null, arena.allocate(4L * 8 * 16), gpu, DType.INT32, 16, 8, 16);
            Tensor qzGpu = Tensor.wrapDevice(null, arena.allocate(4L * 2 * 2), gpu, DType.INT32, 2, 2, 2);
            Tensor sGpu = Tensor.wrapDevice(null, arena.allocate(2L * 2 * 16), gpu, DType.FP16, 16, 2, 16);
            Tensor gIdxGpu = Tensor.wrapDevice(null, arena.allocate(4L * 64), gpu, DType.INT32, 64, 64);
            Tensor wGpu = Tensor.wrapDevice(null, arena.allocate(2L * 64 * 16), gpu, DType.BF16, 16, 64, 16);
            String where = "is in fake:0 (fake gpu) memory; it must be in host memory";
            rejects("qweight (int32[8, 16]@fake) " + where, () -> QuantizedWeight.wrap(64, 16, 32, qwGpu, qz, s));
            rejects("qzeros (int32[2, 2]@fake) " + where, () -> QuantizedWeight.adopt(64, 16, 32, qw, qzGpu, s));
            rejects("scales (fp16[2, 16]@fake) " + where, () -> QuantizedWeight.wrap(64, 16, 32, qw, null, sGpu));
            rejects("gIdx (int32[64]@fake) " + where, () -> QuantizedWeight.fromGptqActOrder(64, 16, 32, qw, qz, s, gIdxGpu));
            rejects("qzerosV1 (int32[2, 2]@fake) " + where, () -> QuantizedWeight.fromGptqV1Zeros(qzGpu));
            rejects("w (bf16[64, 16]@fake) " + where, () -> RtnQuantizer.quantize(wGpu, 32, false, DType.FP16));
            assertTrue(qw.isAlive() && s.isAlive(), "a rejected adopt closes nothing");
            assertDoesNotThrow(() -> RtnQuantizer.quantize(w, 32, false, DType.FP16).close());
        }
    }

    @Test
    void rejectsClosedTensors() {
        Tensor qw = i32(8, 16);
        Tensor qz = i32(2, 2);
        Tensor s = Tensor.allocate(DType.FP16, 2, 16);
        qz.close();
        rejects("qzeros", () -> QuantizedWeight.wrap(64, 16, 32, qw, qz, s));
        qw.close();
        rejects("qweight", () -> QuantizedWeight.wrap(64, 16, 32, qw, null, s));
        s.close();
    }
}
