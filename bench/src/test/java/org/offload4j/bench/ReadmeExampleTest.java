package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.attention.Attention;
import org.offload4j.attention.AttentionOptions;
import org.offload4j.attention.QkRotations;
import org.offload4j.core.Accuracy;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.W4A16ExpertWeights;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;
import org.offload4j.w4a16.W4A16;

/** The README's Java example, line for line (smaller shapes), so that it keeps compiling and running. */
class ReadmeExampleTest {

    @Test
    void readmeExampleRuns() {
        try (Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 32, 4096), 1, 1.0);
             Tensor y = Tensor.allocate(DType.BF16, 32, 4096)) {
            Hadamard.create().transform(x, y);
            assertTrue(Accuracy.firstNonFinite(y) < 0);
        }

        try (Tensor w = TensorFill.gaussian(Tensor.allocate(DType.FP32, 4096, 1024), 2, 0.02);
             QuantizedWeight q = RtnQuantizer.quantize(w, 128, false, DType.FP16);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 4096), 3, 1.0);
             Tensor y = Tensor.allocate(DType.BF16, 1, 1024)) {
            W4A16 op = W4A16.create();
            try (W4A16.Prepared p = op.prepare(q)) {
                op.matmul(x, p, null, y);
            }
            assertTrue(Accuracy.firstNonFinite(y) < 0);
        }

        try (Tensor q = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 8, 64, 128), 4, 1.0);
             Tensor k = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 64, 128), 5, 1.0);
             Tensor v = TensorFill.gaussian(Tensor.allocate(DType.BF16, 1, 2, 64, 128), 6, 1.0);
             Tensor o = Tensor.allocate(DType.BF16, 1, 8, 64, 128)) {
            AttentionOptions opts = AttentionOptions.defaults().withCausal(true).withRotation(QkRotations.hadamard());
            Attention.create().forward(q, k, v, opts, o);
            assertTrue(Accuracy.firstNonFinite(o) < 0);
        }

        try (Tensor router = TensorFill.gaussian(Tensor.allocate(DType.BF16, 256, 8), 7, 0.05);
             Tensor w1 = TensorFill.gaussian(Tensor.allocate(DType.BF16, 8, 256, 2 * 128), 8, 0.05);
             Tensor w2 = TensorFill.gaussian(Tensor.allocate(DType.BF16, 8, 128, 256), 9, 0.05);
             W4A16ExpertWeights experts = W4A16ExpertWeights.quantize(w1, w2, 128, false, DType.FP16);
             Tensor x = TensorFill.gaussian(Tensor.allocate(DType.BF16, 16, 256), 10, 1.0);
             Tensor out = Tensor.allocate(DType.BF16, 16, 256)) {
            MoeLayer.create(router, experts, new MoeOptions(2, true)).forward(x, out);
            assertTrue(Accuracy.firstNonFinite(out) < 0);

            TensorFill.poison(out);
            try (MoeLayer moe = MoeLayer.create(router, Bf16ExpertWeights.of(w1, w2), new MoeOptions(2, true)).prepared()) {
                moe.forward(x, out);
            }
            assertTrue(Accuracy.firstNonFinite(out) < 0);
        }
    }
}
