package org.offload4j.cuda.w4a16;

import org.offload4j.core.Args;

/**
 * Chooses the launch of the tensor-core W4A16 kernel ({@code w4a16_tc.cu}): rows per block, tile
 * shape, pipeline depth, SplitK factor, grid, shared memory and workspace.
 *
 * <h2>Rules</h2>
 * <ol>
 *   <li><b>Rows per block</b> ({@code mTiles} m16 tiles): 1 for {@code m ≤ 16}, 2 for {@code m ≤ 32},
 *       else 4; {@code mBlocks = ⌈m / (16·mTiles)⌉} blocks along m each stream the whole weight
 *       (so m > 64 costs one more pass over W per 64 rows; decode batches stay in one).</li>
 *   <li><b>Tile n</b> (64, 128 or 256; tile k = 2048 / tile n so that a stage is always 8 warp tiles
 *       = 4 KiB of weight): start at 128 for {@code mTiles ≤ 2} and 256 for {@code mTiles = 4}
 *       (a wider tile re-reads X from L2 fewer times: X traffic is {@code nTiles·m·k·2} bytes);
 *       halve it while the column tiles {@code nTiles·mBlocks} are fewer than an eighth of the SMs
 *       (small n: more, narrower tiles instead of many splits).</li>
 *   <li><b>Stages</b>: 4, the depth the kernels are compiled with (3 stages = 12 KiB of weight in
 *       flight per block).</li>
 *   <li><b>Splits</b>: k is cut into chunks of {@code unit = max(tile k, g)} rows when there is
 *       more than one group ({@code g < k}: a chunk starts at a group boundary), else {@code tile k}.
 *       Target {@code blocks = 2 · SMs} (two resident blocks per SM for {@code mTiles = 1}, the
 *       kernels' launch bounds; two waves of one block otherwise); {@code splits =
 *       ⌈target / (nTiles·mBlocks)⌉}, at most {@link #MAX_SPLITS} and at most the number of units.
 *       The chunk is {@code ⌈units / splits⌉} units and splits is then recomputed as
 *       {@code ⌈units / chunkUnits⌉}, so that no split is empty (this at most halves it).
 *       Hence whenever the work has at least SMs (unit, column tile, m block) pieces and 32
 *       splits reach the target, the grid has at least SMs blocks: one full wave.</li>
 *   <li><b>Workspace</b> (only when {@code splits > 1}): fp32 partials
 *       {@code mBlocks·splits·16·mTiles·nTiles·tileN·4} bytes, then {@code mBlocks·nTiles} int32
 *       counters; the counters must be zeroed once at allocation (every launch leaves them zero).</li>
 *   <li><b>Shared memory</b>: {@code max(stages·stageBytes, 32 KiB)} with {@code stageBytes = 4096 +
 *       16·mTiles·(2·tileK + 16) + 1152} (weight, X rows with a 16-byte pad, scales, zeros; the
 *       32 KiB is the in-block reduction buffer). Above 48 KiB the function's dynamic limit must be
 *       raised ({@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}).</li>
 * </ol>
 * The same arithmetic is in {@code w4a16_tc.cuh} ({@code tc_tile_k}, {@code tc_stage_bytes},
 * {@code tc_smem_bytes}).
 */
public final class TcSplitKPlanner {
    /** Largest split factor the planner chooses. */
    public static final int MAX_SPLITS = 32;
    /** Pipeline depth the kernels are compiled with. */
    public static final int STAGES = 4;
    /** Threads per block. */
    public static final int THREADS = 256;

    private TcSplitKPlanner() {}

    /**
     * A launch of one {@code o4j_w4a16_tc_*} kernel.
     *
     * @param mTiles         m16 tiles per block (1, 2, 4)
     * @param tileN          columns per block (64, 128, 256)
     * @param tileK          rows of k per stage (128, 64, 32)
     * @param stages         pipeline depth
     * @param splits         SplitK factor (grid y)
     * @param kChunk         rows of k per split (multiple of tileK, and of g when there are several groups)
     * @param nTiles         grid x
     * @param mBlocks        grid z (dense launch)
     * @param smemBytes      dynamic shared memory per block
     * @param workspaceBytes fp32 partials plus counters (0 when splits = 1)
     * @param counterOffset  byte offset of the int32 counters in the workspace
     * @param counterCount   number of counters
     */
    public record Plan(int mTiles, int tileN, int tileK, int stages, int splits, int kChunk, int nTiles, int mBlocks,
                       int smemBytes, long workspaceBytes, long counterOffset, int counterCount) {
        /** Blocks in the grid. */
        public long blocks() {
            return (long) nTiles * splits * mBlocks;
        }

        /** Rows per block: {@code 16 · mTiles}. */
        public int rowsPerBlock() {
            return 16 * mTiles;
        }

        /** The kernel's name for X's dtype ({@code bf16} true, else fp16). */
        public String kernelName(boolean bf16) {
            return "o4j_w4a16_tc_" + (bf16 ? "bf16" : "f16") + "_m" + rowsPerBlock() + "_n" + tileN;
        }
    }

    /**
     * The plan for {@code Y[m, n] = X[m, k] · W[k, n]}.
     *
     * @param m         rows, ≥ 1
     * @param n         columns of W, positive multiple of 8
     * @param k         rows of W, positive multiple of 8
     * @param groupSize g: 32, 64, 128 or k (-1 means k)
     * @param smCount   multiprocessors of the device, ≥ 1
     */
    public static Plan plan(int m, int n, int k, int groupSize, int smCount) {
        Args.require(m >= 1, "m = " + m + " is not accepted; m must be ≥ 1");
        Args.require(n > 0 && n % 8 == 0, "n = " + n + " is not accepted; n must be a positive multiple of 8");
        Args.require(k > 0 && k % 8 == 0, "k = " + k + " is not accepted; k must be a positive multiple of 8");
        int g = groupSize == -1 ? k : groupSize;
        Args.require(g == k || g == 32 || g == 64 || g == 128,
                "groupSize = " + groupSize + " is not accepted; accepted: 32, 64, 128 or k (= " + k + ")");
        Args.require(k % g == 0, "k = " + k + " is not a multiple of groupSize = " + g);
        Args.require(smCount >= 1, "smCount = " + smCount + " is not accepted; it must be ≥ 1");

        int mTiles = m <= 16 ? 1 : m <= 32 ? 2 : 4;
        long mBlocks = Math.ceilDiv((long) m, 16L * mTiles);
        Args.require(mBlocks <= 65535, "m = " + m + " needs " + mBlocks + " row blocks; at most 65535 (grid z)");
        int slabs = TcPackedLayout.slabs(n);
        int tileN = mTiles == 4 ? 256 : 128;
        while (tileN > 64 && Math.ceilDiv(slabs, tileN / 64) * mBlocks < smCount / 8.0) {
            tileN /= 2;
        }
        int tileK = 16 * (8 / (tileN / 64));
        int nTiles = Math.ceilDiv(slabs, tileN / 64);
        int kPad = TcPackedLayout.paddedK(k);
        boolean severalGroups = g < k;
        int unit = severalGroups ? Math.max(tileK, g) : tileK;
        int units = Math.ceilDiv(kPad, unit);
        long tiles = (long) nTiles * mBlocks;
        int splits = (int) Math.min(MAX_SPLITS, Math.max(1, Math.ceilDiv(2L * smCount, tiles)));
        splits = Math.min(splits, units);
        int chunkUnits = Math.ceilDiv(units, splits);
        splits = Math.ceilDiv(units, chunkUnits);
        int kChunk = chunkUnits * unit;

        int stageBytes = stageBytes(mTiles, tileK);
        int smem = Math.max(STAGES * stageBytes, REDUCE_BYTES);
        long partials = 0;
        long counterOffset = 0;
        int counters = 0;
        if (splits > 1) {
            partials = mBlocks * splits * 16L * mTiles * nTiles * tileN * 4;
            counterOffset = partials;
            counters = (int) (mBlocks * nTiles);
        }
        long workspace = splits > 1 ? partials + 4L * counters : 0;
        return new Plan(mTiles, tileN, tileK, STAGES, splits, kChunk, nTiles, (int) mBlocks, smem, workspace,
                counterOffset, counters);
    }

    /** The in-block reduction buffer: 8 warps' worth of 16 × 64 fp32. */
    public static final int REDUCE_BYTES = 8 * 16 * 64 * 4;

    /** Bytes of one pipeline stage (mirrors {@code tc_stage_bytes}). */
    public static int stageBytes(int mTiles, int tileK) {
        return 4096 + 16 * mTiles * (2 * tileK + 16) + 1024 + 128;
    }
}
