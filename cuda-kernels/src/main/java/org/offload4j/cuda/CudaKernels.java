package org.offload4j.cuda;

import java.util.HashMap;
import java.util.Map;
import org.offload4j.core.Floors;

/** The CUDA backend's table: each op module's kernel interface and its CUDA implementation. */
final class CudaKernels {
    private CudaKernels() {
    }

    static Map<Class<?>, Object> forDevice(CudaDevice device, Floors floors) {
        Map<Class<?>, Object> kernels = new HashMap<>();
        kernels.put(Floors.class, floors);
        return Map.copyOf(kernels);
    }
}
