package org.offload4j.cuda.driver;

/**
 * A kernel's argument list for {@link CudaDriver#launchKernel}, filled in order and reused from
 * launch to launch so that a launch allocates nothing. Each argument occupies one 8-byte slot;
 * {@code cuLaunchKernel} reads as many bytes from a slot as the kernel's parameter has, so an
 * {@code int} or {@code float} lies in the slot's first four bytes (little-endian hosts).
 *
 * <p>Not thread-safe: one thread fills and launches it.
 */
public abstract class KernelParams {
    private final int capacity;
    private int count;

    protected KernelParams(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive, got " + capacity);
        }
        this.capacity = capacity;
    }

    /** Forgets the arguments; the next one added is the kernel's first. */
    public final KernelParams clear() {
        count = 0;
        return this;
    }

    /** A device pointer ({@code T*} in the kernel). */
    public final KernelParams pointer(long devicePointer) {
        writeLong(next(), devicePointer);
        return this;
    }

    /** An {@code int} or {@code unsigned}. */
    public final KernelParams i32(int value) {
        writeInt(next(), value);
        return this;
    }

    /** A {@code long long} or {@code size_t}. */
    public final KernelParams i64(long value) {
        writeLong(next(), value);
        return this;
    }

    /** A {@code float}. */
    public final KernelParams f32(float value) {
        writeInt(next(), Float.floatToRawIntBits(value));
        return this;
    }

    /** How many arguments have been added since {@link #clear()}. */
    public final int count() {
        return count;
    }

    public final int capacity() {
        return capacity;
    }

    private int next() {
        if (count == capacity) {
            throw new IllegalStateException("kernel parameter buffer is full (" + capacity + " arguments)");
        }
        return count++;
    }

    /** Stores {@code value} in the first four bytes of slot {@code slot}. */
    protected abstract void writeInt(int slot, int value);

    /** Stores {@code value} in slot {@code slot}. */
    protected abstract void writeLong(int slot, long value);
}
