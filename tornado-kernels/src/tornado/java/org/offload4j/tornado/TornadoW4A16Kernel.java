package org.offload4j.tornado;

import org.offload4j.core.Tensor;
import org.offload4j.w4a16.PackedWeight;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.W4A16Kernel;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

final class TornadoW4A16Kernel implements W4A16Kernel {
    TornadoW4A16Kernel(TornadoDevice device) {}
    public PackedWeight prepack(QuantizedWeight w) { throw new UnsupportedOperationException(); }
    public void matmul(Tensor x, PackedWeight w, Tensor bias, Tensor y) { throw new UnsupportedOperationException(); }
}
