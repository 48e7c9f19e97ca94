package org.offload4j.tornado;

import org.offload4j.core.numerics.Fp8;
import uk.ac.manchester.tornado.api.math.TornadoMath;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;

/**
 * Number formats inside TornadoVM kernels, written so that TornadoVM's OpenCL and PTX code
 * generators accept them.
 *
 * <p><b>Why arithmetic, not bit casts.</b> TornadoVM 5.2's OpenCL and PTX back ends leave the
 * generic reinterpretation ({@code emitReinterpret}) unimplemented, and TornadoVM's own bf16/fp8
 * helpers avoid bit casts for its CUDA back end. On OpenCL here {@code Float.floatToRawIntBits}
 * compiled in an earlier test, but a Hadamard kernel with it (or with
 * {@code Float.intBitsToFloat}) failed with {@code emitReinterpret} unimplemented, so no kernel
 * depends on either. PoCL's CPU device has no {@code half}
 * type either, so bf16 and fp16 travel as raw 16-bit integers ({@code ShortArray}) and are
 * converted here with integer field extraction and a table of powers of two
 * ({@link #pow2Table()}: entry {@code i} is {@code 2^(i − 150)}, plus +∞ and NaN, uploaded once
 * per plan). FP8 e4m3 decodes through a 256-entry table ({@link #e4m3Table()}), built from the
 * project's own {@link Fp8} decoder.
 *
 * <p><b>Rounding.</b> {@link #encode16} rounds to nearest, ties to even, exactly as the
 * contract asks: the magnitude is scaled by powers of two (exact) so that the kept bits are the
 * integer part, and the fraction decides. Overflow becomes infinity, NaN a quiet NaN; −0 encodes
 * as +0 (the kernels never produce a signed zero that matters).
 *
 * <p>Helpers have a single return each (TornadoVM inlines them; early returns inside inlined
 * helpers are a known mis-lowering on some of its back ends).
 */
final class Codec {
    /** Format codes passed to kernels as an {@code int}. */
    static final int BF16 = 0;
    static final int FP16 = 1;

    /** {@code pow2[POW2_BIAS + e] = 2^e}. */
    static final int POW2_BIAS = 150;
    static final int POW2_SIZE = 281;
    /** Table entries holding +∞ and NaN: the OpenCL code generator cannot emit those constants ("NaNF"). */
    static final int INF = 279;
    static final int NAN = 280;

    private Codec() {}

    /** {@code 2^(i − 150)} for {@code i = 0 … 278} (entry 0 underflows to 0, entry 1 is the smallest subnormal), then +∞, NaN. */
    static FloatArray pow2Table() {
        FloatArray t = new FloatArray(POW2_SIZE);
        for (int i = 0; i < INF; i++) {
            t.set(i, Math.scalb(1.0f, i - POW2_BIAS));
        }
        t.set(INF, Float.POSITIVE_INFINITY);
        t.set(NAN, Float.NaN);
        return t;
    }

    /** The 256 e4m3fn values (NaN at 0x7F and 0xFF). */
    static FloatArray e4m3Table() {
        FloatArray t = new FloatArray(256);
        for (int i = 0; i < 256; i++) {
            t.set(i, Fp8.e4m3ToFloat((byte) i));
        }
        return t;
    }

    /** The float value of the 16-bit pattern {@code bits} (low 16 bits used) in format {@code fmt}. */
    static float decode16(int bits, int fmt, FloatArray pow2) {
        int b = bits & 0xFFFF;
        int sign = (b >> 15) & 1;
        float r;
        if (fmt == BF16) {
            int e = (b >> 7) & 0xFF;
            int m = b & 0x7F;
            if (e == 0) {
                r = m * pow2.get(POW2_BIAS - 133);
            } else if (e == 255) {
                r = m == 0 ? pow2.get(INF) : pow2.get(NAN);
            } else {
                r = (128 + m) * pow2.get(POW2_BIAS + e - 134);
            }
        } else {
            int e = (b >> 10) & 0x1F;
            int m = b & 0x3FF;
            if (e == 0) {
                r = m * pow2.get(POW2_BIAS - 24);
            } else if (e == 31) {
                r = m == 0 ? pow2.get(INF) : pow2.get(NAN);
            } else {
                r = (1024 + m) * pow2.get(POW2_BIAS + e - 25);
            }
        }
        return sign == 1 ? -r : r;
    }

    /**
     * {@code v} rounded to nearest-even in format {@code fmt}, as a 16-bit pattern in an int.
     *
     * <p>Straight-line code: the exponent comes from exact power-of-two scaling steps, every choice
     * is a select, no table. Rejected: {@code floor(log2 v)} corrected against {@link #pow2Table}
     * (with a binary search over the table for subnormal floats), the first version: on PoCL's CPU
     * device it cost about 24 ns per element (the library {@code log2} and the dependent table
     * loads do not vectorize), 80 % of the Hadamard op's time.
     */
    static int encode16(float v, int fmt) {
        boolean bf16 = fmt == BF16;
        int bias = bf16 ? 127 : 15;
        int infBits = bf16 ? 0x7F80 : 0x7C00;
        boolean nan = v != v;
        float mag = TornadoMath.abs(v);
        boolean overflow = mag > 3.4028235e38f;
        // A finite stand-in for the specials, so that no float-to-int conversion below sees one
        // (undefined in C); their patterns are chosen at the end.
        float a = nan || overflow ? 1.0f : mag;
        // t = a · 2^−e in [1, 2): down by 2^64 … 2^1 while t ≥ 2^s, then up by 2^64, 2^64, 2^32 … 2^1
        // while t < 2^(1−s) (two 64-steps: float subnormals reach 2^−149). Every step is exact.
        float t = a;
        int e = 0;
        boolean c = t >= 0x1p64f;
        t = c ? t * 0x1p-64f : t;
        e = c ? e + 64 : e;
        c = t >= 0x1p32f;
        t = c ? t * 0x1p-32f : t;
        e = c ? e + 32 : e;
        c = t >= 0x1p16f;
        t = c ? t * 0x1p-16f : t;
        e = c ? e + 16 : e;
        c = t >= 0x1p8f;
        t = c ? t * 0x1p-8f : t;
        e = c ? e + 8 : e;
        c = t >= 0x1p4f;
        t = c ? t * 0x1p-4f : t;
        e = c ? e + 4 : e;
        c = t >= 0x1p2f;
        t = c ? t * 0x1p-2f : t;
        e = c ? e + 2 : e;
        c = t >= 0x1p1f;
        t = c ? t * 0x1p-1f : t;
        e = c ? e + 1 : e;
        c = t < 0x1p-63f;
        t = c ? t * 0x1p64f : t;
        e = c ? e - 64 : e;
        c = t < 0x1p-63f;
        t = c ? t * 0x1p64f : t;
        e = c ? e - 64 : e;
        c = t < 0x1p-31f;
        t = c ? t * 0x1p32f : t;
        e = c ? e - 32 : e;
        c = t < 0x1p-15f;
        t = c ? t * 0x1p16f : t;
        e = c ? e - 16 : e;
        c = t < 0x1p-7f;
        t = c ? t * 0x1p8f : t;
        e = c ? e - 8 : e;
        c = t < 0x1p-3f;
        t = c ? t * 0x1p4f : t;
        e = c ? e - 4 : e;
        c = t < 0x1p-1f;
        t = c ? t * 0x1p2f : t;
        e = c ? e - 2 : e;
        c = t < 0x1p0f;
        t = c ? t * 0x1p1f : t;
        e = c ? e - 1 : e;
        // q's integer part is the pattern's significand field, with the implicit bit for normal
        // numbers (whose exponent field is then one less: a carry out of the significand lands in
        // the exponent by itself). Both products are exact.
        boolean subnormal = e < 1 - bias;
        float normalQ = bf16 ? t * 0x1p7f : t * 0x1p10f;
        float subnormalQ = bf16 ? a * 0x1p126f * 0x1p7f : a * 0x1p14f * 0x1p10f;
        float q = subnormal ? subnormalQ : normalQ;
        int base = subnormal ? 0 : (e + bias - 1) << (bf16 ? 7 : 10);
        int fl = (int) q;
        float fr = q - fl;
        int up = fr > 0.5f || (fr == 0.5f && (fl & 1) == 1) ? 1 : 0;
        int bits = Math.min(base + fl + up, infBits);
        bits = overflow ? infBits : bits;
        bits = a == 0.0f ? 0 : bits;
        int sign = v < 0.0f ? 0x8000 : 0;
        return nan ? (bf16 ? 0x7FC0 : 0x7E00) : sign | bits;
    }
}
