package org.offload4j.cuda;

import java.util.List;
import java.util.Optional;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;

/**
 * Test support: a backend that hands out one given kernel (e.g. a {@code TcW4A16Kernel} or a
 * {@code CudaW4A16Kernel} whatever {@code -Doffload.cuda.w4a16} says), so a facade can be created
 * over exactly that implementation.
 */
public record OneKernelBackend(String name, Device device, Class<?> type, Object kernel) implements Backend {
    @Override
    public String description() {
        return name + " (" + kernel + ")";
    }

    @Override
    public List<Device> devices() {
        return List.of(device);
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return kernelType == type ? Optional.of(kernelType.cast(kernel)) : Optional.empty();
    }
}
