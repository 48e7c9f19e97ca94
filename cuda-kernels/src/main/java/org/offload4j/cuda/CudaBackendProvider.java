package org.offload4j.cuda;

import org.offload4j.core.Backend;
import org.offload4j.core.BackendProvider;
import org.offload4j.cuda.driver.CudaDriver;
import org.offload4j.cuda.driver.CudaDrivers;
import org.offload4j.cuda.driver.CudaException;

/**
 * Provides the CUDA backend. Each rung that fails declines with one sentence, so
 * {@code offload devices} says exactly what is missing: the driver library, a working driver,
 * a device, the compiled kernels, or kernels that this GPU can load.
 */
public final class CudaBackendProvider implements BackendProvider {
    /** The system property that picks the GPU by ordinal. */
    public static final String DEVICE_PROPERTY = "offload.cuda.device";

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Backend create() {
        CudaDriver driver = CudaDrivers.load();
        try {
            driver.init();
        } catch (CudaException e) {
            throw new UnsupportedOperationException("the CUDA driver did not initialise: " + e.getMessage(), e);
        }
        int count = driver.deviceGetCount();
        if (count == 0) {
            throw new UnsupportedOperationException("the CUDA driver reports no device");
        }
        int ordinal = deviceOrdinal();
        if (ordinal < 0 || ordinal >= count) {
            throw new UnsupportedOperationException("-D" + DEVICE_PROPERTY + "=" + ordinal + " but the driver has "
                    + count + " device(s), 0.." + (count - 1));
        }
        KernelImage.Result image = KernelImage.load();
        if (image.image().isEmpty()) {
            throw new UnsupportedOperationException(image.missingReason());
        }
        CudaDevice device;
        try {
            device = CudaDevice.open(driver, ordinal, image.image().get());
        } catch (CudaException e) {
            throw new UnsupportedOperationException("device " + ordinal + " could not load the kernels: "
                    + e.getMessage(), e);
        }
        try {
            return new CudaBackend(driver, device, image.image().get());
        } catch (RuntimeException | Error e) {
            device.close(); // e.g. an unknown -Doffload.cuda.w4a16 value: the module and the context were held
            throw e;
        }
    }

    /** {@code -Doffload.cuda.device}, 0 when unset; a value that is not an integer declines the backend (naming it). */
    private static int deviceOrdinal() {
        String raw = System.getProperty(DEVICE_PROPERTY);
        if (raw == null || raw.isBlank()) {
            return 0;
        }
        try {
            return Integer.parseInt(raw.trim());
        } catch (NumberFormatException e) {
            throw new UnsupportedOperationException("-D" + DEVICE_PROPERTY + "=" + raw + " is not a device ordinal");
        }
    }
}
