package org.offload4j.cuda;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;
import org.offload4j.cuda.driver.CudaDriver;

/**
 * The CUDA backend: the ops as CUDA kernels on one GPU ({@code -Doffload.cuda.device=N},
 * default 0). Tensors may live on the host (staged through device memory on every call) or on
 * the device ({@link CudaDevice#allocateTensor}, no copies).
 */
public final class CudaBackend implements Backend {
    private final CudaDriver driver;
    private final CudaDevice device;
    private final KernelImage image;
    private final Map<Class<?>, Object> kernels;
    /** {@link #devices()}: read by the facades' argument checks on every call with a device tensor. */
    private final List<Device> devices;

    CudaBackend(CudaDriver driver, CudaDevice device, KernelImage image) {
        this.driver = driver;
        this.device = device;
        this.devices = List.of(device.asDevice());
        this.image = image;
        this.kernels = CudaKernels.forDevice(device, new CudaFloors(device));
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String description() {
        int v = driver.driverGetVersion();
        return device.name() + " (sm_" + device.computeCapability() + ", " + device.smCount() + " SMs, "
                + (device.totalMemory() >> 30) + " GiB), driver CUDA " + v / 1000 + "." + (v % 1000) / 10
                + ", " + driver.bindingName() + " binding, kernels " + image.architectures();
    }

    @Override
    public List<Device> devices() {
        return devices;
    }

    /** The GPU itself, for callers that manage device memory and streams. */
    public CudaDevice device() {
        return device;
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        if (kernelType == CudaDevice.class) {
            return Optional.of(kernelType.cast(device));
        }
        return Optional.ofNullable(kernels.get(kernelType)).map(kernelType::cast);
    }

}
