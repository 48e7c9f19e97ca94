package org.offload4j.w4a16;

/**
 * A weight in a backend's own layout, made once by {@link W4A16Kernel#prepack} and used by every
 * {@link W4A16Kernel#matmul} on it. Users hold it through {@link W4A16.Prepared}.
 *
 * <p>Implementations must allow concurrent {@code matmul} calls on one packed weight, and must
 * free their memory (host or device) on {@link #close()}.
 */
public interface PackedWeight extends AutoCloseable {

    /** Rows of W (the reduction dimension). */
    int k();

    /** Columns of W. */
    int n();

    /** Rows per quantization group (k when there is one group per column). */
    int groupSize();

    /** Frees the backend's copy of the weight. Idempotent. */
    @Override
    void close();
}
