package org.offload4j.cuda.w4a16;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.TensorFill;
import org.offload4j.w4a16.QuantizedWeight;
import org.offload4j.w4a16.RtnQuantizer;

/** Act-order weights for the CUDA tests. */
public final class ActOrderWeights {
    private ActOrderWeights() {
    }

    /**
     * A GPTQ act-order weight: RTN tensors of a gaussian W whose rows are assigned to groups by a
     * random balanced g_idx (so the stored row order is a random permutation).
     */
    public static QuantizedWeight random(int k, int n, int g, boolean sym, DType scaleType, long seed) {
        try (Tensor wf = TensorFill.gaussian(Tensor.allocate(DType.FP32, k, n), seed, 0.05);
             QuantizedWeight raw = RtnQuantizer.quantize(wf, g, sym, scaleType);
             Tensor gIdx = Tensor.allocate(DType.INT32, k)) {
            List<Integer> rows = new ArrayList<>();
            for (int kk = 0; kk < k; kk++) {
                rows.add(kk);
            }
            Collections.shuffle(rows, new Random(seed));
            for (int r = 0; r < k; r++) {
                gIdx.setInt(0, rows.get(r), r / g);
            }
            return QuantizedWeight.fromGptqActOrder(k, n, g, raw.qweight(), raw.qzeros(), raw.scales(), gIdx);
        }
    }
}
