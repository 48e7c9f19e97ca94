package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link LaneSums#sum} adds in the order its class comment gives, bit for bit, from the first
 * interpreted call to C2's code: the loop runs it far past the compile thresholds, on lanes of
 * widely spread magnitudes, where the order decides the rounding.
 */
class LaneSumsTest {
    private static final int L = CpuBackend.FLOATS.length();
    /** Calls per test: C2 compiles a method after about 10⁴ calls (with -Xbatch, before the next call goes on). */
    private static final int CALLS = 200_000;

    @Test
    void sumsInTheDocumentedOrderInEveryJitTier() {
        assumeTrue(L >= 4, "with 2 lanes every order is the same");
        SplittableRandom random = new SplittableRandom(AttentionInputs.seed());
        float[] lanes = new float[L];
        int orderMattered = 0;
        for (int call = 0; call < CALLS; call++) {
            fill(random, lanes);
            float got = LaneSums.sum(lanes, 0);
            float want = halvesFolded(lanes, 0, 1);
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got), "call " + call + ", lanes " + java.util.Arrays.toString(lanes));
            if (Float.floatToIntBits(want) != Float.floatToIntBits(inSequence(lanes))) {
                orderMattered++;
            }
        }
        // Otherwise the inputs could not tell the documented order from the interpreter's.
        assertTrue(orderMattered > CALLS / 10, "the order changed " + orderMattered + " of " + CALLS + " sums");
    }

    @Test
    void specialValuesFollowIeeeAddition() {
        float[] lanes = new float[L];
        java.util.Arrays.fill(lanes, -0f);
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(sum(lanes)), "all −0");
        lanes[L - 1] = Float.POSITIVE_INFINITY;
        assertEquals(Float.POSITIVE_INFINITY, sum(lanes), "one +∞");
        lanes[0] = Float.NEGATIVE_INFINITY;
        assertTrue(Float.isNaN(sum(lanes)), "+∞ and −∞");
        java.util.Arrays.fill(lanes, Float.MAX_VALUE);
        assertEquals(Float.POSITIVE_INFINITY, sum(lanes), "overflow");
    }

    @Test
    void readsTheLFloatsAtTheOffsetOnly() {
        float[] padded = new float[3 * L];
        java.util.Arrays.fill(padded, Float.NaN);
        for (int i = 0; i < L; i++) {
            padded[L + i] = i + 1;
        }
        assertEquals(L * (L + 1) / 2f, LaneSums.sum(padded, L), "1 + 2 + … + L between NaNs");
    }

    private static float sum(float[] lanes) {
        return LaneSums.sum(lanes, 0);
    }

    /** Magnitudes from 2^−20 to 2^20, either sign: most sums round differently in another order. */
    private static void fill(SplittableRandom random, float[] lanes) {
        for (int i = 0; i < lanes.length; i++) {
            lanes[i] = (float) Math.scalb(random.nextDouble(-1, 1), random.nextInt(-20, 21));
        }
    }

    /**
     * The order written as a recursion, independent of the shuffles: the lanes ≡ r (mod m) sum
     * as those ≡ r plus those ≡ r + m (mod 2m), down to single lanes at m = L; the result is
     * the sum over r = 0, m = 1.
     */
    private static float halvesFolded(float[] lanes, int r, int m) {
        if (m == lanes.length) {
            return lanes[r];
        }
        return halvesFolded(lanes, r, 2 * m) + halvesFolded(lanes, r + m, 2 * m);
    }

    private static float inSequence(float[] lanes) {
        float s = 0f;
        for (float x : lanes) {
            s += x;
        }
        return s;
    }
}
