package org.offload4j.core.numerics;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An independent, deliberately slow model of the low-precision formats, for tests only.
 *
 * <p>It shares no code and no algorithm with the production converters. Decoding builds each
 * value as {@code ±significand · 2^exponent} on {@code double} (exact for every format here).
 * Rounding does not manipulate bits at all: it enumerates every finite value of the target
 * format once, sorts them, finds the two neighbours of {@code |x|} by binary search with exact
 * {@code double} comparisons, and compares {@code |x|} with their midpoint (a value with at
 * most 12 significant bits, so it is exact in {@code double}). A tie goes to the neighbour
 * whose encoding is even.
 *
 * <p><b>Overflow.</b> The value one step above the largest finite value, {@code max + ulp(max)},
 * is treated as a hypothetical neighbour with encoding {@code maxCode + 1}, as IEEE 754 rounds
 * "as if the exponent range were unbounded". If {@code |x|} rounds to it, or lies beyond it, the
 * result overflows and becomes what {@link Overflow} says. For the IEEE-like formats the tie at
 * {@code max + ulp/2} overflows (the hypothetical encoding is even); for E4M3FN it does not (448
 * is {@code 0x7E}, even), which is what CUDA's {@code __nv_cvt_double_to_fp8} does.
 *
 * <p><b>NaN.</b> fp8 follows CUDA's host path: a float NaN of either sign becomes {@code 0x7F}.
 * For bf16 and fp16 the sign and payload of a NaN result are not pinned, so {@link #round}
 * answers {@link #ANY_NAN} and callers check only that the result is a NaN encoding.
 */
public final class LowPrecisionOracle {

    /** What {@link #round} returns when any NaN encoding is an acceptable answer. */
    public static final int ANY_NAN = -1;

    /** What happens to magnitudes beyond the largest finite value after rounding. */
    public enum Overflow {
        /** IEEE: ±infinity (the only choice for bf16 and fp16). */
        INFINITY,
        /** CUDA {@code __NV_SATFINITE}: ±max finite. */
        SATURATE,
        /** CUDA {@code __NV_NOSAT}: ±infinity where the format has one (E5M2), else NaN {@code S.1111.111}. */
        NO_SATURATE
    }

    /**
     * A binary floating-point format of {@code 1 + expBits + mantBits} bits.
     *
     * @param name     for messages
     * @param expBits  exponent field width
     * @param mantBits stored mantissa width
     * @param ieee     true: all-ones exponent means infinity (mantissa 0) or NaN; false (the
     *                 OCP "FN" variant): no infinity, only all-ones exponent and mantissa is NaN
     */
    public record Format(String name, int expBits, int mantBits, boolean ieee) {
        public int bias() {
            return (1 << (expBits - 1)) - 1;
        }

        public int width() {
            return 1 + expBits + mantBits;
        }

        public int signMask() {
            return 1 << (width() - 1);
        }

        /** Number of bit patterns, {@code 2^width}. */
        public int patterns() {
            return 1 << width();
        }

        int maxExpField() {
            return (1 << expBits) - 1;
        }

        int mantMask() {
            return (1 << mantBits) - 1;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    public static final Format BF16 = new Format("bf16", 8, 7, true);
    public static final Format FP16 = new Format("fp16", 5, 10, true);
    public static final Format E4M3FN = new Format("e4m3fn", 4, 3, false);
    public static final Format E5M2 = new Format("e5m2", 5, 2, true);

    private static final LowPrecisionOracle ORACLE_BF16 = new LowPrecisionOracle(BF16);
    private static final LowPrecisionOracle ORACLE_FP16 = new LowPrecisionOracle(FP16);
    private static final LowPrecisionOracle ORACLE_E4M3 = new LowPrecisionOracle(E4M3FN);
    private static final LowPrecisionOracle ORACLE_E5M2 = new LowPrecisionOracle(E5M2);

    /** The (cached) oracle of one of the four formats above. */
    public static LowPrecisionOracle of(Format f) {
        if (f == BF16) {
            return ORACLE_BF16;
        } else if (f == FP16) {
            return ORACLE_FP16;
        } else if (f == E4M3FN) {
            return ORACLE_E4M3;
        } else if (f == E5M2) {
            return ORACLE_E5M2;
        }
        return new LowPrecisionOracle(f);
    }

    private final Format format;
    /** Every non-negative finite value, ascending, then {@code max + ulp(max)} as a sentinel. */
    private final double[] values;
    /** The encoding of {@code values[i]}; the sentinel gets {@code maxCode + 1}. */
    private final int[] codes;

    public LowPrecisionOracle(Format format) {
        this.format = format;
        record Entry(double value, int code) {}
        List<Entry> entries = new ArrayList<>();
        for (int code = 0; code < format.signMask(); code++) {
            double v = decode(code);
            if (Double.isFinite(v)) {
                entries.add(new Entry(v, code));
            }
        }
        entries.sort(Comparator.comparingDouble(Entry::value));
        int n = entries.size();
        values = new double[n + 1];
        codes = new int[n + 1];
        for (int i = 0; i < n; i++) {
            values[i] = entries.get(i).value();
            codes[i] = entries.get(i).code();
            if (i > 0 && !(values[i] > values[i - 1])) {
                throw new AssertionError(format + ": two encodings share the value " + values[i]);
            }
        }
        double max = values[n - 1];
        double maxUlp = max - values[n - 2]; // the top binade is never the subnormal one here
        values[n] = max + maxUlp;
        codes[n] = codes[n - 1] + 1;
    }

    public Format format() {
        return format;
    }

    /** Number of non-negative finite values (including +0). */
    public int finiteNonNegativeCount() {
        return values.length - 1;
    }

    /** The {@code i}-th smallest non-negative finite value ({@code 0 ≤ i < finiteNonNegativeCount()}). */
    public double value(int i) {
        return values[i];
    }

    /** The encoding of {@link #value(int) value(i)}; {@code i = finiteNonNegativeCount()} gives {@code maxCode + 1}. */
    public int code(int i) {
        return codes[i];
    }

    /** The largest finite value. */
    public double max() {
        return values[values.length - 2];
    }

    /** The encoding of {@link #max()}. */
    public int maxCode() {
        return codes[codes.length - 2];
    }

    /** {@code max + ulp(max)}: the first value that would come after the largest finite one. */
    public double beyondMax() {
        return values[values.length - 1];
    }

    /** The smallest positive (subnormal) value. */
    public double minSubnormal() {
        return values[1];
    }

    /** True when {@code bits} (low {@code width} bits) encodes a NaN. */
    public boolean isNaN(int bits) {
        int exp = (bits >>> format.mantBits()) & format.maxExpField();
        int mant = bits & format.mantMask();
        if (format.ieee()) {
            return exp == format.maxExpField() && mant != 0;
        }
        return exp == format.maxExpField() && mant == format.mantMask();
    }

    /** True when {@code bits} encodes ±infinity (never, for E4M3FN). */
    public boolean isInfinite(int bits) {
        int exp = (bits >>> format.mantBits()) & format.maxExpField();
        int mant = bits & format.mantMask();
        return format.ieee() && exp == format.maxExpField() && mant == 0;
    }

    /** The exact value of an encoding (low {@code width} bits used); NaN for NaN encodings. */
    public double decode(int bits) {
        bits &= format.patterns() - 1;
        boolean negative = (bits & format.signMask()) != 0;
        int exp = (bits >>> format.mantBits()) & format.maxExpField();
        int mant = bits & format.mantMask();
        double magnitude;
        if (isNaN(bits)) {
            return Double.NaN;
        } else if (isInfinite(bits)) {
            magnitude = Double.POSITIVE_INFINITY;
        } else if (exp == 0) {
            // subnormal: 0.mant · 2^(1 - bias)  =  mant · 2^(1 - bias - mantBits)
            magnitude = mant * Math.pow(2, 1 - format.bias() - format.mantBits());
        } else {
            // normal: 1.mant · 2^(exp - bias)  =  (2^mantBits + mant) · 2^(exp - bias - mantBits)
            magnitude = ((1 << format.mantBits()) + mant) * Math.pow(2, exp - format.bias() - format.mantBits());
        }
        return negative ? -magnitude : magnitude;
    }

    /** The encoding of ±infinity ({@code sign} is 0 or the sign mask); only for IEEE-like formats. */
    public int infinity(int sign) {
        if (!format.ieee()) {
            throw new IllegalStateException(format + " has no infinity");
        }
        return sign | (format.maxExpField() << format.mantBits());
    }

    /** The E4M3FN NaN with the given sign, {@code S.1111.111}. */
    private int fnNaN(int sign) {
        return sign | (format.patterns() / 2 - 1);
    }

    /**
     * The correctly rounded encoding of {@code x} (round to nearest, ties to the even encoding),
     * with overflow as {@code overflow} says; {@link #ANY_NAN} for a NaN input in the 16-bit
     * formats, {@code 0x7F} in fp8.
     */
    public int round(float x, Overflow overflow) {
        return round((double) x, overflow);
    }

    /** {@link #round(float, Overflow)} of a double: rounded once, from its exact value. */
    public int round(double x, Overflow overflow) {
        if (Double.isNaN(x)) {
            return format.width() == 8 ? 0x7F : ANY_NAN;
        }
        // The sign bit is taken from the bits, so -0.0 and negative underflow keep it.
        int sign = Double.doubleToRawLongBits(x) < 0 ? format.signMask() : 0;
        double ax = Math.abs(x);
        int n = values.length - 1; // index of the sentinel max + ulp(max)
        int index;
        if (ax > values[n]) {
            index = n;
        } else {
            index = nearestIndex(ax);
        }
        if (index < n) {
            return sign | codes[index];
        }
        return switch (overflow) {
            case INFINITY -> infinity(sign);
            case SATURATE -> sign | maxCode();
            case NO_SATURATE -> format.ieee() ? infinity(sign) : fnNaN(sign);
        };
    }

    /** Index into {@code values} of the nearest value to {@code ax ∈ [0, values[n]]}, ties to the even code. */
    private int nearestIndex(double ax) {
        // largest lo with values[lo] <= ax
        int lo = 0;
        int hi = values.length - 1;
        while (lo < hi) {
            int m = (lo + hi + 1) >>> 1;
            if (values[m] <= ax) {
                lo = m;
            } else {
                hi = m - 1;
            }
        }
        if (values[lo] == ax) {
            return lo;
        }
        int up = lo + 1;
        double mid = midpoint(lo);
        if (ax < mid) {
            return lo;
        } else if (ax > mid) {
            return up;
        }
        return (codes[lo] & 1) == 0 ? lo : up;
    }

    /**
     * The exact midpoint between {@code value(i)} and {@code value(i + 1)} ({@code i + 1} may be
     * the sentinel {@code max + ulp}). Exact because both have at most 11 significant bits and
     * differ by one unit in the last place of the larger binade.
     */
    public double midpoint(int i) {
        double mid = (values[i] + values[i + 1]) / 2;
        if (mid - values[i] != values[i + 1] - mid) {
            throw new AssertionError(format + ": midpoint of " + values[i] + " and " + values[i + 1] + " is not exact");
        }
        return mid;
    }

    /** The encoding rounding to nearest-even gives for an exact midpoint between {@code value(i)} and {@code value(i+1)}. */
    public int evenCodeOfPair(int i) {
        return (codes[i] & 1) == 0 ? codes[i] : codes[i + 1];
    }

    /** Formats an encoding for failure messages, e.g. {@code 0x7e (448.0)}. */
    public String describe(int bits) {
        if (bits == ANY_NAN) {
            return "any NaN";
        }
        int hexDigits = format.width() / 4;
        return String.format("0x%0" + hexDigits + "x (%s)", bits & (format.patterns() - 1), decode(bits));
    }

    /** Formats a float input for failure messages: value and raw bits. */
    public static String describeInput(float x) {
        return String.format("%s [0x%08x]", Float.toString(x), Float.floatToRawIntBits(x));
    }
}
