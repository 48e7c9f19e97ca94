package org.offload4j.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * The kernel-side number formats, run as plain Java on the host (they are ordinary static
 * methods): every 16-bit pattern decodes as the project's own Bf16/Fp16 decoders do, and encoding
 * rounds exactly as Bf16/Fp16.fromFloat (nearest, ties to even) on random values, exact
 * midpoints, subnormals, the overflow boundary and specials. Compiled only with a TornadoVM SDK.
 */
@Tag("tornado")
class CodecTest {
    private static final FloatArray POW2 = Codec.pow2Table();

    @Test
    void decodesEveryPattern() {
        for (int b = 0; b < 65536; b++) {
            assertSame(Bf16.toFloat((short) b), Codec.decode16(b, Codec.BF16, POW2), "bf16 0x" + Integer.toHexString(b));
            assertSame(Fp16.toFloat((short) b), Codec.decode16((short) b, Codec.FP16, POW2), "fp16 0x" + Integer.toHexString(b));
        }
    }

    @Test
    void encodesLikeTheHostRounding() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < 200_000; i++) {
            float v = switch (i % 4) {
                case 0 -> Float.intBitsToFloat(rnd.nextInt());                           // any pattern
                case 1 -> (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(-30, 30))); // ordinary values
                case 2 -> Float.intBitsToFloat((rnd.nextInt() & 0xFFFF0000) | 0x8000);   // bf16 midpoints
                default -> Float.intBitsToFloat((rnd.nextInt(0x387FFFFF, 0x477FFFFF) & ~0x1FFF) | 0x1000); // fp16 midpoints
            };
            check(v);
        }
        for (float v : new float[] {0f, Float.MIN_VALUE, Float.MIN_NORMAL, 65504f, 65519.99f, 65520f, Float.MAX_VALUE,
            3.3961775e38f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 5.96e-8f, 2.98e-8f, 6.1e-5f, 1e-40f}) {
            check(v);
            check(-v);
        }
        assertTrue(Float.isNaN(Bf16.toFloat((short) Codec.encode16(Float.NaN, Codec.BF16))));
        assertTrue(Float.isNaN(Fp16.toFloat((short) Codec.encode16(Float.NaN, Codec.FP16))));
    }

    private static void check(float v) {
        if (Float.isNaN(v)) {
            return;
        }
        // −0 encodes as +0 (documented): compare values, not bits, at zero.
        assertSame(Bf16.toFloat(Bf16.fromFloat(v)), Bf16.toFloat((short) Codec.encode16(v, Codec.BF16)), "bf16 of " + v);
        assertSame(Fp16.toFloat(Fp16.fromFloat(v)), Fp16.toFloat((short) Codec.encode16(v, Codec.FP16)), "fp16 of " + v);
    }

    private static void assertSame(float want, float got, String what) {
        if (Float.isNaN(want)) {
            assertTrue(Float.isNaN(got), what + ": want NaN, got " + got);
        } else if (want == 0f) {
            assertEquals(0f, got, 0f, what);
        } else {
            assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got), what + ": want " + want + ", got " + got);
        }
    }
}
