package org.offload4j.w4a16;

import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** Random GPTQ tensors for tests: uniform words (every q and z value occurs) and N(0, 0.02²) scales. */
final class TestWeights {
    private TestWeights() {}

    static QuantizedWeight random(int k, int n, int groupSize, boolean symmetric, DType scaleType, long seed) {
        int g = groupSize == -1 ? k : groupSize;
        Tensor qweight = TensorFill.gaussian(Tensor.allocate(DType.INT32, k / 8, n), seed, 1);
        Tensor qzeros = symmetric ? null : TensorFill.gaussian(Tensor.allocate(DType.INT32, k / g, n / 8), seed + 1, 1);
        Tensor scales = TensorFill.gaussian(Tensor.allocate(scaleType, k / g, n), seed + 2, 0.02);
        return QuantizedWeight.adopt(k, n, g, qweight, qzeros, scales);
    }
}
