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
 * did compile, but the kernels should not depend on it. PoCL's CPU device has no {@code half}
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

    /** {@code v} rounded to nearest-even in format {@code fmt}, as a 16-bit pattern in an int. */
    static int encode16(float v, int fmt, FloatArray pow2) {
        int mbits = fmt == BF16 ? 7 : 10;
        int bias = fmt == BF16 ? 127 : 15;
        int infBits = fmt == BF16 ? 0x7F80 : 0x7C00;
        int result;
        if (v != v) {
            result = fmt == BF16 ? 0x7FC0 : 0x7E00;
        } else {
            int sign = v < 0.0f ? 1 : 0;
            float a = v < 0.0f ? -v : v;
            int mag;
            if (a == 0.0f) {
                mag = 0;
            } else if (a > 3.4028235e38f) {
                mag = infBits;
            } else {
                // e = floor(log2 a), as lo = the largest i in [1, 277] with pow2[i] <= a. For normal
                // floats: log2 gives it to within one, and one comparison each way corrects it (the
                // binary search over the table is nine dependent loads per element). For subnormal
                // floats, where a device may flush log2's input to zero: the search.
                int lo;
                if (a >= pow2.get(POW2_BIAS - 126)) {
                    int est = (int) TornadoMath.floor(TornadoMath.log2(a)) + POW2_BIAS;
                    est = est < POW2_BIAS - 126 ? POW2_BIAS - 126 : est > POW2_BIAS + 127 ? POW2_BIAS + 127 : est;
                    if (pow2.get(est) > a) {
                        est = est - 1;
                    } else if (est < POW2_BIAS + 127 && pow2.get(est + 1) <= a) {
                        est = est + 1;
                    }
                    lo = est;
                } else {
                    lo = 1;
                    int hi = 277;
                    for (int it = 0; it < 9; it++) {
                        int mid = (lo + hi + 1) >> 1;
                        if (pow2.get(mid) <= a) {
                            lo = mid;
                        } else {
                            hi = mid - 1;
                        }
                    }
                }
                int e = lo - POW2_BIAS;
                int minExp = 1 - bias;
                float q;
                int base;
                if (e < minExp) {
                    // Subnormal in the target: the pattern is round(a / 2^(minExp − mbits)).
                    q = a * pow2.get(POW2_BIAS - minExp) * pow2.get(POW2_BIAS + mbits);
                    base = 0;
                } else {
                    // q in [2^mbits, 2^(mbits+1)): pattern = ((e + bias − 1) << mbits) + round(q); a carry
                    // out of the significand lands in the exponent by itself.
                    q = a * pow2.get(POW2_BIAS - e) * pow2.get(POW2_BIAS + mbits);
                    base = (e + bias - 1) << mbits;
                }
                int fl = (int) q;
                float fr = q - fl;
                if (fr > 0.5f || (fr == 0.5f && (fl & 1) == 1)) {
                    fl = fl + 1;
                }
                mag = base + fl;
                if (mag > infBits) {
                    mag = infBits;
                }
            }
            result = (sign << 15) | mag;
        }
        return result;
    }
}
