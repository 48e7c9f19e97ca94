package org.offload4j.cuda;

import java.util.HashMap;
import java.util.Map;
import org.offload4j.attention.AttentionKernel;
import org.offload4j.core.Floors;
import org.offload4j.cuda.hadamard.CudaHadamardKernel;
import org.offload4j.cuda.w4a16.CudaW4A16Kernels;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.w4a16.W4A16Kernel;
import org.offload4j.cuda.attention.CudaAttentionKernel;
import org.offload4j.cuda.moe.CudaMoeKernel;
import org.offload4j.moe.MoeKernel;

/** The CUDA backend's table: each op module's kernel interface and its CUDA implementation. */
final class CudaKernels {
    private CudaKernels() {
    }

    /**
     * The kernels of {@code device}. W4A16 (the op and MoE experts) runs on the tensor-core kernels
     * unless {@code -Doffload.cuda.w4a16=simple} ({@link CudaW4A16Kernels}); an unknown value of
     * that property throws {@link IllegalArgumentException}.
     */
    static Map<Class<?>, Object> forDevice(CudaDevice device, Floors floors) {
        CudaW4A16Kernels.Path w4a16 = CudaW4A16Kernels.configuredPath();
        Map<Class<?>, Object> kernels = new HashMap<>();
        kernels.put(Floors.class, floors);
        kernels.put(HadamardKernel.class, new CudaHadamardKernel(device));
        kernels.put(W4A16Kernel.class, CudaW4A16Kernels.forDevice(device, w4a16));
        kernels.put(AttentionKernel.class, new CudaAttentionKernel(device));
        kernels.put(MoeKernel.class, new CudaMoeKernel(device, w4a16 == CudaW4A16Kernels.Path.TC));
        return Map.copyOf(kernels);
    }
}
