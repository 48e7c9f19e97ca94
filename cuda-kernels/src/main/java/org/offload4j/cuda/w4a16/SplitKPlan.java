package org.offload4j.cuda.w4a16;

/**
 * How many k-splits the W4A16 SplitK kernel uses for a problem: a pure function of
 * {@code m, n, k}, the group size and the device's multiprocessor count, so a given problem on a
 * given GPU always gets the same split count and therefore bit-identical results.
 *
 * <p><b>Rules</b>, in order:
 * <ol>
 *   <li>{@code tiles = ceil(n/128) · ceil(m/8)} output tiles (W4A16Launch's stage-1 blocks per split).
 *       The goal is {@code TARGET_BLOCKS_PER_SM · smCount} blocks, enough to keep every SM busy
 *       streaming weights. If the tiles alone reach it: 1 split.</li>
 *   <li>Else {@code splits = ceil(goal / tiles)}, capped by {@link #MAX_SPLITS}, and by
 *       {@code (k/8) / MIN_WORDS_PER_SPLIT} so every split sums at least
 *       {@code 8·MIN_WORDS_PER_SPLIT} = 128 rows of k (shorter splits cost more in workspace traffic
 *       than they gain), and by the workspace bound {@code splits·m·n ≤ MAX_WORKSPACE_FLOATS}.</li>
 *   <li>Group alignment: if the group count {@code k/g} has a divisor in
 *       {@code [ceil(splits/2), splits]}, the largest such divisor is used, so that every split
 *       covers whole groups and no group's scales and zeros are read by two splits
 *       ({@code begin(z) = floor((k/8)·z/splits)} is then a multiple of {@code g/8}).</li>
 *   <li>At least 1.</li>
 * </ol>
 */
public final class SplitKPlan {
    /** Blocks per SM the planner aims for (128-thread blocks, 8 KiB shared memory each). */
    public static final int TARGET_BLOCKS_PER_SM = 4;
    /** Most splits ever used. */
    public static final int MAX_SPLITS = 32;
    /** Fewest qweight word rows (8 k-rows each) per split. */
    public static final int MIN_WORDS_PER_SPLIT = 16;
    /** Largest workspace, in floats (256 MiB). */
    public static final long MAX_WORKSPACE_FLOATS = 64L << 20;

    private final int splits;
    private final int tiles;
    private final String reason;

    private SplitKPlan(int splits, int tiles, String reason) {
        this.splits = splits;
        this.tiles = tiles;
        this.reason = reason;
    }

    /**
     * The plan for {@code y[m, n] = x[m, k] · W} with group size {@code groupSize} on a device with
     * {@code smCount} multiprocessors.
     *
     * @throws IllegalArgumentException for non-positive sizes, k or n not multiples of 8, or a
     *                                  group size that does not divide k
     */
    public static SplitKPlan plan(int m, int n, int k, int groupSize, int smCount) {
        if (m < 1 || n < 8 || n % 8 != 0 || k < 8 || k % 8 != 0 || smCount < 1
                || groupSize < 8 || groupSize % 8 != 0 || k % groupSize != 0) {
            throw new IllegalArgumentException("m = " + m + ", n = " + n + ", k = " + k + ", groupSize = " + groupSize
                    + ", smCount = " + smCount + ": need m ≥ 1, n and k positive multiples of 8, groupSize a multiple of 8 dividing k, smCount ≥ 1");
        }
        long tilesL = (long) ceilDiv(n, W4A16Launch.TILE_N) * ceilDiv(m, W4A16Launch.TILE_M);
        int tiles = (int) Math.min(tilesL, Integer.MAX_VALUE);
        long goal = (long) TARGET_BLOCKS_PER_SM * smCount;
        if (tilesL >= goal) {
            return new SplitKPlan(1, tiles, tiles + " tiles ≥ " + goal + " target blocks");
        }
        int kWords = k / 8;
        long want = ceilDiv(goal, tilesL);
        long cap = Math.min(MAX_SPLITS, Math.max(1, kWords / MIN_WORDS_PER_SPLIT));
        cap = Math.min(cap, Math.max(1, MAX_WORKSPACE_FLOATS / ((long) m * n)));
        int splits = (int) Math.max(1, Math.min(want, cap));
        String why = "ceil(" + goal + " target blocks / " + tiles + " tiles) = " + want + ", cap " + cap;
        int groups = k / groupSize;
        for (int s = splits; s >= (splits + 1) / 2 && s > 1; s--) {
            if (groups % s == 0) {
                if (s != splits) {
                    why += ", " + s + " divides the " + groups + " groups";
                }
                splits = s;
                break;
            }
        }
        return new SplitKPlan(splits, tiles, why);
    }

    /** The split count, {@code 1 ≤ splits ≤ k/8}. */
    public int splits() {
        return splits;
    }

    /** Stage-1 tiles per split. */
    public int tiles() {
        return tiles;
    }

    /** How the rules arrived at {@link #splits()}, for logs. */
    public String reason() {
        return reason;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public String toString() {
        return "SplitKPlan[splits=" + splits + ", tiles=" + tiles + ": " + reason + "]";
    }
}
