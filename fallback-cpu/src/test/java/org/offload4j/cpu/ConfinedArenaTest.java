package org.offload4j.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.offload4j.core.Accuracy;
import org.offload4j.core.Backends;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardReference;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.moe.Bf16ExpertWeights;
import org.offload4j.moe.MoeLayer;
import org.offload4j.moe.MoeOptions;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;

/**
 * Tensors in a confined arena may only be touched by their owner thread: calls large enough to
 * be spread over the pool must then run on the caller instead of failing in a worker with
 * {@code WrongThreadException} after part of the output was written.
 */
class ConfinedArenaTest {

    @Test
    void hadamardOnConfinedTensorsRunsOnTheCallerAndIsCorrect() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.FP32, 256, 4096), 5, 1.0);
            Tensor y = TensorFill.poison(Tensor.allocate(arena, DType.FP32, 256, 4096));
            Hadamard.create(Backends.named("cpu")).transform(x, y);
            double[] ref = HadamardReference.compute(x, HadamardSize.of(4096), 1 / Math.sqrt(4096), false, null, null);
            double err = Accuracy.relativeL2(ref, y);
            assertTrue(err < 1e-6, "relative L2 " + err);
        }
    }

    @Test
    void moeOnConfinedTensorsRunsOnTheCallerAndIsCorrect() {
        int tokens = 300;
        int experts = 4;
        int dModel = 64;
        int dFf = 96;
        try (Arena arena = Arena.ofConfined()) {
            Tensor router = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, dModel, experts), 1, 0.2);
            Tensor w1 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dModel, 2 * dFf), 2, 0.1);
            Tensor w2 = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, experts, dFf, dModel), 3, 0.1);
            Tensor x = TensorFill.gaussian(Tensor.allocate(arena, DType.BF16, tokens, dModel), 4, 1.0);
            Tensor out = TensorFill.poison(Tensor.allocate(arena, DType.BF16, tokens, dModel));
            Bf16ExpertWeights weights = Bf16ExpertWeights.of(w1, w2);
            MoeLayer layer = MoeLayer.create(Backends.named("cpu"), router, weights, new MoeOptions(2, true));
            Routing routing = layer.forward(x, out);
            double err = Accuracy.relativeL2(MoeReference.forward(x, routing, weights), out);
            assertTrue(err < 1e-2, "relative L2 " + err);
        }
    }
}
