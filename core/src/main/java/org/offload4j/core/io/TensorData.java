package org.offload4j.core.io;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.offload4j.core.Args;
import org.offload4j.core.Tensor;

/**
 * One tensor as a file stores it: element type, shape (row-major, C order) and the raw
 * little-endian bytes. Read from a file, {@code bytes} is a read-only view of the mapping and
 * lives as long as the file object it came from; nothing is copied.
 *
 * @param type  element type
 * @param shape dimensions, each ≥ 0; rank 0 (a scalar) is allowed
 * @param bytes exactly {@code elementCount() · type.byteSize()} bytes
 */
public record TensorData(ElementType type, long[] shape, MemorySegment bytes) {

    public TensorData {
        Args.notNull(type, "type");
        Args.notNull(shape, "shape");
        Args.notNull(bytes, "bytes");
        shape = shape.clone();
        long elements = elementCount(shape);
        if (elements > Long.MAX_VALUE / type.byteSize()) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + type + " needs more than 2^63 bytes");
        }
        long expected = elements * type.byteSize();
        Args.require(bytes.byteSize() == expected, "bytes holds " + bytes.byteSize() + " bytes; shape "
                + Arrays.toString(shape) + " of " + type + " needs " + expected);
    }

    /**
     * The bytes of {@code t} (contiguous: a view; strided: a copy of its rows on the heap).
     *
     * @throws IllegalArgumentException for {@link org.offload4j.core.DType#INT4}, which files do not hold
     */
    public static TensorData of(Tensor t) {
        Args.live(t, "t");
        ElementType type = ElementType.of(t.dtype());
        long rowBytes = t.cols() * type.byteSize();
        if (t.isContiguous() || t.elementCount() == 0) {
            return new TensorData(type, t.shape(), t.segment().asSlice(0, t.rows() * rowBytes));
        }
        long bytes = t.rows() * rowBytes; // the tensor exists, so this fits in a long
        if (bytes > Tensor.MAX_ARRAY_ELEMENTS) {
            throw new IllegalArgumentException("t (" + t.describe() + ") is strided and holds " + bytes + " bytes; a strided "
                    + "tensor is copied into one Java array, at most " + Tensor.MAX_ARRAY_ELEMENTS + " bytes: make it "
                    + "contiguous first");
        }
        MemorySegment copy = MemorySegment.ofArray(new byte[(int) bytes]);
        for (long r = 0; r < t.rows(); r++) {
            MemorySegment.copy(t.segment(), t.rowByteOffset(r), copy, r * rowBytes, rowBytes);
        }
        return new TensorData(type, t.shape(), copy);
    }

    /** Product of the dimensions (1 for a scalar), failing on overflow. */
    public static long elementCount(long[] shape) {
        boolean empty = false;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has a negative dimension");
            }
            empty |= d == 0;
        }
        if (empty) {
            return 0; // before the product, which may overflow on the other dimensions
        }
        long n = 1;
        for (long d : shape) {
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^63 elements");
            }
        }
        return n;
    }

    public long elementCount() {
        return elementCount(shape);
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /**
     * A {@link Tensor} over these bytes (no copy; read-only when they come from a file). A scalar
     * becomes shape {@code [1]}, since tensors have rank ≥ 1.
     *
     * @throws IllegalArgumentException for types without a {@link org.offload4j.core.DType} (I8, U8, I64)
     */
    public Tensor view() {
        return Tensor.wrap(bytes, dtypeOrThrow(), tensorShape());
    }

    /** A new contiguous, aligned, writable tensor holding a copy of these bytes; the caller closes it. */
    public Tensor copy() {
        Tensor t = Tensor.allocate(dtypeOrThrow(), tensorShape());
        try {
            MemorySegment.copy(bytes, 0, t.segment(), 0, bytes.byteSize());
            return t;
        } catch (RuntimeException | Error e) {
            t.close(); // the source file was closed: free the new memory
            throw e;
        }
    }

    private org.offload4j.core.DType dtypeOrThrow() {
        return type.dtype().orElseThrow(() -> new IllegalArgumentException("element type " + type
                + " has no tensor dtype; read its bytes() instead"));
    }

    /** The shape a {@link Tensor} of this data has: the file's shape, a rank-0 one as {@code [1]}. */
    public long[] tensorShape() {
        return shape.length == 0 ? new long[] {1} : shape.clone();
    }

    /** E.g. {@code BF16[4, 128]}. */
    public String describe() {
        return type + Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorData d && d.type == type && Arrays.equals(d.shape, shape)
                && d.bytes.byteSize() == bytes.byteSize() && d.bytes.mismatch(bytes) == -1;
    }

    @Override
    public int hashCode() {
        return type.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return "TensorData " + describe();
    }
}
