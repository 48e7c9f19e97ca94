package org.offload4j.cuda;

import java.util.HashMap;
import java.util.Map;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.core.Floors;
import org.offload4j.cuda.attention.CudaAttentionKernel;
import org.offload4j.cuda.moe.CudaMoeKernel;
import org.offload4j.moe.MoeKernel;

/** The CUDA backend's table: each op module's kernel interface and its CUDA implementation. */
final class CudaKernels {
    private CudaKernels() {
    }

    static Map<Class<?>, Object> forDevice(CudaDevice device, Floors floors) {
        Map<Class<?>, Object> kernels = new HashMap<>();
        kernels.put(Floors.class, floors);
        kernels.put(AttentionKernel.class, new CudaAttentionKernel(device));
        kernels.put(MoeKernel.class, new CudaMoeKernel(device));
        return Map.copyOf(kernels);
    }
}
