package org.offload4j.w4a16;

import java.util.List;
import java.util.Optional;
import org.offload4j.core.Backend;
import org.offload4j.core.DType;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;

/** A test backend whose W4A16 kernel is the float64 reference, and which counts kernel calls. */
final class ReferenceBackend implements Backend {
    final Kernel kernel = new Kernel();
    private final String name;
    private final List<Device> devices;

    /** A backend on the host and on {@code devices} (fakes whose memory its kernel never reads). */
    ReferenceBackend(String name, Device... devices) {
        this.name = name;
        this.devices = java.util.stream.Stream.concat(java.util.stream.Stream.of(Device.HOST), java.util.Arrays.stream(devices)).toList();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "float64 reference (tests)";
    }

    @Override
    public List<Device> devices() {
        return devices;
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return kernelType == W4A16Kernel.class ? Optional.of(kernelType.cast(kernel)) : Optional.empty();
    }

    static final class Kernel implements W4A16Kernel {
        int prepacks;
        int matmuls;

        @Override
        public PackedWeight prepack(QuantizedWeight w) {
            prepacks++;
            Tensor qweight = copy(w.qweight());
            Tensor qzeros = w.qzeros() == null ? null : copy(w.qzeros());
            Tensor scales = copy(w.scales());
            QuantizedWeight own = QuantizedWeight.adopt(w.k(), w.n(), w.groupSize(), qweight, qzeros, scales);
            return new Packed(own);
        }

        @Override
        public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) {
            matmuls++;
            W4A16Reference.matmul(x, ((Packed) w).weight, bias, y);
        }

        private static Tensor copy(Tensor t) {
            Tensor c = Tensor.allocate(t.dtype(), t.shape());
            for (long r = 0; r < t.rows(); r++) {
                for (long col = 0; col < t.cols(); col++) {
                    if (t.dtype() == DType.INT32) {
                        c.setInt(r, col, t.getInt(r, col));
                    } else {
                        c.setFloat(r, col, t.getFloat(r, col));
                    }
                }
            }
            return c;
        }
    }

    record Packed(QuantizedWeight weight) implements PackedWeight {
        @Override
        public int k() {
            return weight.k();
        }

        @Override
        public int n() {
            return weight.n();
        }

        @Override
        public int groupSize() {
            return weight.groupSize();
        }

        @Override
        public void close() {
            weight.close();
        }
    }
}
