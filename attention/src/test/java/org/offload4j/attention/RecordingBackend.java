package org.offload4j.attention;

import java.util.List;
import java.util.Optional;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;

/** A backend whose attention kernel only records its calls: for testing the facade alone. */
final class RecordingBackend implements Backend {
    int calls;
    AttentionShape shape;
    boolean causal;
    float softmaxScale;
    boolean lseGiven;

    private final AttentionKernel kernel = new AttentionKernel() {
        @Override
        public void forward(AttentionShape s, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean c, float scale, Tensor out, Tensor lse) {
            calls++;
            shape = s;
            causal = c;
            softmaxScale = scale;
            lseGiven = lse != null;
        }
    };

    @Override
    public String name() {
        return "recording";
    }

    @Override
    public String description() {
        return "records attention calls, computes nothing";
    }

    @Override
    public List<Device> devices() {
        return List.of(Device.HOST);
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return kernelType == AttentionKernel.class ? Optional.of(kernelType.cast(kernel)) : Optional.empty();
    }
}
