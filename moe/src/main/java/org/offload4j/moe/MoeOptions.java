package org.offload4j.moe;

/**
 * The routing options of a {@link MoeLayer}.
 *
 * @param k           experts per token, {@code 1 ≤ k ≤ }{@value MoeLayer#MAX_K} (and at most the
 *                    layer's number of experts, checked when the layer is created)
 * @param renormalize divide the {@code k} chosen softmax weights of each token by their sum, so
 *                    that they add up to one (Mixtral, Qwen-MoE); when false they are the plain
 *                    softmax probabilities over all experts (they add up to less than one)
 */
public record MoeOptions(int k, boolean renormalize) {

    /**
     * @throws IllegalArgumentException when {@code k} is outside {@code 1..}{@value MoeLayer#MAX_K}
     */
    public MoeOptions {
        Routing.checkK(k, "k");
    }

    /** {@code k} experts per token, weights renormalized to sum to one. */
    public static MoeOptions topK(int k) {
        return new MoeOptions(k, true);
    }

    /** The same {@code k} with renormalization on or off. */
    public MoeOptions withRenormalize(boolean renormalize) {
        return new MoeOptions(k, renormalize);
    }
}
