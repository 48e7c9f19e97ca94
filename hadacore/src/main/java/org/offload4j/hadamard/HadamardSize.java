package org.offload4j.hadamard;

/**
 * A validated transform size {@code d} and how it factors: {@code d = m · n} with
 * {@code n = 2^log2n}, and {@code H_d = H_m ⊗ H_n} (see {@link HadamardMatrices}).
 *
 * <p><b>Accepted sizes.</b> Powers of two {@code 2 ≤ d ≤ 32768} ({@code m = 1}), and
 * {@code d = m · 2^k ≤ 32768} with {@code m ∈ {12, 20, 28, 40}} and {@code k ≥ 0}.
 *
 * <p><b>One factorization per d.</b> Sizes with odd part 5 could be read two ways once
 * {@code d ≥ 40}: {@code 40 · 2^k} or {@code 20 · 2^(k+1)}. The two give different (equally
 * orthogonal) matrices, so the contract fixes one: {@code m = 40} whenever {@code 40} divides
 * {@code d}, and {@code m = 20} only for {@code d = 20} itself. This is the order QuaRot's
 * {@code get_hadK} tries the factors in, and it lets a backend use {@code H_40 = H_2 ⊗ H_20}
 * (one butterfly plus a 20-point stage). Odd part 3 always means {@code m = 12}, odd part 7
 * {@code m = 28}; no other odd part is accepted.
 *
 * <p>Row element {@code i} of a transform of this size has block index {@code a = i / n} (which
 * of the {@code m} blocks) and in-block index {@code b = i % n}.
 */
public final class HadamardSize {
    /** The largest accepted {@code d}. */
    public static final int MAX_D = 32768;

    /** What {@link #of} accepts, for error messages. */
    public static final String ACCEPTED = "d = 2^k with 2 ≤ d ≤ " + MAX_D
            + ", or d = m·2^k with m ∈ {12, 20, 28, 40}, k ≥ 0 and d ≤ " + MAX_D;

    private final int d;
    private final int m;
    private final int n;
    private final int log2n;

    private HadamardSize(int d, int m, int n) {
        this.d = d;
        this.m = m;
        this.n = n;
        this.log2n = Integer.numberOfTrailingZeros(n);
    }

    /**
     * The plan for {@code d}.
     *
     * @throws IllegalArgumentException when {@code d} is not an accepted size; the message names
     *                                  {@code d}, its value and {@link #ACCEPTED}
     */
    public static HadamardSize of(int d) {
        int m = blockCount(d);
        if (m == 0) {
            throw new IllegalArgumentException("d = " + d + " is not a supported Hadamard size; accepted: " + ACCEPTED);
        }
        return new HadamardSize(d, m, d / m);
    }

    /** True when {@link #of} accepts {@code d}. */
    public static boolean isSupported(long d) {
        return d > 0 && d <= MAX_D && blockCount((int) d) != 0;
    }

    /** {@code m} for an accepted {@code d}, else 0. */
    private static int blockCount(int d) {
        if (d < 2 || d > MAX_D) {
            return 0;
        }
        int odd = d >>> Integer.numberOfTrailingZeros(d);
        return switch (odd) {
            case 1 -> 1;
            case 3 -> d % 12 == 0 ? 12 : 0;
            case 7 -> d % 28 == 0 ? 28 : 0;
            case 5 -> d % 40 == 0 ? 40 : d == 20 ? 20 : 0;
            default -> 0;
        };
    }

    /** The transform size, the length of each row. */
    public int d() {
        return d;
    }

    /** The order of the non-power-of-two factor: 1, 12, 20, 28 or 40. */
    public int m() {
        return m;
    }

    /** The power-of-two factor {@code d / m}. */
    public int n() {
        return n;
    }

    /** {@code log2(n)}. */
    public int log2n() {
        return log2n;
    }

    /** True when {@code d} is a power of two ({@code m = 1}), where {@code H_d} is symmetric. */
    public boolean isPowerOfTwo() {
        return m == 1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HadamardSize s && s.d == d;
    }

    @Override
    public int hashCode() {
        return d;
    }

    /** E.g. {@code d=3072 (12·256)} or {@code d=1024}. */
    @Override
    public String toString() {
        return m == 1 ? "d=" + d : "d=" + d + " (" + m + "·" + n + ")";
    }
}
