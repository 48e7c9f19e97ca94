package org.offload4j.tornado;

import org.offload4j.moe.*;
import org.offload4j.core.Tensor;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

final class TornadoMoeKernel implements MoeKernel {
    TornadoMoeKernel(TornadoDevice device) {}
    public void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights) { throw new UnsupportedOperationException(); }
    public void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out) { throw new UnsupportedOperationException(); }
    public void swiglu(Tensor h, Tensor a) { throw new UnsupportedOperationException(); }
    public void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y) { throw new UnsupportedOperationException(); }
    public void combine(Tensor y, Routing routing, Tensor out) { throw new UnsupportedOperationException(); }
    public void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out) { throw new UnsupportedOperationException(); }
}
