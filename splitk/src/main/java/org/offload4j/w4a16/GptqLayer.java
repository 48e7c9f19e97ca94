package org.offload4j.w4a16;

import org.offload4j.core.Tensor;

/**
 * One quantized linear layer loaded from a GPTQ checkpoint ({@link GptqCheckpoint#layer}): its
 * weight, in this library's format (v2 zeros, act-order rows permuted), and its bias. Both are
 * copies owned by this object, independent of the checkpoint file; {@link #close()} frees them.
 *
 * @param prefix the layer's tensor-name prefix, e.g. {@code model.layers.0.mlp.down_proj}
 * @param weight {@code W [k, n]}: {@code y = x · W + bias}
 * @param bias   {@code [n]} in the checkpoint's dtype, or {@code null}
 */
public record GptqLayer(String prefix, QuantizedWeight weight, Tensor bias) implements AutoCloseable {
    @Override
    public void close() {
        weight.close();
        if (bias != null) {
            bias.close();
        }
    }
}
