package org.offload4j.cpu;

import java.util.SplittableRandom;
import org.offload4j.attention.Fp8Tensor;
import org.offload4j.attention.ScaleGranularity;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;

/** Seeded random FP8 attention inputs for the CPU tests. */
final class AttentionInputs {
    private AttentionInputs() {}

    /**
     * An fp8 tensor {@code [b, h, s, d]} of N(0, 64²) values (saturated at ±448) and random scales
     * in [0.01, 0.03], so that the real values have a standard deviation near 1.3.
     */
    static Fp8Tensor fp8(long seed, ScaleGranularity g, int b, int h, int s, int d) {
        return fp8(seed, g, b, h, s, d, 1.0);
    }

    /** As {@link #fp8(long, ScaleGranularity, int, int, int, int)} with every scale multiplied by {@code scaleFactor}. */
    static Fp8Tensor fp8(long seed, ScaleGranularity g, int b, int h, int s, int d, double scaleFactor) {
        Tensor data = TensorFill.gaussian(Tensor.allocate(DType.FP8_E4M3FN, b, h, s, d), seed, 64);
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5CA1E5L);
        Tensor scales = g == ScaleGranularity.PER_HEAD ? Tensor.allocate(DType.FP32, b, h) : Tensor.allocate(DType.FP32, 1);
        for (long r = 0; r < scales.rows(); r++) {
            for (long c = 0; c < scales.cols(); c++) {
                scales.setFloat(r, c, (float) (scaleFactor * (0.01 + 0.02 * rnd.nextDouble())));
            }
        }
        return new Fp8Tensor(data, scales);
    }

    /** A fresh seed per run (printed on failure), or the fixed one from {@code -Doffload.test.seed}. */
    static long seed() {
        Long fixed = Long.getLong("offload.test.seed");
        return fixed != null ? fixed : System.nanoTime();
    }
}
