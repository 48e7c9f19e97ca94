package org.offload4j.hadamard;

import java.util.SplittableRandom;
import org.offload4j.core.Args;
import org.offload4j.core.Tensor;

/**
 * A seeded random orthogonal rotation {@code R = diag(s) · H_d / √d} of the last dimension, as
 * used to spread outliers before quantization (QuaRot, SpinQuant, FP8 attention).
 *
 * <p>{@link #rotate} computes {@code y = ((x ⊙ s) · H_d) / √d} and {@link #unrotate} its inverse
 * {@code x = ((y · H_dᵀ) / √d) ⊙ s}, row by row; the backend applies the signs in the same pass
 * as the transform, with no extra pass over memory. The sign vector is fixed by {@code (d, seed)}:
 * {@code s[i] = +1} when the {@code i}-th call ({@code i = 0, 1, …}) of
 * {@link SplittableRandom#nextBoolean()} on {@code new SplittableRandom(seed)} returns true, else
 * {@code −1}. Tensors are checked and rounded as by {@link Hadamard}, and their last dimension
 * must be {@code d}.
 */
public final class RandomizedRotation {
    private final Hadamard hadamard;
    private final HadamardSize size;
    private final long seed;
    private final float[] signs;
    private final float scale;

    private RandomizedRotation(Hadamard hadamard, HadamardSize size, long seed) {
        this.hadamard = hadamard;
        this.size = size;
        this.seed = seed;
        this.signs = new float[size.d()];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < signs.length; i++) {
            signs[i] = rnd.nextBoolean() ? 1f : -1f;
        }
        this.scale = Hadamard.defaultScale(size.d());
    }

    /**
     * The rotation of size {@code d} with the signs of {@code seed}, on the default backend.
     *
     * @throws IllegalArgumentException when {@code d} is not a supported size ({@link HadamardSize#ACCEPTED})
     */
    public static RandomizedRotation of(int d, long seed) {
        HadamardSize size = HadamardSize.of(d);
        return new RandomizedRotation(Hadamard.create(), size, seed);
    }

    /** As {@link #of(int, long)}, running on {@code hadamard}'s backend. */
    public static RandomizedRotation of(Hadamard hadamard, int d, long seed) {
        Args.notNull(hadamard, "hadamard");
        return new RandomizedRotation(hadamard, HadamardSize.of(d), seed);
    }

    public int d() {
        return size.d();
    }

    public long seed() {
        return seed;
    }

    /** The transform this rotation runs on. */
    public Hadamard hadamard() {
        return hadamard;
    }

    /** A copy of the ±1 sign vector {@code s}. */
    public float[] signs() {
        return signs.clone();
    }

    /** {@code out = ((in ⊙ s) · H_d) / √d}, row by row; {@code out} may be {@code in}. */
    public void rotate(Tensor in, Tensor out) {
        HadamardSize checked = check(in, out);
        hadamard.run(in, out, checked, scale, false, signs, null);
    }

    /** {@code out = ((in · H_dᵀ) / √d) ⊙ s}, row by row: the inverse of {@link #rotate}. */
    public void unrotate(Tensor in, Tensor out) {
        HadamardSize checked = check(in, out);
        hadamard.run(in, out, checked, scale, true, null, signs);
    }

    private HadamardSize check(Tensor in, Tensor out) {
        HadamardSize s = hadamard.check(in, out);
        if (s.d() != size.d()) {
            throw new IllegalArgumentException("in has last dimension " + s.d() + "; this rotation is for d = " + size.d());
        }
        return s;
    }

    @Override
    public String toString() {
        return "RandomizedRotation(d=" + size.d() + ", seed=" + seed + ") on " + hadamard.backend().name();
    }
}
