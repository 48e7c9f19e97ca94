package org.offload4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sum of a vector's lanes in one fixed order, the same bits in every JIT tier.
 *
 * <p>{@code reduceLanes(ADD)} leaves the order to the implementation, and the tiers differ: the
 * interpreter and C1 run its Java fallback, which adds lane 0, 1, 2, … in sequence, while C2's
 * intrinsic adds in a tree. A float sum then changed bits when a kernel got compiled, so one
 * attention call could give another result than the same call a moment later (seen with 8- and
 * 4-float vectors: an output one bf16 step apart). Here the order is spelled out with operations
 * that are exact in every tier, lane permutations and lane-wise IEEE adds:
 *
 * <pre>
 *   level h = L/2, L/4, …, 1:   v[i] ← v[i] + v[(i + h) mod L]        result: v[0]
 *   L = 8:  ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))
 * </pre>
 *
 * C2 compiles each level to one permute and one add; the lanes past index h of a level are
 * computed and not used.
 *
 * <p>The lanes come in an array, not as a {@code FloatVector}: a vector passed to a method C2
 * does not inline is boxed, an object per call, and the kernels that sum lanes are large
 * enough that C2 stops inlining into them (NodeCountInliningCutoff; the Vector API's own
 * methods are force-inlined, ours are not). Taking a {@code FloatVector} here, the fused decode
 * QKᵀ ran 3–8× slower on AVX2. So the kernels store their accumulators and sum them in a small
 * method of their own, where this one inlines.
 */
final class LaneSums {
    private static final VectorSpecies<Float> F = CpuBackend.FLOATS;
    private static final int L = F.length();
    // One shuffle per level; a level wider than the species is never used (see sum).
    private static final VectorShuffle<Float> BY32 = rotation(32);
    private static final VectorShuffle<Float> BY16 = rotation(16);
    private static final VectorShuffle<Float> BY8 = rotation(8);
    private static final VectorShuffle<Float> BY4 = rotation(4);
    private static final VectorShuffle<Float> BY2 = rotation(2);
    private static final VectorShuffle<Float> BY1 = rotation(1);

    private LaneSums() {
    }

    /**
     * Σ of the L floats {@code lanes[at .. at + L)} (L the length of {@link CpuBackend#FLOATS}) in
     * the order of the class comment.
     */
    static float sum(float[] lanes, int at) {
        FloatVector v = FloatVector.fromArray(F, lanes, at);
        // L is a constant: C2 keeps only the levels this species has.
        if (L >= 64) {
            v = v.add(v.rearrange(BY32));
        }
        if (L >= 32) {
            v = v.add(v.rearrange(BY16));
        }
        if (L >= 16) {
            v = v.add(v.rearrange(BY8));
        }
        if (L >= 8) {
            v = v.add(v.rearrange(BY4));
        }
        if (L >= 4) {
            v = v.add(v.rearrange(BY2));
        }
        if (L >= 2) {
            v = v.add(v.rearrange(BY1));
        }
        return v.lane(0);
    }

    /** Lane i takes lane (i + h) mod L. */
    private static VectorShuffle<Float> rotation(int h) {
        return VectorShuffle.fromOp(F, i -> (i + h) & (L - 1));
    }
}
