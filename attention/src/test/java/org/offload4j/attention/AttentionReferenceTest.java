package org.offload4j.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;

/** The float64 reference on inputs whose answer is known in closed form. */
class AttentionReferenceTest {

    /**
     * With Q = 0 every logit is 0, so each query averages the V rows of exactly the keys it sees.
     * With v[j] = j in every column the output is the mean of the visible key indices, which pins
     * the bottom-right causal alignment down row by row; lse = ln(number of visible keys).
     */
    @ParameterizedTest(name = "Sq={0} Skv={1} causal={2}")
    @CsvSource({"3,5,true", "5,3,true", "4,4,true", "1,6,true", "6,1,true", "3,5,false", "5,3,false"})
    void maskAlignmentRowByRow(int sq, int skv, boolean causal) {
        int d = 2;
        AttentionShape s = new AttentionShape(1, 1, 1, sq, skv, d);
        double[] q = new double[sq * d];
        double[] k = new double[skv * d];
        double[] v = new double[skv * d];
        for (int j = 0; j < skv; j++) {
            v[j * d] = j;
            v[j * d + 1] = j;
        }
        AttentionReference.Result r = AttentionReference.forward(s, q, k, v, causal, 1.0);
        for (int i = 0; i < sq; i++) {
            int last = causal ? Math.min(skv - 1, i + (skv - sq)) : skv - 1; // j ≤ i + Skv − Sq
            if (last < 0) {
                assertEquals(Double.NEGATIVE_INFINITY, r.lse()[i], "row " + i);
                assertArrayEquals(new double[] {0, 0}, new double[] {r.out()[i * d], r.out()[i * d + 1]}, "row " + i);
            } else {
                assertEquals(last / 2.0, r.out()[i * d], 1e-12, "row " + i);
                assertEquals(Math.log(last + 1), r.lse()[i], 1e-12, "row " + i);
            }
        }
    }

    @Test
    void bottomRightExamplesOfTheJavadoc() {
        // Sq = 3, Skv = 5: row 0 sees keys 0..2, row 2 sees all five.
        assertEquals(java.util.List.of(3, 4, 5), visibleCounts(3, 5));
        // Sq = 5, Skv = 3: rows 0 and 1 see nothing, row 4 sees all three.
        assertEquals(java.util.List.of(0, 0, 1, 2, 3), visibleCounts(5, 3));
    }

    private static java.util.List<Integer> visibleCounts(int sq, int skv) {
        AttentionShape s = new AttentionShape(1, 1, 1, sq, skv, 1);
        AttentionReference.Result r = AttentionReference.forward(s, new double[sq], new double[skv], new double[skv], true, 1.0);
        java.util.List<Integer> counts = new java.util.ArrayList<>();
        for (double lse : r.lse()) {
            counts.add(lse == Double.NEGATIVE_INFINITY ? 0 : (int) Math.round(Math.exp(lse)));
        }
        return counts;
    }

    @Test
    void twoKeysByHand() {
        // logits 0 and ln 3 → weights 1/4 and 3/4; out = 4/4 + 3·8/4 = 7; lse = ln 4.
        AttentionShape s = new AttentionShape(1, 1, 1, 1, 2, 1);
        AttentionReference.Result r = AttentionReference.forward(s, new double[] {1}, new double[] {0, Math.log(3)},
                new double[] {4, 8}, false, 1.0);
        assertEquals(7, r.out()[0], 1e-12);
        assertEquals(Math.log(4), r.lse()[0], 1e-12);
    }

    /**
     * K and V a cache of capacity 4 per head filled to 2 keys: head g's keys are rows 4g and
     * 4g + 1; the free rows hold NaN, which no result may show.
     */
    @Test
    void aKvCacheHeadStartsAtItsCapacity() {
        AttentionShape s = new AttentionShape(1, 2, 2, 1, 2, 1, 4);
        double nan = Double.NaN;
        double[] k = {0, Math.log(3), nan, nan, 0, 0, nan, nan};
        double[] v = {4, 8, nan, nan, 1, 3, nan, nan};
        AttentionReference.Result r = AttentionReference.forward(s, new double[] {1, 1}, k, v, true, 1.0);
        assertEquals(7, r.out()[0], 1e-12);          // head 0 as in twoKeysByHand
        assertEquals(2, r.out()[1], 1e-12);          // head 1: equal weights on 1 and 3
        assertEquals(Math.log(4), r.lse()[0], 1e-12);
        assertEquals(Math.log(2), r.lse()[1], 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new AttentionShape(1, 1, 1, 1, 5, 64, 4), "capacity below Skv");
        assertEquals(2, new AttentionShape(1, 2, 2, 1, 2, 1).kvCapacity(), "the six-size constructor: exactly Skv keys per head");
        assertEquals(s, new AttentionShape(1, 2, 2, 1, 4, 1).filledTo(2), "a compact shape read as a cache filled to 2");
    }

    @Test
    void groupedQueryHeadsReadTheirKvHead() {
        // Hq = 6, Hkv = 3: query head h reads KV head h / 2, whose V rows all hold 10·(b+1) + g.
        int b = 2, hq = 6, hkv = 3, sq = 2, skv = 3, d = 1;
        AttentionShape s = new AttentionShape(b, hq, hkv, sq, skv, d);
        double[] v = new double[b * hkv * skv];
        for (int bi = 0; bi < b; bi++) {
            for (int g = 0; g < hkv; g++) {
                for (int j = 0; j < skv; j++) {
                    v[(bi * hkv + g) * skv + j] = 10 * (bi + 1) + g;
                }
            }
        }
        AttentionReference.Result r = AttentionReference.forward(s, new double[b * hq * sq], new double[b * hkv * skv], v, false, 1.0);
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < hq; h++) {
                for (int i = 0; i < sq; i++) {
                    assertEquals(10 * (bi + 1) + h / 2, r.out()[(bi * hq + h) * sq + i], 1e-12, "b " + bi + " h " + h);
                }
            }
        }
    }

    @Test
    void dequantizeAppliesThePerHeadScale() {
        Tensor data = Tensor.allocate(DType.FP8_E4M3FN, 1, 2, 1, 2);
        data.copyFrom(new float[] {1, -2, 3, 448});
        Tensor scales = Tensor.allocate(DType.FP32, 1, 2);
        scales.copyFrom(new float[] {0.5f, 0.25f});
        try (Fp8Tensor t = new Fp8Tensor(data, scales)) {
            assertArrayEquals(new double[] {0.5, -1, 0.75, 112}, AttentionReference.dequantize(t));
        }
    }

    @Test
    void fp8EntryMatchesTheArrayEntry() {
        Tensor data = Tensor.allocate(DType.FP8_E4M3FN, 1, 1, 2, 64);
        org.offload4j.core.TensorFill.gaussian(data, 11, 40);
        try (Fp8Tensor q = Fp8Tensor.perTensor(data, 0.03f)) {
            AttentionOptions o = AttentionOptions.defaults().withCausal(true);
            AttentionReference.Result a = AttentionReference.forward(q, q, q, o);
            double[] x = AttentionReference.dequantize(q);
            AttentionReference.Result b = AttentionReference.forward(new AttentionShape(1, 1, 1, 2, 2, 64), x, x, x, true,
                    (float) (1 / Math.sqrt(64)));
            assertArrayEquals(b.out(), a.out());
            assertArrayEquals(b.lse(), a.lse());
        }
    }
}
