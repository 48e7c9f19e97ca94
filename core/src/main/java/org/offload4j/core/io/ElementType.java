package org.offload4j.core.io;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;
import org.offload4j.core.DType;

/**
 * The element types a tensor file can hold, named as safetensors names them. Types that a
 * {@link org.offload4j.core.Tensor} can hold map to a {@link DType} ({@link #dtype()}); the
 * others ({@link #F64}, {@link #I8}, {@link #U8}, {@link #I64}) are read and written as raw bytes
 * only ({@code offload run} rounds float64 inputs to the op's dtype).
 * Every type is little-endian.
 */
public enum ElementType {
    F32(4, DType.FP32, "<f4", 11),
    F16(2, DType.FP16, "<f2", 7),
    /** In {@code .npy} files stored as {@code <u2}: the raw bf16 bits (see {@link Npy}). */
    BF16(2, DType.BF16, "<u2", 8),
    F8_E4M3(1, DType.FP8_E4M3FN, null, 4),
    F8_E5M2(1, DType.FP8_E5M2, null, 3),
    I32(4, DType.INT32, "<i4", 9),
    I8(1, null, "|i1", 2),
    U8(1, null, "|u1", 1),
    I64(8, null, "<i8", 13),
    /** NumPy's default float type; no op takes it, so no {@link DType} holds it. */
    F64(8, null, "<f8", 12);

    private final int byteSize;
    private final DType dtype;
    private final String npyDescr;
    private final int writerRank;

    ElementType(int byteSize, DType dtype, String npyDescr, int writerRank) {
        this.byteSize = byteSize;
        this.dtype = dtype;
        this.npyDescr = npyDescr;
        this.writerRank = writerRank;
    }

    /**
     * The type's place in the reference implementation's {@code Dtype} enum (BOOL, U8, I8,
     * F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64: "increasing alignment
     * order"), by which its writer lays tensors out, highest first ({@link SafeTensors#write}).
     */
    int writerRank() {
        return writerRank;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The tensor dtype with the same bits, if offload4j's {@link DType} has one. */
    public Optional<DType> dtype() {
        return Optional.ofNullable(dtype);
    }

    /** The NumPy {@code descr} ({@code <f4}, …), or empty for the FP8 types, which NumPy lacks. */
    public Optional<String> npyDescr() {
        return Optional.ofNullable(npyDescr);
    }

    /** The element type of a tensor dtype; {@link DType#INT4} has none (pack it into INT32 first). */
    public static ElementType of(DType dtype) {
        for (ElementType t : values()) {
            if (t.dtype == dtype) {
                return t;
            }
        }
        throw new IllegalArgumentException("dtype " + dtype + " has no file element type; accepted: "
                + Arrays.stream(values()).map(t -> t.dtype).filter(d -> d != null).map(DType::toString)
                        .collect(Collectors.joining(", ")));
    }

    /** The type with this safetensors name ({@code F32}, {@code BF16}, …), or empty. */
    static Optional<ElementType> fromSafetensorsName(String name) {
        return Arrays.stream(values()).filter(t -> t.name().equals(name)).findFirst();
    }

    /**
     * The type with this NumPy descr, or empty ({@code <u2} is bf16 by this library's convention).
     * Byte order is meaningless for one-byte types: NumPy writes '|', but '<', '>', '=' and none
     * mean the same. For wider types '=' and no prefix mean the writer's native order, which
     * {@code np.load} reads as this machine's: little-endian here, as every type of this library.
     */
    static Optional<ElementType> fromNpyDescr(String descr) {
        char first = descr.isEmpty() ? ' ' : descr.charAt(0);
        boolean prefixed = "<>=|".indexOf(first) >= 0;
        String bare = prefixed ? descr.substring(1) : descr; // e.g. f4
        char order = prefixed ? first : '=';
        String d = bare.endsWith("1") ? "|" + bare
                : order == '=' && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? "<" + bare : order + bare;
        return Arrays.stream(values()).filter(t -> d.equals(t.npyDescr)).findFirst();
    }

    static String acceptedSafetensorsNames() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    static String acceptedNpyDescrs() {
        return Arrays.stream(values()).filter(t -> t.npyDescr != null).map(t -> t.npyDescr + " (" + t.name() + ")")
                .collect(Collectors.joining(", "));
    }
}
