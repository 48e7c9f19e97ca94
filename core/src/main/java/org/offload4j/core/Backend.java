package org.offload4j.core;

import java.util.List;
import java.util.Optional;

/**
 * An implementation tier (CPU, CUDA, …) that runs some or all ops.
 *
 * <p>Backends are created by a {@link BackendProvider} found through {@link java.util.ServiceLoader}
 * and selected by {@link Backends}. Each op module defines its own kernel interface (for example
 * {@code HadamardKernel}); a backend hands out its implementation through {@link #kernels}. The op
 * facade validates every argument first, so kernels may assume valid input.
 */
public interface Backend {

    /** The short name used by {@code -Doffload.backend=…} ({@code cpu}, {@code cuda}). */
    String name();

    /** One line: what runs the work (CPU model and vector width, GPU name and capability). */
    String description();

    /**
     * The devices this backend drives. The facades pass a tensor on one of them to the backend's
     * kernels as it is ({@link Args#reachable}); a tensor on any other device that is not
     * host-addressable is refused. (TornadoVM lists its OpenCL or PTX device here too, though its
     * kernels take host tensors only: nothing in the library makes a tensor on that device.)
     */
    List<Device> devices();

    /** The backend's implementation of an op's kernel interface, or empty if it lacks that op. */
    <K> Optional<K> kernels(Class<K> kernelType);
}
