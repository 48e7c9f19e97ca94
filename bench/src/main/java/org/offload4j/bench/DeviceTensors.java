package org.offload4j.bench;

import java.util.ArrayList;
import java.util.List;
import org.offload4j.core.Backend;
import org.offload4j.core.Tensor;
import org.offload4j.cuda.CudaDevice;

/**
 * A case's tensors where its backend computes. The CUDA backend exposes its GPU
 * ({@code kernels(CudaDevice.class)}): there each input is copied to device memory once and each
 * output lives there, so the timed runs move nothing over PCIe (a host tensor would be staged
 * through device memory on every call, and the copies would be what is timed). Elsewhere the host
 * tensors are used as they are and every method here is a no-op.
 *
 * <p>Used by the Hadamard and W4A16 cases, by attention's FP8 cases (codes, scales and
 * output; its bf16 cases stay on the host, where the bf16 entry points quantize them), and by the
 * MoE cases (router, bf16 experts, x and out; int4 experts stay host tensors, as their contract
 * says). The runs are timed with CUDA events around each call's stream work ({@code CudaTimer},
 * chosen by {@code BenchCommand}), so the host's side of a call is not in the time.
 */
final class DeviceTensors implements AutoCloseable {
    private final CudaDevice device;
    private final List<Tensor> owned = new ArrayList<>();

    private DeviceTensors(CudaDevice device) {
        this.device = device;
    }

    static DeviceTensors forBackend(Backend backend) {
        return new DeviceTensors(backend.kernels(CudaDevice.class).orElse(null));
    }

    /** Whether the tensors live on a device (the backend has one). */
    boolean onDevice() {
        return device != null;
    }

    /** The backend's copy of {@code host} (same dtype, shape and values), or {@code host} itself. */
    Tensor mirror(Tensor host) {
        if (device == null) {
            return host;
        }
        Tensor t = device.copyOf(host);
        owned.add(t);
        return t;
    }

    /** Copies {@code host} into its mirror (e.g. poisoned outputs before a check). */
    void upload(Tensor host, Tensor mirror) {
        if (mirror != host) {
            device.copy(host, mirror);
        }
    }

    /** Copies a mirror back into its host tensor (outputs, for the check against float64). */
    void download(Tensor mirror, Tensor host) {
        if (mirror != host) {
            device.copy(mirror, host);
        }
    }

    @Override
    public void close() {
        owned.forEach(Tensor::close);
        owned.clear();
    }
}
