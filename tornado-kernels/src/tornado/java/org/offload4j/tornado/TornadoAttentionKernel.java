package org.offload4j.tornado;

import org.offload4j.attention.*;
import org.offload4j.core.Tensor;
import uk.ac.manchester.tornado.api.common.TornadoDevice;

final class TornadoAttentionKernel implements AttentionKernel {
    TornadoAttentionKernel(TornadoDevice device) {}
    public void forward(AttentionShape shape, Fp8Tensor q, Fp8Tensor k, Fp8Tensor v, boolean causal, float softmaxScale, Tensor out, Tensor lse) { throw new UnsupportedOperationException(); }
}
