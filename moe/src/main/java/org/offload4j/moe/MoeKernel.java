package org.offload4j.moe;

import org.offload4j.core.Tensor;

/**
 * The backend side of the MoE op: what a backend hands out through
 * {@link org.offload4j.core.Backend#kernels(Class) Backend.kernels(MoeKernel.class)}.
 *
 * <p>The {@link MoeLayer} facade validates every argument first (shapes, dtypes, open tensors,
 * no output overlapping an input, routing consistent with the tensors); implementations may
 * assume valid input and do no checks of their own. The permutation itself ({@link Routing}) is
 * host code in the op module; the gather of rows into permuted order ({@link MoeLayer#permute})
 * too. Notation as in {@link MoeLayer}: {@code T} tokens, {@code E} experts, {@code P = T·k} token
 * copies in permuted order, {@code e(p)} the expert of copy {@code p}.
 *
 * <p>Numerics for every method: inputs are widened exactly to fp32, sums accumulate in fp32 (or
 * wider), intermediates that stay inside one call are kept in fp32, and each output element is
 * rounded once to its tensor's dtype (round to nearest, ties to even). Every output element is
 * written. Tensors given as "bf16 or fp32" may be either, independently of each other.
 */
public interface MoeKernel {

    /**
     * The router: {@code logits = x · routerWeights}, softmax over the {@code E} logits of each
     * token (stable: the maximum subtracted first; fp32 or wider), the {@code k} largest ranked by
     * logit (the softmax's order, kept where probabilities underflow to equal values; ties: the
     * lower expert index first), in descending order, written to
     * {@code expertIds[t·k + j]}; their softmax probabilities to {@code weights[t·k + j]}, divided
     * by the sum of the {@code k} when {@code renormalize}.
     *
     * @param x             {@code [T, d_model]} bf16, any row stride
     * @param routerWeights {@code [d_model, E]} bf16 or fp32, any row stride
     * @param k             {@code 1 ≤ k ≤ min(8, E)}
     * @param renormalize   whether the {@code k} weights of a token are scaled to sum to one
     * @param expertIds     {@code T·k} elements, all overwritten
     * @param weights       {@code T·k} elements, all overwritten
     */
    void route(Tensor x, Tensor routerWeights, int k, boolean renormalize, int[] expertIds, float[] weights);

    /**
     * A grouped GEMM over permuted rows: {@code out[p] = in[p] · M[e(p)]} for every copy {@code p},
     * {@code M} = {@code W1} (for {@link ExpertWeights.Matrix#GATE_UP}: {@code out} is the
     * pre-activation {@code h = [gate | up]}) or {@code W2} ({@link ExpertWeights.Matrix#DOWN}).
     * Experts without copies read no weights.
     *
     * @param in     {@code [P, rows of M]} bf16 or fp32, rows in permuted order
     * @param out    {@code [P, cols of M]} bf16 or fp32, disjoint from {@code in}
     */
    void groupedGemm(Tensor in, Routing routing, ExpertWeights weights, ExpertWeights.Matrix matrix, Tensor out);

    /**
     * The SwiGLU activation, row by row: {@code a = silu(h[:, 0..d_ff)) ⊙ h[:, d_ff..2·d_ff)} with
     * {@code silu(z) = z · sigmoid(z)}.
     *
     * @param h {@code [rows, 2·d_ff]} bf16 or fp32
     * @param a {@code [rows, d_ff]} bf16 or fp32, disjoint from {@code h}
     */
    void swiglu(Tensor h, Tensor a);

    /**
     * The whole expert MLP over permuted rows:
     * {@code y[p] = (silu(x[p]·W1g[e]) ⊙ (x[p]·W1u[e])) · W2[e]} with {@code e = e(p)}; the
     * activation {@code a} is kept in fp32 between the two GEMMs.
     *
     * @param xPermuted {@code [P, d_model]} bf16 or fp32, rows in permuted order
     * @param y         {@code [P, d_model]} bf16 or fp32, disjoint from {@code xPermuted}
     */
    void expertMlp(Tensor xPermuted, Routing routing, ExpertWeights weights, Tensor y);

    /**
     * The weighted combine: {@code out[t] = Σ_j weight(t, j) · y[copyOf(t, j)]}, summed in fp32 in
     * slot order {@code j = 0..k−1}, rounded once.
     *
     * @param y   {@code [P, d_model]} bf16 or fp32, rows in permuted order
     * @param out {@code [T, d_model]} bf16 or fp32, disjoint from {@code y}
     */
    void combine(Tensor y, Routing routing, Tensor out);

    /**
     * Everything after the router for the given routing: gather, expert MLP and combine, with the
     * per-copy activations and expert outputs kept in fp32 and only {@code out} rounded:
     * {@code out[t] = Σ_j weight(t, j) · MLP_{expert(t, j)}(x[t])}.
     *
     * @param x   {@code [T, d_model]} bf16
     * @param out {@code [T, d_model]} bf16 or fp32, disjoint from {@code x} and the weights
     */
    void forward(Tensor x, Routing routing, ExpertWeights weights, Tensor out);

    /**
     * The same weights in this backend's own layout, when it has one for their format, else
     * {@code weights} itself (the default). A new object is a copy that the caller owns: it must
     * implement {@link AutoCloseable} ({@link MoeLayer#prepared()} refuses it with an
     * {@link IllegalStateException} otherwise), holds every value (the source may be closed
     * afterwards), and gives every method of this kernel the same results bit for bit as the
     * source would. Called through {@link MoeLayer#prepared()}.
     *
     * @param weights open weights of any format
     */
    default ExpertWeights prepare(ExpertWeights weights) {
        return weights;
    }
}
