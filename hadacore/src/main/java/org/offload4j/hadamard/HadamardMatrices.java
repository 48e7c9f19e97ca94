package org.offload4j.hadamard;

/**
 * The Hadamard matrices behind {@code H_d = H_m ⊗ H_n}: Sylvester's for powers of two, and one
 * fixed construction for each {@code m ∈ {12, 20, 28, 40}}. Every matrix is a fresh
 * {@code int[][]} of ±1 entries (callers may modify it), with {@code H · Hᵀ = order · I} exactly.
 *
 * <p><b>Sylvester, {@code n = 2^k}.</b> {@code H_1 = [1]}, {@code H_2n = [[H_n, H_n], [H_n, −H_n]]},
 * so {@code H_n[i][j] = (−1)^popcount(i & j)} (natural or "Hadamard" order, not Walsh/sequency
 * order). It is symmetric.
 *
 * <p><b>The quadratic character and the Jacobsthal matrix.</b> For an odd prime {@code q},
 * {@code χ(x) = 0} if {@code x ≡ 0}, {@code +1} if {@code x} is a non-zero square modulo
 * {@code q}, {@code −1} otherwise. The Jacobsthal matrix is the {@code q × q} matrix
 * {@code Q[i][j] = χ(i − j)}. It has zero diagonal, rows summing to 0, and
 * {@code Q·Qᵀ = q·I − J} ({@code J} all ones); it is antisymmetric when {@code q ≡ 3 (mod 4)}
 * and symmetric when {@code q ≡ 1 (mod 4)}.
 *
 * <p><b>Paley I, {@code q ≡ 3 (mod 4)}</b> (order {@code q + 1}). With {@code j} the all-ones
 * column, {@code S = [[0, jᵀ], [−j, Q]]} (antisymmetric, {@code S·Sᵀ = q·I}) and
 * {@code H = I + S}. Its first row is all ones and its first column is {@code 1, −1, …, −1}.
 *
 * <p><b>Paley II, {@code q ≡ 1 (mod 4)}</b> (order {@code 2(q + 1)}). With
 * {@code S = [[0, jᵀ], [j, Q]]} (symmetric, {@code S·Sᵀ = q·I}), each entry of {@code S} becomes
 * a 2×2 block: a 0 (the diagonal) becomes {@code [[1, −1], [−1, −1]]} and a ±1 becomes
 * {@code ±[[1, 1], [1, −1]]}; that is {@code H = S ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]]}.
 * Row/column {@code 2r + s} of {@code H} comes from row/column {@code r} of {@code S} and
 * {@code s} of the block.
 *
 * <p><b>The four fixed orders.</b>
 * <ul>
 *   <li>{@code H_12} = Paley I with {@code q = 11} (squares mod 11: 1, 3, 4, 5, 9);</li>
 *   <li>{@code H_20} = Paley I with {@code q = 19} (squares mod 19: 1, 4, 5, 6, 7, 9, 11, 16, 17);</li>
 *   <li>{@code H_28} = Paley II with {@code q = 13} (squares mod 13: 1, 3, 4, 9, 10, 12);</li>
 *   <li>{@code H_40 = [[H_20, H_20], [H_20, −H_20]] = H_2 ⊗ H_20}.</li>
 * </ul>
 * {@code H_12}, {@code H_20} and {@code H_40} are not symmetric (Paley I is {@code I} plus an
 * antisymmetric matrix), so their transposed transforms differ from the forward ones; Paley II
 * is symmetric (a symmetric {@code S} with symmetric blocks), so for {@code m = 28}, as for
 * powers of two, {@code H_d = H_dᵀ}.
 */
public final class HadamardMatrices {
    private HadamardMatrices() {}

    /** The non-power-of-two orders a transform size may contain. */
    public static final int[] SPECIAL_ORDERS = {12, 20, 28, 40};

    /**
     * {@code H_m}: Sylvester's for a power of two (including {@code m = 1}), else the fixed
     * construction for {@code m ∈ {12, 20, 28, 40}}.
     */
    public static int[][] of(int m) {
        if (m >= 1 && Integer.bitCount(m) == 1) {
            return sylvester(m);
        }
        return switch (m) {
            case 12 -> paleyI(11);
            case 20 -> paleyI(19);
            case 28 -> paleyII(13);
            case 40 -> {
                int[][] h20 = paleyI(19);
                yield kronecker(new int[][] {{1, 1}, {1, -1}}, h20);
            }
            default -> throw new IllegalArgumentException("m = " + m
                    + " has no Hadamard matrix here; accepted: a power of two, 12, 20, 28 or 40");
        };
    }

    /** Sylvester's {@code H_n}, built by doubling. */
    public static int[][] sylvester(int n) {
        if (n < 1 || Integer.bitCount(n) != 1) {
            throw new IllegalArgumentException("n = " + n + " must be a power of two ≥ 1");
        }
        int[][] h = {{1}};
        for (int size = 1; size < n; size *= 2) {
            int[][] next = new int[2 * size][2 * size];
            for (int i = 0; i < size; i++) {
                for (int j = 0; j < size; j++) {
                    next[i][j] = h[i][j];
                    next[i][j + size] = h[i][j];
                    next[i + size][j] = h[i][j];
                    next[i + size][j + size] = -h[i][j];
                }
            }
            h = next;
        }
        return h;
    }

    /** Entry {@code (i, j)} of Sylvester's matrix of any power-of-two order above both indices. */
    public static int sylvesterEntry(int i, int j) {
        return (Integer.bitCount(i & j) & 1) == 0 ? 1 : -1;
    }

    /** Entry {@code (i, j)} of {@code H_d = H_m ⊗ H_n} for {@code 0 ≤ i, j < d}. */
    public static int entry(HadamardSize size, int[][] hm, int i, int j) {
        int n = size.n();
        return hm[i / n][j / n] * sylvesterEntry(i % n, j % n);
    }

    /** The Kronecker product {@code a ⊗ b}: entry {@code (ia·rows(b) + ib, ja·cols(b) + jb) = a[ia][ja]·b[ib][jb]}. */
    public static int[][] kronecker(int[][] a, int[][] b) {
        int br = b.length;
        int bc = b[0].length;
        int[][] out = new int[a.length * br][a[0].length * bc];
        for (int ia = 0; ia < a.length; ia++) {
            for (int ja = 0; ja < a[0].length; ja++) {
                for (int ib = 0; ib < br; ib++) {
                    for (int jb = 0; jb < bc; jb++) {
                        out[ia * br + ib][ja * bc + jb] = a[ia][ja] * b[ib][jb];
                    }
                }
            }
        }
        return out;
    }

    /** The dense {@code H_d} of a size, {@code d²} entries: for tests at moderate {@code d}. */
    public static int[][] dense(HadamardSize size) {
        return kronecker(of(size.m()), sylvester(size.n()));
    }

    /** {@code χ(x)} modulo the odd prime {@code q}: 0, +1 (non-zero square) or −1. */
    public static int quadraticCharacter(int x, int q) {
        int r = Math.floorMod(x, q);
        if (r == 0) {
            return 0;
        }
        for (int y = 1; y < q; y++) {
            if (y * y % q == r) {
                return 1;
            }
        }
        return -1;
    }

    /** The Jacobsthal matrix {@code Q[i][j] = χ(i − j)} of an odd prime {@code q}. */
    public static int[][] jacobsthal(int q) {
        requireOddPrime(q);
        int[][] out = new int[q][q];
        for (int i = 0; i < q; i++) {
            for (int j = 0; j < q; j++) {
                out[i][j] = quadraticCharacter(i - j, q);
            }
        }
        return out;
    }

    /** Paley's first construction, order {@code q + 1}, for a prime {@code q ≡ 3 (mod 4)}. */
    public static int[][] paleyI(int q) {
        requireOddPrime(q);
        if (q % 4 != 3) {
            throw new IllegalArgumentException("Paley I needs q ≡ 3 (mod 4), got q = " + q);
        }
        int[][] s = core(q, -1);
        for (int i = 0; i <= q; i++) {
            s[i][i] += 1; // H = I + S; S has a zero diagonal
        }
        return s;
    }

    /** Paley's second construction, order {@code 2(q + 1)}, for a prime {@code q ≡ 1 (mod 4)}. */
    public static int[][] paleyII(int q) {
        requireOddPrime(q);
        if (q % 4 != 1) {
            throw new IllegalArgumentException("Paley II needs q ≡ 1 (mod 4), got q = " + q);
        }
        int[][] s = core(q, 1);
        int size = q + 1;
        int[][] h = new int[2 * size][2 * size];
        for (int r = 0; r < size; r++) {
            for (int c = 0; c < size; c++) {
                int[][] block = s[r][c] == 0 ? new int[][] {{1, -1}, {-1, -1}}
                        : new int[][] {{s[r][c], s[r][c]}, {s[r][c], -s[r][c]}};
                for (int u = 0; u < 2; u++) {
                    for (int v = 0; v < 2; v++) {
                        h[2 * r + u][2 * c + v] = block[u][v];
                    }
                }
            }
        }
        return h;
    }

    /** {@code [[0, jᵀ], [columnSign · j, Q]]}, order {@code q + 1}. */
    private static int[][] core(int q, int columnSign) {
        int[][] jac = jacobsthal(q);
        int[][] s = new int[q + 1][q + 1];
        for (int i = 1; i <= q; i++) {
            s[0][i] = 1;
            s[i][0] = columnSign;
            System.arraycopy(jac[i - 1], 0, s[i], 1, q);
        }
        return s;
    }

    private static void requireOddPrime(int q) {
        boolean prime = q > 2;
        for (int f = 2; prime && f * f <= q; f++) {
            prime = q % f != 0;
        }
        if (!prime) {
            throw new IllegalArgumentException("q = " + q + " must be an odd prime");
        }
    }
}
