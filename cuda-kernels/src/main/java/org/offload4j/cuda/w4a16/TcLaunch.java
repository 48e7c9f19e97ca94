package org.offload4j.cuda.w4a16;

import java.util.List;
import org.offload4j.core.DType;
import org.offload4j.cuda.driver.KernelParams;
import org.offload4j.cuda.kernels.KernelName;

/**
 * The launch contract of the tensor-core W4A16 kernels ({@code src/main/cuda/w4a16_tc.cu}, section
 * 6 of its header), as pure functions: kernel choice, grid, the argument list in the order of
 * {@code O4J_TC_PARAMS}, the workspace a launch needs and the preconditions on X. Everything here
 * runs without a GPU and is tested against the {@code .cu} source.
 *
 * <pre>
 *   kernel  o4j_w4a16_tc_{f16|bf16}_m{16|32|64}_n{64|128|256}   (TcSplitKPlanner.Plan.kernelName)
 *   grid    (nTiles, splits, problems · mBlocksPerProblem)      block 256   smem plan.smemBytes()
 *   args    x, qw, scales, zeros, bias, y, workspace, counters, problems,
 *           m, n, k, group_size, groups, k_pad, ldx, ldy, scale_kind, bias_f32, splits, k_chunk,
 *           m_blocks_per_problem, qw_expert_stride, scale_expert_stride, zero_expert_stride,
 *           bias_expert_stride
 *   workspace  fp32 partials [z][splits][16·mTiles][nTiles·tileN] and int32 counters [z][nTiles],
 *              only when splits > 1; the counters zero before the first launch (left zero by each)
 * </pre>
 */
public final class TcLaunch {
    private TcLaunch() {
    }

    /** The kernel's parameters in order, as {@code O4J_TC_PARAMS} spells them; checked against the .cu by a test. */
    public static final List<String> ARGUMENTS = List.of(
            "const void *x", "const uint4 *qw", "const void *scales", "const uint32_t *zeros", "const void *bias",
            "void *y", "float *workspace", "int *counters", "const int *problems",
            "int m", "int n", "int k", "int group_size", "int groups", "int k_pad", "int ldx", "int ldy",
            "int scale_kind", "int bias_f32", "int splits", "int k_chunk", "int m_blocks_per_problem",
            "long long qw_expert_stride", "long long scale_expert_stride", "long long zero_expert_stride",
            "long long bias_expert_stride");

    /** gridDim.z limit: problems · m blocks per problem. */
    public static final int MAX_GRID_Z = 65535;
    /**
     * Rows of one problem of a grouped launch at most: an expert with more rows is cut into
     * several problems (consecutive row ranges of the same expert), so that one problem's m blocks
     * of 16 rows or more fit grid z.
     */
    public static final int MAX_PROBLEM_ROWS = MAX_GRID_Z * 16;

    /**
     * A packed weight (one, or {@code E} experts back to back) on the device, in the layout of
     * {@link TcPackedLayout}: addresses, geometry and the distances between experts (0 for one).
     *
     * @param qweight          packed weight
     * @param scales           packed scales
     * @param zeros            packed zeros, 0 (null) when symmetric
     * @param k                rows of W
     * @param n                columns of W
     * @param groupSize        g
     * @param scaleKind        {@link TcPackedLayout#SCALE_F16}, {@code _BF16} or {@code _F32}
     * @param qwExpertStride   16-byte vectors between experts' packed weights
     * @param scaleExpertStride scale elements between experts
     * @param zeroExpertStride uint32 words between experts
     */
    public record DeviceWeight(long qweight, long scales, long zeros, int k, int n, int groupSize, int scaleKind,
                               long qwExpertStride, long scaleExpertStride, long zeroExpertStride) {
        public int groups() {
            return k / groupSize;
        }

        public int kPad() {
            return TcPackedLayout.paddedK(k);
        }

        /** The strides of one {@link TcPackedLayout} when {@code E} of them are stored back to back. */
        public static long qwVectors(TcPackedLayout l) {
            return l.qweight().byteSize() / 16;
        }

        public static long scaleElements(TcPackedLayout l) {
            return l.scales().byteSize() / TcPackedLayout.scaleBytes(l.scaleKind());
        }

        public static long zeroWords(TcPackedLayout l) {
            return l.zeros() == null ? 0 : l.zeros().byteSize() / 4;
        }
    }

    /** The entry point of {@code plan} for activations of {@code dtype} (BF16 or FP16). */
    public static KernelName kernel(TcSplitKPlanner.Plan plan, DType dtype) {
        boolean bf16 = switch (dtype) {
            case BF16 -> true;
            case FP16 -> false;
            default -> throw new IllegalArgumentException("dtype = " + dtype + "; the tensor-core W4A16 kernels take BF16 or FP16");
        };
        String symbol = plan.kernelName(bf16);
        for (KernelName name : KernelName.values()) {
            if (name.symbol().equals(symbol)) {
                return name;
            }
        }
        throw new LinkageError(symbol + " is not in KernelName: the plan names a kernel the fatbin does not list");
    }

    /**
     * Whether X meets the kernel's load preconditions: its address 16-byte aligned and its row
     * stride a multiple of 8 elements (every 16-byte cp.async of a row then stays aligned), within
     * the kernel's {@code int ldx}.
     */
    public static boolean xAligned(long xAddress, long ldx) {
        return (xAddress & 15) == 0 && ldx % 8 == 0 && ldx > 0 && ldx <= Integer.MAX_VALUE;
    }

    /** Whether Y's row stride fits the kernel's {@code int ldy} (Y has no alignment precondition). */
    public static boolean yFits(long ldy) {
        return ldy > 0 && ldy <= Integer.MAX_VALUE;
    }

    /** Bytes of fp32 partials a launch of {@code plan} with {@code zBlocks} grid-z blocks needs (0 for one split). */
    public static long partialsBytes(TcSplitKPlanner.Plan plan, long zBlocks) {
        return plan.splits() == 1 ? 0 : zBlocks * plan.splits() * 16L * plan.mTiles() * plan.nTiles() * plan.tileN() * 4;
    }

    /** Counters a launch of {@code plan} with {@code zBlocks} grid-z blocks needs (0 for one split). */
    public static long counterCount(TcSplitKPlanner.Plan plan, long zBlocks) {
        return plan.splits() == 1 ? 0 : zBlocks * plan.nTiles();
    }

    /**
     * Writes the kernel's arguments in order ({@link #ARGUMENTS}).
     *
     * @param p                 the parameter buffer, cleared here
     * @param x                 X's device address (see {@link #xAligned})
     * @param w                 the packed weight
     * @param bias              bias, 0 for none; fp32 ({@code biasF32}) or X's dtype, {@code [E][n]}
     * @param biasF32           whether the bias is fp32
     * @param biasExpertStride  bias elements between experts (0 for one weight)
     * @param y                 Y's device address
     * @param workspace         fp32 partials, 0 when {@code plan.splits() == 1}
     * @param counters          int32 counters, zero, 0 when {@code plan.splits() == 1}
     * @param problems          device {@code int[P][3]} {expert, row_begin, row_end}, 0 for a dense launch
     * @param m                 rows (dense); ignored by the kernel when {@code problems != 0}
     * @param ldx               X's row stride, elements
     * @param ldy               Y's row stride, elements
     * @param plan              the planner's launch
     */
    public static KernelParams params(KernelParams p, long x, DeviceWeight w, long bias, boolean biasF32, long biasExpertStride,
                                      long y, long workspace, long counters, long problems, int m, long ldx, long ldy,
                                      TcSplitKPlanner.Plan plan) {
        return p.clear()
                .pointer(x).pointer(w.qweight()).pointer(w.scales()).pointer(w.zeros()).pointer(bias)
                .pointer(y).pointer(workspace).pointer(counters).pointer(problems)
                .i32(m).i32(w.n()).i32(w.k()).i32(w.groupSize()).i32(w.groups()).i32(w.kPad())
                .i32(Math.toIntExact(ldx)).i32(Math.toIntExact(ldy))
                .i32(w.scaleKind()).i32(biasF32 ? 1 : 0).i32(plan.splits()).i32(plan.kChunk()).i32(plan.mBlocks())
                .i64(w.qwExpertStride()).i64(w.scaleExpertStride()).i64(w.zeroExpertStride()).i64(biasExpertStride);
    }

    /**
     * The {@code problems} list of a grouped launch from MoE expert offsets: one
     * {@code {expert, row_begin, row_end}} per expert with at least one row, in expert order; an
     * expert with more than {@link #MAX_PROBLEM_ROWS} rows gets one problem per that many rows.
     *
     * @param offsets {@code E + 1} non-decreasing row offsets, {@code offsets[0] = 0}
     */
    public static int[] problems(int[] offsets) {
        return problems(offsets, MAX_PROBLEM_ROWS);
    }

    /**
     * {@link #problems(int[])} with problems of at most {@code maxProblemRows} rows. With a plan's
     * {@link TcSplitKPlanner.Plan#rowsPerBlock} it gives one problem per row block, the list a
     * launch of {@link #oneBlockPerProblem} takes.
     */
    public static int[] problems(int[] offsets, int maxProblemRows) {
        int count = 0;
        for (int e = 0; e + 1 < offsets.length; e++) {
            count += Math.ceilDiv(offsets[e + 1] - offsets[e], maxProblemRows);
        }
        int[] out = new int[3 * count];
        int i = 0;
        for (int e = 0; e + 1 < offsets.length; e++) {
            for (int begin = offsets[e]; begin < offsets[e + 1]; begin += Math.min(maxProblemRows, offsets[e + 1] - begin)) {
                out[i++] = e;
                out[i++] = begin;
                out[i++] = begin + Math.min(maxProblemRows, offsets[e + 1] - begin);
            }
        }
        return out;
    }

    /** The most rows of any problem in a {@link #problems} list. */
    public static int maxRows(int[] problems) {
        int max = 0;
        for (int i = 0; i < problems.length; i += 3) {
            max = Math.max(max, problems[i + 2] - problems[i + 1]);
        }
        return max;
    }

    /**
     * The plan of a grouped launch of {@code count} problems, the largest with {@code maxRows} rows
     * (at most {@link #MAX_PROBLEM_ROWS}): the planner's plan for {@code maxRows} rows on a share
     * {@code ⌈smCount / count⌉} of the SMs, so that the grid ({@code count} times the dense one)
     * still aims at about two blocks per SM. Grid z is {@code problems · plan.mBlocks()}; where
     * {@code count} problems would exceed {@link #MAX_GRID_Z}, the problems are launched in
     * chunks of {@link #problemsPerLaunch} (one after the other on the stream).
     */
    public static TcSplitKPlanner.Plan groupedPlan(int count, int maxRows, int n, int k, int groupSize, int smCount) {
        if (count < 1) {
            throw new IllegalArgumentException("count = " + count + "; a grouped launch needs at least one problem");
        }
        if (maxRows < 1 || maxRows > MAX_PROBLEM_ROWS) {
            throw new IllegalArgumentException("maxRows = " + maxRows + "; a problem has 1 to " + MAX_PROBLEM_ROWS
                    + " rows (problems() cuts larger experts)");
        }
        return TcSplitKPlanner.plan(maxRows, n, k, groupSize, Math.max(1, Math.ceilDiv(smCount, count)));
    }

    /**
     * {@code plan} with one row block per problem ({@code m_blocks_per_problem = 1}), for a problem
     * list cut at {@link TcSplitKPlanner.Plan#rowsPerBlock} rows: grid z is then the number of row
     * blocks that hold rows, instead of every problem times the largest one's blocks. Each block
     * computes what it computed in the uncut launch (same rows, tiles and splits): same bits.
     */
    public static TcSplitKPlanner.Plan oneBlockPerProblem(TcSplitKPlanner.Plan plan) {
        return new TcSplitKPlanner.Plan(plan.mTiles(), plan.tileN(), plan.tileK(), plan.stages(), plan.splits(), plan.kChunk(),
                plan.nTiles(), 1, plan.smemBytes(), partialsBytes(plan, 1) + 4 * counterCount(plan, 1), partialsBytes(plan, 1),
                (int) counterCount(plan, 1));
    }

    /** Problems one grouped launch of {@code plan} takes: grid z = problems · mBlocks ≤ {@link #MAX_GRID_Z}. */
    public static int problemsPerLaunch(TcSplitKPlanner.Plan plan) {
        return MAX_GRID_Z / plan.mBlocks();
    }
}
