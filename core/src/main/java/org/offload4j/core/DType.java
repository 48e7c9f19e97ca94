package org.offload4j.core;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Element types of a {@link Tensor}.
 *
 * <p>{@link #INT4} is packed two per byte: element {@code i} of a row lives in byte
 * {@code i / 2}, in the low nibble when {@code i} is even and the high nibble when odd; values
 * are unsigned {@code 0..15}. (The GPTQ interchange tensors of the W4A16 op are {@link #INT32}
 * tensors holding eight nibbles each; see that op's format documentation.)
 */
public enum DType {
    FP32("fp32", 32, true),
    BF16("bf16", 16, true),
    FP16("fp16", 16, true),
    FP8_E4M3FN("fp8_e4m3", 8, true),
    FP8_E5M2("fp8_e5m2", 8, true),
    INT4("int4", 4, false),
    INT32("int32", 32, false);

    private final String shortName;
    private final int bits;
    private final boolean floatingPoint;

    DType(String shortName, int bits, boolean floatingPoint) {
        this.shortName = shortName;
        this.bits = bits;
        this.floatingPoint = floatingPoint;
    }

    /** The name used on the command line and in reports, e.g. {@code bf16}. */
    public String shortName() {
        return shortName;
    }

    public int bits() {
        return bits;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /**
     * Bytes needed for {@code elements} contiguous elements (INT4 rounds up to whole bytes).
     *
     * @throws ArithmeticException when the count of bits overflows a long (tensors never get there:
     *                             their construction checks their size)
     */
    public long byteSize(long elements) {
        return Math.addExact(Math.multiplyExact(elements, (long) bits), 7) / 8;
    }

    /** Parses a short name ({@code bf16}) or an enum name ({@code BF16}), case-insensitively. */
    public static DType parse(String name) {
        if (name == null) {
            throw new IllegalArgumentException("dtype must not be null; accepted: " + accepted());
        }
        for (DType t : values()) {
            if (t.shortName.equalsIgnoreCase(name) || t.name().equalsIgnoreCase(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("dtype '" + name + "' is unknown; accepted: " + accepted());
    }

    private static String accepted() {
        return Arrays.stream(values()).map(DType::shortName).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return shortName.toLowerCase(Locale.ROOT);
    }
}
