package org.offload4j.moe;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.offload4j.core.Backend;
import org.offload4j.core.Device;
import org.offload4j.core.Tensor;

/**
 * A test backend whose {@link MoeKernel} writes the float64 reference results (rounded to the
 * output dtype), and counts its calls: the facade tests use it to see that valid calls reach a
 * kernel and invalid ones never do.
 */
final class ReferenceBackend implements Backend {
    final AtomicInteger calls = new AtomicInteger();
    /** What {@link MoeKernel#prepare} returns: the weights themselves (the default) unless a test says otherwise. */
    private final UnaryOperator<ExpertWeights> prepare;
    private final List<Device> devices;

    ReferenceBackend() {
        this(UnaryOperator.identity());
    }

    ReferenceBackend(UnaryOperator<ExpertWeights> prepare) {
        this(prepare, Device.HOST);
    }

    /** A backend that also claims {@code devices} (fakes: a test must not let its kernel read their tensors). */
    ReferenceBackend(UnaryOperator<ExpertWeights> prepare, Device... devices) {
        this.prepare = prepare;
        this.devices = List.of(devices);
    }

    private final MoeKernel kernel = new MoeKernel() {
        @Override
        public void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) {
            calls.incrementAndGet();
            Routing r = MoeReference.route(x, routerWeights, k, renormalize);
            System.arraycopy(r.expertIds(), 0, expertIds, 0, expertIds.length);
            System.arraycopy(r.weights(), 0, weights, 0, weights.length);
        }

        @Override
        public void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out) {
            calls.incrementAndGet();
            store(MoeReference.groupedGemm(in.toDoubleArray(), routing, weights, matrix), out);
        }

        @Override
        public void swiglu(Tensor h, Tensor a) {
            calls.incrementAndGet();
            store(MoeReference.swiglu(h.toDoubleArray(), (int) a.cols()), a);
        }

        @Override
        public void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) {
            calls.incrementAndGet();
            store(MoeReference.expertMlp(xPermuted.toDoubleArray(), routing, weights), y);
        }

        @Override
        public void combine(Tensor y, Routing routing, Tensor out) {
            calls.incrementAndGet();
            store(MoeReference.combine(y.toDoubleArray(), routing, (int) out.cols()), out);
        }

        @Override
        public void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) {
            calls.incrementAndGet();
            store(MoeReference.forward(x, routing, weights), out);
        }

        @Override
        public ExpertWeights prepare(ExpertWeights weights) {
            return prepare.apply(weights);
        }
    };

    static void store(double[] values, Tensor out) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        out.copyFrom(f);
    }

    @Override
    public String name() {
        return "reference";
    }

    @Override
    public String description() {
        return "float64 reference (test fixture)";
    }

    @Override
    public List<Device> devices() {
        return devices;
    }

    @Override
    public <K> Optional<K> kernels(Class<K> kernelType) {
        return kernelType == MoeKernel.class ? Optional.of(kernelType.cast(kernel)) : Optional.empty();
    }
}
