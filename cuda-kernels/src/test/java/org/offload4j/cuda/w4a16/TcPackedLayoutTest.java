package org.offload4j.cuda.w4a16;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;

class TcPackedLayoutTest {

    static QuantizedWeight random(int k, int n, int groupSize, boolean symmetric, DType scaleType, long seed) {
        int g = groupSize == -1 ? k : groupSize;
        Tensor qweight = TensorFill.gaussian(Tensor.allocate(DType.INT32, k / 8, n), seed, 1);
        Tensor qzeros = symmetric ? null : TensorFill.gaussian(Tensor.allocate(DType.INT32, k / g, n / 8), seed + 1, 1);
        Tensor scales = TensorFill.gaussian(Tensor.allocate(scaleType, k / g, n), seed + 2, 0.02);
        return QuantizedWeight.adopt(k, n, groupSize, qweight, qzeros, scales);
    }

    /** Every group size, sym/asym, every scale dtype, n not a multiple of 64, k not a multiple of 128. */
    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        int[][] kn = {{256, 128}, {384, 200}, {96, 72}, {512, 8}};
        long seed = 7;
        for (int[] s : kn) {
            for (int g : new int[] {32, 64, 128, -1}) {
                int k = s[0];
                if (g > 0 && k % g != 0) {
                    continue;
                }
                for (boolean sym : new boolean[] {false, true}) {
                    for (DType st : new DType[] {DType.FP16, DType.BF16, DType.FP32}) {
                        b.add(Arguments.of(k, s[1], g, sym, st, seed++));
                    }
                }
            }
        }
        b.add(Arguments.of(200, 136, -1, false, DType.FP16, 99L));   // g = k = 200: kPad 256
        return b.build();
    }

    @ParameterizedTest(name = "k={0} n={1} g={2} sym={3} scales={4}")
    @MethodSource("shapes")
    void packThenDequantizeEqualsQuantizedWeightsDequantization(int k, int n, int g, boolean sym, DType st, long seed) {
        try (Arena arena = Arena.ofConfined(); QuantizedWeight w = random(k, n, g, sym, st, seed);
             Tensor want = w.dequantize(); Tensor got = TcPackedLayout.pack(w, arena).dequantize()) {
            TcPackedLayout p = TcPackedLayout.pack(w, arena);
            for (int row = 0; row < k; row++) {
                for (int col = 0; col < n; col++) {
                    float a = want.getFloat(row, col);
                    float bb = got.getFloat(row, col);
                    if (Float.floatToRawIntBits(a) != Float.floatToRawIntBits(bb)) {
                        throw new AssertionError("seed " + seed + " " + w + ": element (" + row + ", " + col + ") " + bb + " != " + a);
                    }
                    assertEquals(w.q(row, col), p.q(row, col));
                }
            }
            for (int gi = 0; gi < w.groups(); gi++) {
                for (int col = 0; col < n; col++) {
                    assertEquals(w.zero(gi, col), p.zero(gi, col));
                    assertEquals(Float.floatToRawIntBits(w.scale(gi, col)), Float.floatToRawIntBits(p.scale(gi, col)));
                }
            }
            // padding: q = 0 in padded rows and columns, scale 0 and weight 0 in padded columns
            for (int row = 0; row < p.kPad(); row++) {
                for (int col = (row < k ? n : 0); col < p.paddedN(); col++) {
                    assertEquals(0, p.q(row, col), "padded q (" + row + ", " + col + ")");
                }
            }
            for (int gi = 0; gi < p.groups(); gi++) {
                for (int col = n; col < p.paddedN(); col++) {
                    assertEquals(0f, p.scale(gi, col));
                    assertEquals(0f, p.weight(gi * p.groupSize(), col));
                }
            }
            assertEquals(sym, p.symmetric());
            if (sym) {
                assertNull(p.zeros());
            }
            assertEquals((long) p.slabs() * p.kPad() / 16 * 512, p.qweight().byteSize());
            assertEquals((long) p.groups() * p.slabs() * 64 * TcPackedLayout.scaleBytes(p.scaleKind()), p.scales().byteSize());
        }
    }

    @Test
    void packPositionIsABijectionOntoTheMmaBFragments() {
        boolean[] seen = new boolean[32 * 4 * 8];
        for (int r = 0; r < 16; r++) {
            for (int c = 0; c < 64; c++) {
                int lane = TcPackedLayout.lane(r, c);
                int word = TcPackedLayout.word(r, c);
                int nib = TcPackedLayout.nibble(r, c);
                int i = (lane * 4 + word) * 8 + nib;
                assertEquals(false, seen[i]);
                seen[i] = true;
                assertEquals(r, TcPackedLayout.unpackRow(lane, word, nib));
                assertEquals(c, TcPackedLayout.unpackCol(lane, word, nib));
                // PTX mma.m16n8k16 B fragment: column groupID = lane >> 2 (of sub-tile c / 8),
                // rows 2·threadID_in_group + (i & 1) (+ 8 for b2, b3); register pair p = (w >>> 4p) & 0x000F000F
                int pair = nib & 3;
                int half = nib >> 2;
                int bi = 2 * (pair & 1) + half;   // b0..b3 of the sub-tile
                assertEquals(c / 8, 2 * word + (pair >> 1));
                assertEquals(c % 8, lane >> 2);
                assertEquals(r, 2 * (lane % 4) + (bi & 1) + (bi >= 2 ? 8 : 0));
            }
        }
    }

    /** Golden positions, the same as the diagram in w4a16_tc.cu and tc_pack_* in w4a16_tc.cuh. */
    @Test
    void goldenPositions() {
        // (r, c) -> lane, word, nibble
        int[][] golden = {
            {0, 0, 0, 0, 0}, {1, 0, 0, 0, 4}, {8, 0, 0, 0, 1}, {9, 0, 0, 0, 5},
            {0, 8, 0, 0, 2}, {9, 13, 20, 0, 7}, {15, 63, 31, 3, 7}, {2, 16, 1, 1, 0}, {6, 41, 7, 2, 2},
        };
        for (int[] e : golden) {
            assertEquals(e[2], TcPackedLayout.lane(e[0], e[1]), "lane of " + e[0] + "," + e[1]);
            assertEquals(e[3], TcPackedLayout.word(e[0], e[1]), "word of " + e[0] + "," + e[1]);
            assertEquals(e[4], TcPackedLayout.nibble(e[0], e[1]), "nibble of " + e[0] + "," + e[1]);
        }
        assertEquals(((3L * 10 + 2) * 32 + 5) * 4 + 1, TcPackedLayout.qweightWordIndex(3, 2, 5, 1, 10));
        assertEquals((2L * 5 + 1) * 64 + 3 * 8 + 2, TcPackedLayout.scaleIndex(2, 64 + 19, 5));
        assertEquals((2L * 5 + 1) * 8 + 3, TcPackedLayout.zeroWordIndex(2, 64 + 19, 5));
    }

    @Test
    void rejectsClosedWeight() {
        QuantizedWeight w = random(64, 64, 32, false, DType.FP16, 1);
        w.close();
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> TcPackedLayout.pack(w, arena));
            assertThrows(IllegalArgumentException.class, () -> TcPackedLayout.pack(null, arena));
        }
    }
}
