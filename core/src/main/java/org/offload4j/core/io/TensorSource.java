package org.offload4j.core.io;

import java.util.List;
import org.offload4j.core.Tensor;

/**
 * Named tensors read from one or more files: a safetensors file ({@link SafeTensorsFile}), a
 * sharded checkpoint ({@link ShardedSafeTensors}) or a {@code .npy} array ({@link NpyFile}).
 * The data stays valid until the source is closed.
 */
public interface TensorSource extends AutoCloseable {

    /** Tensor names, in file order. */
    List<String> names();

    default boolean contains(String name) {
        return names().contains(name);
    }

    /**
     * The tensor {@code name}, a view of the file's bytes.
     *
     * @throws IllegalArgumentException naming the source and the tensors it has, when absent
     */
    TensorData data(String name);

    /** {@code data(name).view()}: a read-only tensor over the file's bytes. */
    default Tensor tensor(String name) {
        return data(name).view();
    }

    /** What the source was opened from, for messages. */
    String sourceName();

    /** Releases the mapping(s); every view taken from this source becomes unusable. */
    @Override
    void close();
}
