package org.offload4j.attention;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import org.offload4j.core.Args;
import org.offload4j.core.Backend;
import org.offload4j.core.Tensor;
import org.offload4j.hadamard.Hadamard;
import org.offload4j.hadamard.HadamardSize;
import org.offload4j.hadamard.RandomizedRotation;

/**
 * The library's Q/K rotations, built on the Hadamard op ({@link Hadamard}): the way to turn
 * rotation on for FP8 attention.
 *
 * <pre>
 *   AttentionOptions opts = AttentionOptions.defaults().withRotation(QkRotations.hadamard());
 *   attention.forward(qBf16, kBf16, vBf16, opts, out);
 * </pre>
 *
 * <p><b>The rotations.</b> Each rotates every row {@code x} (the last dimension, length
 * {@code D}) of a {@code [B, H, S, D]} tensor:
 * <ul>
 *   <li>{@link #hadamard()}: {@code x · R} with {@code R = H_D / √D}, {@code H_D} the ±1
 *       Hadamard matrix of {@link Hadamard} (Sylvester's, natural order, for the attention
 *       head dimensions 64, 128 and 256);</li>
 *   <li>{@link #randomizedHadamard(long)}: {@code (x ⊙ s) · H_D / √D}, that is
 *       {@code R = diag(s) · H_D / √D}, with the seeded ±1 sign vector {@code s} of
 *       {@link RandomizedRotation}; one seed gives one fixed rotation per {@code D}, the same
 *       for Q and K and on every call.</li>
 * </ul>
 * Both are orthonormal: {@code H_D · H_Dᵀ = D · I} gives {@code R · Rᵀ = I}, and for the
 * randomized one {@code diag(s) · (H_D H_Dᵀ / D) · diag(s) = diag(s)² = I}.
 *
 * <p><b>Why Q·Kᵀ does not change.</b> Q and K are rotated by the same {@code R}, so
 * {@code (Q·R) · (K·R)ᵀ = Q · (R·Rᵀ) · Kᵀ = Q·Kᵀ}: every logit, and with it the softmax and the
 * output, is the same in exact arithmetic. What changes is where the magnitude sits: a channel
 * outlier (one column of Q and K far larger than the rest) is spread over all {@code D}
 * coordinates, so the amax-based FP8 scale shrinks and the ordinary channels keep more of their
 * precision. In practice the rotated rows are rounded to bf16 (the facade rounds once to the
 * output dtype), so the identity holds up to that rounding; on fp32 rows it holds to fp32
 * accuracy (the facade's fp32 transform is within 1e-6 relative L2 of exact).
 *
 * <p><b>V is not rotated.</b> {@code softmax(Q·Kᵀ) · V} has no second factor of V for a rotation
 * to cancel against: rotating V by {@code R} would rotate the output to {@code O · R}, which
 * would have to be undone after the op. The bf16 entry points of {@link Attention} therefore
 * apply {@link AttentionOptions#rotation()} to Q and K only and quantize V as given.
 *
 * <p><b>Plain or randomized.</b> The plain Hadamard matrix spreads outliers that sit in a few
 * channels, but an input that is itself structured like a row of {@code H_D} (a constant row,
 * say) is mapped to a single spike of size {@code √D} times its entries: the rotation creates
 * the outlier it should remove. The random signs make that alignment improbable for any fixed
 * input (the QuaRot / SpinQuant construction), at no extra pass over memory: the backend applies
 * the signs inside the transform. Both give the same error reduction on channel outliers.
 *
 * <p><b>Accepted tensors.</b> What {@link Hadamard#transform(Tensor, Tensor)} accepts: {@code in}
 * and {@code out} of the same shape and dtype (bf16 as {@link QkRotation} asks, and also fp32 or
 * fp16), on one device, any row stride; the last dimension a Hadamard size
 * ({@link HadamardSize#ACCEPTED}; every head dimension {@link Attention} accepts is one).
 * {@code out} may be {@code in} itself (in place) or memory disjoint from it. A violation throws
 * the facade's {@link IllegalArgumentException}, which names the argument ({@code in} or
 * {@code out}), what was given and what is accepted, before anything is written.
 *
 * <p><b>Backend.</b> The rotation runs on the backend its {@link Hadamard} was created on: the
 * default one ({@link Hadamard#create()}), or the one passed in. It must be able to address the
 * tensors it is given; those of the bf16 attention entry points are host memory. The returned
 * rotations are immutable and safe to share between threads and between calls.
 */
public final class QkRotations {
    private QkRotations() {}

    /**
     * {@code x · H_D / √D} for every row, on the default backend of the Hadamard op.
     *
     * @throws org.offload4j.core.BackendUnavailableException when no backend implements it
     */
    public static QkRotation hadamard() {
        return new HadamardRotation(Hadamard.create());
    }

    /**
     * {@code x · H_D / √D} for every row, on {@code backend}.
     *
     * @throws IllegalArgumentException when {@code backend} is null
     * @throws org.offload4j.core.BackendUnavailableException when it does not implement the Hadamard op
     */
    public static QkRotation hadamard(Backend backend) {
        return new HadamardRotation(Hadamard.create(backend));
    }

    /**
     * {@code (x ⊙ s) · H_D / √D} for every row, with the signs {@code s} of
     * {@link RandomizedRotation} for {@code seed}, on the default backend of the Hadamard op.
     *
     * @throws org.offload4j.core.BackendUnavailableException when no backend implements it
     */
    public static QkRotation randomizedHadamard(long seed) {
        return new RandomizedHadamardRotation(Hadamard.create(), seed);
    }

    /**
     * As {@link #randomizedHadamard(long)}, on {@code backend}.
     *
     * @throws IllegalArgumentException when {@code backend} is null
     * @throws org.offload4j.core.BackendUnavailableException when it does not implement the Hadamard op
     */
    public static QkRotation randomizedHadamard(Backend backend, long seed) {
        return new RandomizedHadamardRotation(Hadamard.create(backend), seed);
    }

    /** The orthonormal transform of the facade; it checks the tensors. */
    private record HadamardRotation(Hadamard hadamard) implements QkRotation {
        @Override
        public void rotate(Tensor in, Tensor out) {
            hadamard.transform(in, out);
        }

        @Override
        public String toString() {
            return "Hadamard Q/K rotation on " + hadamard.backend().name();
        }
    }

    /**
     * One {@link RandomizedRotation} per row length met so far (a handful at most: the accepted
     * Hadamard sizes), all with the same seed.
     */
    private static final class RandomizedHadamardRotation implements QkRotation {
        private final Hadamard hadamard;
        private final long seed;
        private final ConcurrentHashMap<Integer, RandomizedRotation> bySize = new ConcurrentHashMap<>();

        RandomizedHadamardRotation(Hadamard hadamard, long seed) {
            this.hadamard = hadamard;
            this.seed = seed;
        }

        @Override
        public void rotate(Tensor in, Tensor out) {
            // The row length picks the rotation, so it is checked here, in the facade's words;
            // every other check is the facade's, inside RandomizedRotation.rotate.
            Args.notNull(in, "in");
            long d = in.cols();
            if (!HadamardSize.isSupported(d)) {
                throw new IllegalArgumentException("in has last dimension d = " + d + " (shape " + Arrays.toString(in.shape())
                        + "), not a supported Hadamard size; accepted: " + HadamardSize.ACCEPTED);
            }
            bySize.computeIfAbsent((int) d, n -> RandomizedRotation.of(hadamard, n, seed)).rotate(in, out);
        }

        @Override
        public String toString() {
            return "randomized Hadamard Q/K rotation (seed " + seed + ") on " + hadamard.backend().name();
        }
    }
}
