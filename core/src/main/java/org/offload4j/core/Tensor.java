package org.offload4j.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.stream.Collectors;
import org.offload4j.core.numerics.Bf16;
import org.offload4j.core.numerics.Fp16;
import org.offload4j.core.numerics.Fp8;
import org.offload4j.core.numerics.Fp8Overflow;

/**
 * An n-dimensional array of one {@link DType}, stored as rows over a {@link MemorySegment}.
 *
 * <p><b>Layout.</b> A tensor of shape {@code [d0, …, dr-1]} is viewed as a matrix of
 * {@code rows() = d0·…·dr-2} rows and {@code cols() = dr-1} columns (a rank-1 tensor is one
 * row). Row {@code i} starts {@code i · rowStride()} elements after the first; within a row the
 * elements are contiguous. {@code rowStride() ≥ cols()}; it equals {@code cols()} for tensors
 * made by {@link #allocate}. For {@link DType#INT4} with more than one row the row stride must be
 * even, so that every row starts on a byte.
 *
 * <p><b>Lifetime.</b> A tensor is tied to an {@link Arena}: {@link #allocate(DType, long...)}
 * gives it its own (shared) arena, freed by {@link #close()}; {@link #allocate(Arena, DType,
 * long...)} and {@link #wrap}/{@link #wrapStrided} use the caller's, which frees the memory when it is closed
 * ({@link #close()} then only marks this view unusable). Any use after close throws
 * {@link IllegalStateException}; nothing reads freed memory.
 *
 * <p>Element accessors ({@link #getFloat}, {@link #setFloat}) are conveniences for tests and
 * set-up; kernels work on {@link #segment()} directly.
 */
public final class Tensor implements AutoCloseable {
    /** Host tensors are aligned for the widest vector loads (AVX-512) and cache lines. */
    public static final long ALIGNMENT = 64;

    private final MemorySegment segment;
    private final DType dtype;
    private final long[] shape;
    private final long rows;
    private final long cols;
    private final long rowStride;
    private final Device device;
    private final Arena ownedArena;
    private volatile boolean closed;

    private Tensor(MemorySegment segment, DType dtype, long[] shape, long rowStride, Device device, Arena ownedArena) {
        this.segment = segment;
        this.dtype = dtype;
        this.shape = shape;
        this.cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        long r = 1;
        for (int i = 0; i < shape.length - 1; i++) {
            r = Math.multiplyExact(r, shape[i]);
        }
        this.rows = r;
        this.rowStride = rowStride;
        this.device = device;
        this.ownedArena = ownedArena;
    }

    /**
     * A new zero-filled, contiguous host tensor with its own arena; {@link #close()} frees it.
     * The arena is shared (every thread may use the tensor), and closing a shared arena waits on a
     * handshake with every Java thread: allocating and freeing took 17–60 µs on a 2-vCPU VM, so
     * keep tensors across calls rather than allocating per call ({@link Workspace} is how the op
     * facades get their own temporaries).
     */
    public static Tensor allocate(DType dtype, long... shape) {
        Arena arena = Arena.ofShared();
        try {
            return allocateIn(arena, arena, dtype, shape);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** A new zero-filled, contiguous host tensor in the caller's arena, freed when that closes. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        if (arena == null) {
            throw new IllegalArgumentException("arena must not be null");
        }
        return allocateIn(arena, null, dtype, shape);
    }

    private static Tensor allocateIn(Arena arena, Arena owned, DType dtype, long[] shape) {
        long[] s = checkShape(dtype, shape);
        long elements = elementCount(s);
        MemorySegment seg = arena.allocate(Math.max(1, dtype.byteSize(elements)), ALIGNMENT);
        return new Tensor(seg, dtype, s, s.length == 0 ? 1 : s[s.length - 1], Device.HOST, owned);
    }

    /**
     * A tensor over existing host memory (not copied), with the given row stride in elements.
     * The segment must hold {@code (rows − 1) · rowStride + cols} elements.
     */
    public static Tensor wrapStrided(MemorySegment segment, DType dtype, long rowStride, long... shape) {
        if (segment == null) {
            throw new IllegalArgumentException("segment must not be null");
        }
        long[] s = checkShape(dtype, shape);
        long cols = s.length == 0 ? 1 : s[s.length - 1];
        if (rowStride < cols) {
            throw new IllegalArgumentException("rowStride = " + rowStride + " must be ≥ cols = " + cols);
        }
        long rows = elementCount(s) / Math.max(1, cols);
        if (dtype == DType.INT4 && rowStride % 2 != 0 && rows > 1) {
            throw new IllegalArgumentException("rowStride = " + rowStride + " must be even for int4 (rows start on a byte)");
        }
        long needed;
        try {
            // Exact: an overflow here would let rows alias each other (and rowByteOffset wrap) unnoticed.
            needed = rows == 0 || cols == 0 ? 0 : dtype.byteSize(Math.addExact(Math.multiplyExact(rows - 1, rowStride), cols));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(s) + " of " + dtype + " with rowStride " + rowStride
                    + " spans more bytes than a long can count");
        }
        if (segment.byteSize() < needed) {
            throw new IllegalArgumentException("segment holds " + segment.byteSize() + " bytes; shape "
                    + Arrays.toString(s) + " of " + dtype + " with rowStride " + rowStride + " needs " + needed);
        }
        return new Tensor(segment, dtype, s, rowStride, Device.HOST, null);
    }

    /**
     * A tensor in a device's own memory (a GPU's, say), which Java cannot read: {@code segment}
     * carries only the address range (for the overlap checks) and the lifetime; the element
     * accessors throw. Backends make these; users get them from a backend's allocation call.
     *
     * @param ownedArena an arena that {@link #close()} closes (freeing the memory through the
     *                   segment's cleanup action), or {@code null} when the caller owns it
     * @param segment    the device address range, at least {@code (rows − 1) · rowStride + cols}
     *                   elements
     * @param device     a device whose memory is not host-addressable
     */
    public static Tensor wrapDevice(Arena ownedArena, MemorySegment segment, Device device, DType dtype, long rowStride,
                                    long... shape) {
        if (device == null || device.hostAddressable()) {
            throw new IllegalArgumentException("device must be a non-host-addressable device, got " + device);
        }
        Tensor view = wrapStrided(segment, dtype, rowStride, shape);
        return new Tensor(segment, dtype, view.shape, rowStride, device, ownedArena);
    }

    /** A contiguous tensor over existing host memory. */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... shape) {
        long[] s = checkShape(dtype, shape);
        return wrapStrided(segment, dtype, s.length == 0 ? 1 : s[s.length - 1], s);
    }

    /** A new host tensor holding {@code values} (row-major), each rounded to {@code dtype}. */
    public static Tensor of(DType dtype, float[] values, long... shape) {
        if (values == null) {
            throw new IllegalArgumentException("values must not be null");
        }
        Tensor t = allocate(dtype, shape);
        try {
            if (values.length != t.elementCount()) {
                throw new IllegalArgumentException("values has " + values.length + " elements; shape "
                        + Arrays.toString(shape) + " has " + elementCount(shape));
            }
            t.copyFrom(values);
            return t;
        } catch (RuntimeException | Error e) {
            t.close(); // a value the dtype cannot hold (int4 outside 0..15): free the new memory
            throw e;
        }
    }

    private static long[] checkShape(DType dtype, long[] shape) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype must not be null");
        }
        if (shape == null || shape.length == 0) {
            throw new IllegalArgumentException("shape must have at least one dimension");
        }
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has a negative dimension " + i);
            }
        }
        long[] s = shape.clone();
        try {
            dtype.byteSize(elementCount(s));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(s) + " of " + dtype + " is too large: its size in bytes"
                    + " overflows a long");
        }
        if (dtype == DType.INT4 && s[s.length - 1] % 2 != 0 && elementCount(s) != s[s.length - 1]) {
            throw new IllegalArgumentException("int4 tensors with more than one row need an even last dimension, got "
                    + Arrays.toString(s));
        }
        return s;
    }

    private static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return device;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Dimension {@code i}; negative {@code i} counts from the end ({@code -1} is the last). */
    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long rows() {
        return rows;
    }

    public long cols() {
        return cols;
    }

    /** Elements between the starts of consecutive rows. */
    public long rowStride() {
        return rowStride;
    }

    public long elementCount() {
        return rows * cols;
    }

    public boolean isContiguous() {
        return rowStride == cols || rows <= 1;
    }

    /** Byte offset of row {@code row} within {@link #segment()}. */
    public long rowByteOffset(long row) {
        return dtype.byteSize(row * rowStride);
    }

    /** The bytes of the tensor (rows, and the gaps between them when strided). */
    public MemorySegment segment() {
        ensureOpen();
        if (!device.hostAddressable()) {
            // A device address dereferenced on the host would crash the JVM: refuse instead.
            throw new IllegalStateException("tensor " + describe() + " lives in " + device
                    + " memory, which Java and CPU kernels cannot read; use deviceAddress() in that device's backend,"
                    + " or copy it to a host tensor");
        }
        return segment;
    }

    /**
     * The address of the first element: for a device tensor, the device pointer its backend's
     * kernels take; for a host tensor, the native address of {@link #segment()} (0-based offset
     * for heap memory).
     */
    public long deviceAddress() {
        ensureOpen();
        return segment.address();
    }

    /** True when the memory cannot be written (a read-only mapping or segment). */
    public boolean isReadOnly() {
        return segment.isReadOnly();
    }

    /** False once {@link #close()} ran or the arena behind the tensor closed. */
    public boolean isAlive() {
        return !closed && segment.scope().isAlive();
    }

    /**
     * True when the two tensors may share a byte of their elements. Exact for contiguous tensors,
     * single rows, and strided tensors with the same byte stride (rows in each other's gaps share
     * nothing); strided tensors with different strides are judged by their spans, so they may be
     * reported as overlapping when their rows only interleave.
     */
    public boolean overlaps(Tensor other) {
        OptionalLong start = startOffset(other);
        if (start.isEmpty()) {
            return false; // different memory: another array, or heap against native
        }
        // The bytes the tensors use, not their whole segments: disjoint views of one buffer must not clash.
        long aBytes = spanBytes();
        long bBytes = other.spanBytes();
        if (aBytes == 0 || bBytes == 0) {
            return false; // an empty tensor has no byte to share
        }
        long delta = start.getAsLong(); // other's first byte, from this one's
        return delta < aBytes && -delta < bBytes && !rowsInterleave(other, delta);
    }

    /**
     * Where {@code other}'s first byte lies relative to this tensor's, when both are in the same
     * memory (native memory, or one Java array); empty when they cannot share a byte. A heap
     * segment's {@code address()} is an offset within its array, so arrays are told apart by
     * {@code heapBase()}; but a read-only heap segment hides its array there (its
     * {@code heapBase()} is empty), and comparing its offset as an address once let a read-only
     * input and a writable output on one array pass as disjoint: then the JDK's overlap test decides.
     */
    private OptionalLong startOffset(Tensor other) {
        MemorySegment a = segment;
        MemorySegment b = other.segment;
        if (a.isNative() != b.isNative()) {
            return OptionalLong.empty();
        }
        if (a.isNative()) {
            return OptionalLong.of(b.address() - a.address());
        }
        Optional<Object> aBase = a.heapBase();
        Optional<Object> bBase = b.heapBase();
        if (aBase.isPresent() && bBase.isPresent()) {
            return aBase.get() == bBase.get() ? OptionalLong.of(b.address() - a.address()) : OptionalLong.empty();
        }
        // Both on one array exactly when their segments share a byte (the JDK compares the arrays);
        // segments that share none hold tensors that share none either.
        return a.asOverlappingSlice(b).isPresent() ? OptionalLong.of(b.address() - a.address()) : OptionalLong.empty();
    }

    /**
     * The bytes the rows span, from the first element to just past the last, gaps between strided
     * rows included ({@code 0} when empty): what a copy of the whole span moves.
     */
    public long spanBytes() {
        return rows == 0 || cols == 0 ? 0 : dtype.byteSize((rows - 1) * rowStride + cols);
    }

    /**
     * True when both tensors' rows repeat with the same byte stride and every row of {@code other}
     * ({@code delta} bytes after this one's start) falls in the gaps between this one's rows: their
     * spans overlap, yet they share no byte. Seen modulo the stride, this one's rows cover
     * {@code [0, rowBytes)} and the other's {@code [r, r + otherRowBytes)}.
     */
    private boolean rowsInterleave(Tensor other, long delta) {
        // A single row repeats with any stride: take the other tensor's (one row each: the spans were exact).
        long stride = rows > 1 ? dtype.byteSize(rowStride) : other.rows > 1 ? other.dtype.byteSize(other.rowStride) : 0;
        long otherStride = other.rows > 1 ? other.dtype.byteSize(other.rowStride) : stride;
        if (stride == 0 || stride != otherStride) {
            return false;
        }
        long r = Math.floorMod(delta, stride);
        return dtype.byteSize(cols) <= r && r + other.dtype.byteSize(other.cols) <= stride;
    }

    /**
     * True when both tensors view exactly the same bytes with the same layout: the same first
     * byte, dtype, rows and columns, and row stride (which a single row does not have); their
     * segments may differ in length.
     */
    public boolean sameStorage(Tensor other) {
        OptionalLong start = startOffset(other);
        return start.isPresent() && start.getAsLong() == 0
                && dtype == other.dtype && rows == other.rows && cols == other.cols
                && (rowStride == other.rowStride || rows <= 1);
    }

    /** Element ({@code row}, {@code col}) as a float (int types: their integer value). */
    public float getFloat(long row, long col) {
        long i = index(row, col);
        return switch (dtype) {
            case FP32 -> segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            case BF16 -> Bf16.toFloat(segment.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            case FP16 -> Fp16.toFloat(segment.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            case FP8_E4M3FN -> Fp8.e4m3ToFloat(segment.get(ValueLayout.JAVA_BYTE, i));
            case FP8_E5M2 -> Fp8.e5m2ToFloat(segment.get(ValueLayout.JAVA_BYTE, i));
            case INT4, INT32 -> getInt(row, col);
        };
    }

    /**
     * Stores {@code value} at ({@code row}, {@code col}), rounded to nearest-even for the
     * floating-point types (FP8 saturating); int types take {@code (int) value}.
     */
    public void setFloat(long row, long col, float value) {
        long i = index(row, col);
        switch (dtype) {
            case FP32 -> segment.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, value);
            case BF16 -> segment.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Bf16.fromFloat(value));
            case FP16 -> segment.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Fp16.fromFloat(value));
            case FP8_E4M3FN -> segment.set(ValueLayout.JAVA_BYTE, i, Fp8.floatToE4m3(value, Fp8Overflow.SATURATE));
            case FP8_E5M2 -> segment.set(ValueLayout.JAVA_BYTE, i, Fp8.floatToE5m2(value, Fp8Overflow.SATURATE));
            case INT4, INT32 -> setInt(row, col, (int) value);
        }
    }

    /** Element ({@code row}, {@code col}) of an INT32 or INT4 tensor. */
    public int getInt(long row, long col) {
        long i = index(row, col);
        return switch (dtype) {
            case INT32 -> segment.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            case INT4 -> (segment.get(ValueLayout.JAVA_BYTE, i >>> 1) >>> ((i & 1) * 4)) & 0xF;
            default -> throw new IllegalStateException("getInt on a " + dtype + " tensor");
        };
    }

    /** Stores an INT32 value, or an INT4 value in {@code 0..15}. */
    public void setInt(long row, long col, int value) {
        long i = index(row, col);
        switch (dtype) {
            case INT32 -> segment.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, value);
            case INT4 -> {
                if (value < 0 || value > 15) {
                    throw new IllegalArgumentException("int4 value " + value + " is outside 0..15");
                }
                int shift = (int) (i & 1) * 4;
                byte old = segment.get(ValueLayout.JAVA_BYTE, i >>> 1);
                segment.set(ValueLayout.JAVA_BYTE, i >>> 1, (byte) ((old & ~(0xF << shift)) | (value << shift)));
            }
            default -> throw new IllegalStateException("setInt on a " + dtype + " tensor");
        }
    }

    /**
     * The most elements {@link #toFloatArray} and {@link #toDoubleArray} copy out:
     * {@code Integer.MAX_VALUE − 8}, the length the JDK's own growable arrays stop at (the VM's
     * hard limit is a few elements higher and differs between VMs; past it an allocation fails
     * with an {@code OutOfMemoryError}, past {@code Integer.MAX_VALUE} the count does not fit an
     * {@code int}).
     */
    public static final int MAX_ARRAY_ELEMENTS = Integer.MAX_VALUE - 8;

    /**
     * The elements in row-major order, widened exactly to float.
     *
     * @throws IllegalStateException when the tensor has more than {@link #MAX_ARRAY_ELEMENTS} elements
     */
    public float[] toFloatArray() {
        long count = elementCount();
        if (count > MAX_ARRAY_ELEMENTS) {
            throw new IllegalStateException("this " + dtype + " tensor of shape " + Arrays.toString(shape) + " has " + count
                    + " elements; a Java array holds at most " + MAX_ARRAY_ELEMENTS + " (read it row by row with getFloat)");
        }
        float[] out = new float[(int) count];
        if (count == 0) {
            return out; // rows may still be huge ([2^40, 0]): no loop over them
        }
        int k = 0;
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                out[k++] = getFloat(r, c);
            }
        }
        return out;
    }

    /**
     * The elements in row-major order as doubles (exact).
     *
     * @throws IllegalStateException when the tensor has more than {@link #MAX_ARRAY_ELEMENTS} elements
     */
    public double[] toDoubleArray() {
        float[] f = toFloatArray();
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i];
        }
        return out;
    }

    /** Stores {@code values} (row-major, one per element) as {@link #setFloat} does. */
    public void copyFrom(float[] values) {
        if (values.length != elementCount()) {
            throw new IllegalArgumentException("values has " + values.length + " elements; tensor has " + elementCount());
        }
        if (values.length == 0) {
            return;
        }
        int k = 0;
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                setFloat(r, c, values[k++]);
            }
        }
    }

    private long index(long row, long col) {
        ensureOpen();
        if (!device.hostAddressable()) {
            throw new IllegalStateException("tensor " + describe() + " lives in " + device
                    + " memory, which Java cannot read; copy it to a host tensor first");
        }
        if (row < 0 || row >= rows || col < 0 || col >= cols) {
            throw new IndexOutOfBoundsException("(" + row + ", " + col + ") outside [" + rows + ", " + cols + "]");
        }
        return row * rowStride + col;
    }

    private void ensureOpen() {
        if (!isAlive()) {
            throw new IllegalStateException("tensor " + describe() + " is closed");
        }
    }

    /**
     * Frees the memory if this tensor owns its arena; afterwards every use throws. Idempotent and
     * safe to call from several threads. When the arena cannot close (it is acquired, e.g. by a
     * native call that holds one of its segments), the exception propagates and the tensor stays
     * open, so a later close can still free it; when the arena closed but a cleanup action failed,
     * the tensor is closed and the exception propagates.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        try {
            if (ownedArena != null && ownedArena.scope().isAlive()) {
                ownedArena.close();
            }
        } finally {
            closed = ownedArena == null || !ownedArena.scope().isAlive();
        }
    }

    /** E.g. {@code bf16[4, 128]@host}. */
    public String describe() {
        return dtype + Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", ", "[", "]"))
                + (rowStride != cols && rows > 1 ? " stride " + rowStride : "") + "@" + device.backend();
    }

    @Override
    public String toString() {
        return "Tensor " + describe() + (isAlive() ? "" : " (closed)");
    }
}
