package org.offload4j.moe;

import java.util.Arrays;

/**
 * Where each token goes: the top-k expert choice of every token, its weights, and the stable
 * permutation of the token copies grouped by expert. An immutable value; built by
 * {@link MoeLayer#route}, by {@link MoeReference#route}, or from given choices by {@link #of}.
 *
 * <p><b>Copies.</b> Token {@code t} with its {@code j}-th choice ({@code j < k}) is the <i>copy</i>
 * {@code (t, j)}; there are {@code copies() = T·k} of them. The permutation sorts the copies by
 * expert, stably: within one expert the copies keep token order (ascending {@code t}; a token
 * sends at most one copy to an expert because its {@code k} choices are distinct). The copies of
 * expert {@code e} are the permuted rows {@code offset(e) ≤ p < offset(e + 1)}. An expert that
 * no token chose has an empty range. Example with {@code T = 4, E = 3, k = 2}:
 * <pre>
 *  expertIds [T, k]        permuted copies (sorted by expert, stable)     offsets [E + 1]
 *  token  j=0  j=1          p   token  slot  expert
 *    0     2    0           0     0     1      0   ┐ expert 0             offset(0) = 0
 *    1     0    1           1     1     0      0   │
 *    2     2    1           2     3     1      0   ┘
 *    3     1    0           3     1     1      1   ┐ expert 1             offset(1) = 3
 *                           4     2     1      1   │
 *                           5     3     0      1   ┘
 *                           6     0     0      2   ┐ expert 2             offset(2) = 6
 *                           7     2     0      2   ┘
 *                                                                         offset(3) = 8
 *  tokenOfCopy(p) = token column,  slotOfCopy(p) = slot column,
 *  copyOf(t, j):  t0 → (6, 0)   t1 → (1, 3)   t2 → (7, 4)   t3 → (5, 2)
 * </pre>
 *
 * <p>Arrays given to {@link #of} and returned by the bulk accessors are copies; the element
 * accessors ({@link #expert}, {@link #copyOf}, …) are cheap and meant for kernels.
 */
public final class Routing {
    private final int tokens;
    private final int experts;
    private final int k;
    private final int[] expertIds;      // [T·k], token-major: expertIds[t·k + j]
    private final float[] weights;      // [T·k], token-major
    private final int[] offsets;        // [E + 1], offsets[0] = 0, offsets[E] = T·k
    private final int[] copyToken;      // [T·k], permuted copy p → its token
    private final int[] copySlot;       // [T·k], permuted copy p → its slot j
    private final int[] tokenSlotCopy;  // [T·k], t·k + j → permuted position of copy (t, j)

    private Routing(int experts, int k, int[] expertIds, float[] weights) {
        this.tokens = expertIds.length / k;
        this.experts = experts;
        this.k = k;
        this.expertIds = expertIds;
        this.weights = weights;
        int n = expertIds.length;
        // Stable counting sort of the copies by expert: count, prefix-sum, then place in (t, j) order.
        this.offsets = new int[experts + 1];
        for (int id : expertIds) {
            offsets[id + 1]++;
        }
        for (int e = 0; e < experts; e++) {
            offsets[e + 1] += offsets[e];
        }
        int[] cursor = Arrays.copyOf(offsets, experts);
        this.copyToken = new int[n];
        this.copySlot = new int[n];
        this.tokenSlotCopy = new int[n];
        for (int i = 0; i < n; i++) {
            int p = cursor[expertIds[i]]++;
            copyToken[p] = i / k;
            copySlot[p] = i % k;
            tokenSlotCopy[i] = p;
        }
    }

    /**
     * The routing of {@code expertIds.length / k} tokens with the given choices and weights (both
     * token-major, {@code [t·k + j]}), with the permutation computed here.
     *
     * @param experts   the number of experts, {@code 1 ≤ E ≤} {@value MoeLayer#MAX_EXPERTS}
     * @param k         choices per token, {@code 1 ≤ k ≤ min(}{@value MoeLayer#MAX_K}{@code , E)}
     * @param expertIds {@code T·k} expert indices in {@code 0..E−1}, distinct within each token
     * @param weights   {@code T·k} finite weights
     * @throws IllegalArgumentException naming the argument that breaks one of the above
     */
    public static Routing of(int experts, int k, int[] expertIds, float[] weights) {
        if (experts < 1 || experts > MoeLayer.MAX_EXPERTS) {
            throw new IllegalArgumentException("experts = " + experts + "; accepted: 1 ≤ E ≤ " + MoeLayer.MAX_EXPERTS);
        }
        checkK(k, "k");
        if (k > experts) {
            throw new IllegalArgumentException("k = " + k + " exceeds the number of experts E = " + experts
                    + "; accepted: 1 ≤ k ≤ E");
        }
        if (expertIds == null) {
            throw new IllegalArgumentException("expertIds must not be null");
        }
        if (weights == null) {
            throw new IllegalArgumentException("weights must not be null");
        }
        if (expertIds.length % k != 0) {
            throw new IllegalArgumentException("expertIds has " + expertIds.length + " elements; accepted: a multiple of k = " + k);
        }
        if (weights.length != expertIds.length) {
            throw new IllegalArgumentException("weights has " + weights.length + " elements; expected one per choice, "
                    + expertIds.length);
        }
        int[] ids = expertIds.clone();
        float[] w = weights.clone();
        for (int t = 0; t < ids.length / k; t++) {
            for (int j = 0; j < k; j++) {
                int id = ids[t * k + j];
                if (id < 0 || id >= experts) {
                    throw new IllegalArgumentException("expertIds[" + t + ", " + j + "] = " + id + "; accepted: 0.." + (experts - 1));
                }
                for (int i = 0; i < j; i++) {
                    if (ids[t * k + i] == id) {
                        throw new IllegalArgumentException("expertIds of token " + t + " repeat expert " + id
                                + " (slots " + i + " and " + j + "); accepted: k distinct experts per token");
                    }
                }
                if (!Float.isFinite(w[t * k + j])) {
                    throw new IllegalArgumentException("weights[" + t + ", " + j + "] = " + w[t * k + j] + "; accepted: finite values");
                }
            }
        }
        return new Routing(experts, k, ids, w);
    }

    /** Checks {@code 1 ≤ k ≤ MAX_K}, naming the argument {@code name}. */
    static void checkK(int k, String name) {
        if (k < 1 || k > MoeLayer.MAX_K) {
            throw new IllegalArgumentException(name + " = " + k + "; accepted: 1.." + MoeLayer.MAX_K);
        }
    }

    /** The number of tokens {@code T}. */
    public int tokens() {
        return tokens;
    }

    /** The number of experts {@code E}. */
    public int experts() {
        return experts;
    }

    /** Choices per token. */
    public int k() {
        return k;
    }

    /** {@code T·k}: the number of token copies, i.e. of rows of the permuted activations. */
    public int copies() {
        return expertIds.length;
    }

    /** The expert of token {@code t}'s {@code j}-th choice. */
    public int expert(int t, int j) {
        return expertIds[t * k + j];
    }

    /** The weight of token {@code t}'s {@code j}-th choice. */
    public float weight(int t, int j) {
        return weights[t * k + j];
    }

    /** The first permuted row of expert {@code e}; {@code offset(E) = T·k}. */
    public int offset(int e) {
        return offsets[e];
    }

    /** How many copies expert {@code e} receives. */
    public int rowsOf(int e) {
        return offsets[e + 1] - offsets[e];
    }

    /** The token of permuted copy {@code p}. */
    public int tokenOfCopy(int p) {
        return copyToken[p];
    }

    /** The slot {@code j} of permuted copy {@code p}. */
    public int slotOfCopy(int p) {
        return copySlot[p];
    }

    /** The expert of permuted copy {@code p}. */
    public int expertOfCopy(int p) {
        return expertIds[copyToken[p] * k + copySlot[p]];
    }

    /** The permuted position of copy {@code (t, j)}. */
    public int copyOf(int t, int j) {
        return tokenSlotCopy[t * k + j];
    }

    /** A copy of the choices, token-major {@code [t·k + j]}. */
    public int[] expertIds() {
        return expertIds.clone();
    }

    /** A copy of the weights, token-major {@code [t·k + j]}. */
    public float[] weights() {
        return weights.clone();
    }

    /** A copy of the {@code E + 1} offsets. */
    public int[] offsets() {
        return offsets.clone();
    }

    /** A copy of the permuted copy → token map. */
    public int[] copyToToken() {
        return copyToken.clone();
    }

    /** A copy of the token·slot → permuted copy map, {@code [t·k + j]}. */
    public int[] tokenSlotToCopy() {
        return tokenSlotCopy.clone();
    }

    /** The number of experts that receive at least one copy. */
    public int activeExperts() {
        int n = 0;
        for (int e = 0; e < experts; e++) {
            n += offsets[e + 1] > offsets[e] ? 1 : 0;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Routing r && r.experts == experts && r.k == k
                && Arrays.equals(r.expertIds, expertIds) && Arrays.equals(r.weights, weights);
    }

    @Override
    public int hashCode() {
        return (31 * experts + k) * 31 * 31 + 31 * Arrays.hashCode(expertIds) + Arrays.hashCode(weights);
    }

    @Override
    public String toString() {
        return "Routing[T=" + tokens + ", E=" + experts + ", k=" + k + ", active experts=" + activeExperts() + "]";
    }
}
