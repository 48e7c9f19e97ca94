package org.offload4j.tornado;

import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.hadamard.HadamardKernel;
import org.offload4j.hadamard.HadamardMatrices;
import org.offload4j.hadamard.HadamardSize;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.enums.TornadoDeviceType;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.ShortArray;
import uk.ac.manchester.tornado.api.types.collections.VectorFloat8;

/**
 * The Hadamard op on TornadoVM ({@link HadamardKernels} has the device code). One compiled plan
 * per (dtype, row capacity, d, transpose, form), kept for the next call; calls on one instance are
 * serialized.
 *
 * <p><b>Row capacity.</b> A plan's arrays hold {@link Plans#capacity} rows (the next power of two)
 * and each call launches only its own rows' work-groups ({@link Plans.Grids#regroup}) and copies
 * only its own rows back ({@link Plans.Fetch}), so row counts 65 … 128 share one compiled plan
 * (compiling is about a second on PoCL) instead of one each. The price: the input array
 * ({@code EVERY_EXECUTION}) moves whole, up to twice the call's bytes (TornadoVM has no partial
 * copy to the device). The element-wise load and store passes run on a grid of d columns by
 * the call's rows ({@link Plans.Grids#groupsFolded}), so they touch only the call's rows (on
 * calls of over 65535 rows, also fewer than rows / 65535 + 1 rows past them, within the capacity).
 *
 * <p><b>Three forms.</b>
 * <ul>
 *   <li>{@code fused}, for d ≤ {@value HadamardKernels#LOCAL_D}: one kernel, one pass over memory
 *       (4 bytes per bf16 element, the op's floor), one work-group per row. The default on a GPU.
 *   <li>{@code passes}: load, transform, store as three tasks through an fp32 workspace (20 bytes
 *       per bf16 element), the transform one work-group per row ({@link HadamardKernels#fwhtGlobal}).
 *       Any d.
 *   <li>{@code rows}: the same load and store, the transform one work-item per row in
 *       {@code float8} vectors ({@link HadamardKernels#fwhtRows}), for blocks of n ≥ 8. The
 *       default on a CPU device, where it is the fastest: 2^24 bf16, d = 1024, PoCL on a Zen 3 VM
 *       (AVX2): rows 149 ms, passes 239, fused 497. PoCL vectorizes the loop-free element-wise
 *       load and store kernels and the {@code float8} code, not the per-work-item loops of the
 *       fused kernel and of {@code fwhtGlobal}. On a GPU it would leave neighbouring work-items
 *       on rows d apart, with no coalescing.
 * </ul>
 * {@code -Doffload.tornado.hadamard=fused|passes|rows} forces one (read at every call) where it
 * applies; elsewhere the op takes {@code passes}.
 */
final class TornadoHadamardKernel implements HadamardKernel {
    /** Work-items per row: enough to cover a stage's d/2 butterflies in a few rounds. */
    static final int MAX_THREADS = 256;

    private final TornadoDevice device;
    private final Plans.Cache<Key, Plan> plans = new Plans.Cache<>(8);
    /** Plans compiled so far (for tests). */
    private int plansBuilt;

    TornadoHadamardKernel(TornadoDevice device) {
        this.device = device;
    }

    /** How a plan computes the op (see the class comment). */
    enum Form {
        /** One kernel, the row in local memory: d ≤ {@value HadamardKernels#LOCAL_D}. */
        FUSED,
        /** Load, transform, store; the transform one work-group per row ({@link HadamardKernels#fwhtGlobal}). */
        PASSES,
        /** Load, transform, store; the transform one work-item per row in {@code float8} ({@link HadamardKernels#fwhtRows}): n ≥ 8. */
        ROWS
    }

    private record Key(DType dtype, int rowCap, int d, boolean transpose, Form form) {}

    @Override
    public synchronized void transform(Tensor in, Tensor out, HadamardSize size, float scale, boolean transpose,
                                       float[] preSigns, float[] postSigns) {
        Form form = form(size);
        int rows = Plans.elements("hadamard rows", in.rows());
        int rowCap = Plans.capacity(rows, size.d());
        plans.get(new Key(in.dtype(), rowCap, size.d(), transpose, form), () -> {
            plansBuilt++;
            return new Plan(in.dtype(), rowCap, size, transpose, form);
        }).run(in, out, rows, scale, preSigns, postSigns);
    }

    /** Plans compiled by this kernel so far. */
    synchronized int plansBuilt() {
        return plansBuilt;
    }

    /**
     * The form for {@code size}: the one asked for where it applies, else {@code PASSES} (see the
     * class comment); by default {@code ROWS} on a CPU device, {@code FUSED} elsewhere.
     */
    Form form(HadamardSize size) {
        String asked = System.getProperty("offload.tornado.hadamard", "");
        Form form = switch (asked) {
            case "fused" -> Form.FUSED;
            case "passes" -> Form.PASSES;
            case "rows" -> Form.ROWS;
            case "" -> device.getDeviceType() == TornadoDeviceType.CPU ? Form.ROWS : Form.FUSED;
            default -> throw new IllegalArgumentException("-Doffload.tornado.hadamard=" + asked + ": expected fused, passes or rows");
        };
        boolean applies = switch (form) {
            case FUSED -> size.d() <= HadamardKernels.LOCAL_D;
            case ROWS -> size.n() >= 8;
            case PASSES -> true;
        };
        return applies ? form : Form.PASSES;
    }

    private final class Plan implements AutoCloseable {
        final DType dtype;
        final int d;
        /** Work-group width of the element-wise passes: the largest power of two ≤ 256 dividing d. */
        final int columnGroup;
        /** Pre-signs {@code [0, d)}, post-signs {@code [d, 2d)}, scale at {@code 2d}. */
        final FloatArray signs;
        final FloatArray in32;
        final FloatArray out32;
        final ShortArray in16;
        final ShortArray out16;
        final TornadoExecutionPlan plan;
        final Plans.Grids grids;
        final Form form;
        /** The call's row count, then m: {@link HadamardKernels#fwhtRows}'s {@code rowCount}. */
        final IntArray rowCount = new IntArray(2);
        final String what;

        /** A plan for up to {@code rowCap} rows; the grids are set for the call's rows in {@link #run}. */
        Plan(DType dtype, int rowCap, HadamardSize size, boolean transpose, Form form) {
            this.dtype = dtype;
            this.d = size.d();
            this.columnGroup = Math.min(Plans.Grids.ITEM_GROUP, Integer.lowestOneBit(d));
            this.form = form;
            int total = Plans.elements("hadamard rows · d", rowCap, d);
            this.what = "hadamard " + size + " rows≤" + rowCap + " " + dtype.shortName() + (transpose ? " (inverse)" : "")
                    + " " + form.name().toLowerCase(java.util.Locale.ROOT);
            signs = new FloatArray(2 * d + 1);
            FloatArray pow2 = Codec.pow2Table();
            int m = size.m();
            rowCount.set(1, m);
            int[][] h = HadamardMatrices.of(m);
            IntArray hm = new IntArray(m * m);
            for (int a = 0; a < m; a++) {
                for (int b = 0; b < m; b++) {
                    hm.set(a * m + b, h[a][b]);
                }
            }
            boolean fp32 = dtype == DType.FP32;
            int fmt = fp32 ? HadamardKernels.FP32 : dtype == DType.BF16 ? Codec.BF16 : Codec.FP16;
            // The arrays of the other format are one-element placeholders for the fused kernel.
            in32 = new FloatArray(fp32 ? total : 1);
            out32 = new FloatArray(fp32 ? total : 1);
            in16 = new ShortArray(fp32 ? 1 : total);
            out16 = new ShortArray(fp32 ? 1 : total);
            String name = Plans.graphName("hadamard");
            TaskGraph g = new TaskGraph(name)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, pow2, hm)
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, fp32 ? in32 : in16, signs);
            KernelContext ctx = new KernelContext();
            int t = Math.min(Integer.highestOneBit(Math.max(1, d / 2)), MAX_THREADS); // power of two ≤ min(d/2, 256)
            int tr = transpose ? 1 : 0;
            grids = new Plans.Grids(name);
            if (form == Form.FUSED) {
                g.transferToDevice(DataTransferMode.FIRST_EXECUTION, fp32 ? in16 : in32, out16, out32);
                g.task("fused", HadamardKernels::fused, ctx, in16, in32, out16, out32, signs, pow2, hm, d, m, size.n(), tr, fmt);
                grids.groups("fused", rowCap, t);
            } else {
                FloatArray work = new FloatArray(total);
                g.transferToDevice(DataTransferMode.FIRST_EXECUTION, work);
                if (fp32) {
                    g.task("load", HadamardKernels::load32, ctx, in32, work, signs, d, rowCap);
                } else {
                    g.task("load", HadamardKernels::load16, ctx, in16, work, signs, pow2, d, rowCap, fmt);
                }
                int transformItems;
                if (form == Form.ROWS) {
                    transformItems = rowItems(rowCap);
                    VectorFloat8 scratch = new VectorFloat8(Plans.elements("hadamard work-items · d / 8", transformItems, d / 8));
                    int n8 = size.n() / 8;
                    int logHalf = n8 > 1 ? Integer.numberOfTrailingZeros(n8 / 2) : 0;
                    g.transferToDevice(DataTransferMode.FIRST_EXECUTION, scratch);
                    g.transferToDevice(DataTransferMode.EVERY_EXECUTION, rowCount);
                    g.task("fwht", HadamardKernels::fwhtRows, ctx, work, scratch, rowCount, hm, d, m, size.n(), logHalf, tr);
                } else {
                    FloatArray work2 = new FloatArray(m > 1 ? total : 1);
                    g.transferToDevice(DataTransferMode.FIRST_EXECUTION, work2);
                    g.task("fwht", HadamardKernels::fwhtGlobal, ctx, work, work2, hm, d, m, size.n(), tr);
                    transformItems = 0;
                }
                if (fp32) {
                    g.task("store", HadamardKernels::store32, ctx, work, out32, signs, d, rowCap);
                } else {
                    g.task("store", HadamardKernels::store16, ctx, work, out16, signs, d, rowCap, fmt);
                }
                grids.groupsFolded("load", d / columnGroup, rowCap, columnGroup, 1)
                        .groupsFolded("store", d / columnGroup, rowCap, columnGroup, 1);
                if (form == Form.ROWS) {
                    grids.groups("fwht", transformItems, 1);
                } else {
                    grids.groups("fwht", rowCap, t);
                }
            }
            g.transferToHost(DataTransferMode.UNDER_DEMAND, fp32 ? out32 : out16);
            plan = Plans.plan(device, g.snapshot()).withGridScheduler(grids.scheduler());
        }

        void run(Tensor in, Tensor out, int rows, float s, float[] preSigns, float[] postSigns) {
            for (int i = 0; i < d; i++) {
                signs.set(i, preSigns == null ? 1.0f : preSigns[i]);
                signs.set(d + i, postSigns == null ? 1.0f : postSigns[i]);
            }
            signs.set(2 * d, s);
            if (dtype == DType.FP32) {
                Plans.load(in, in32);
            } else {
                Plans.load(in, in16);
            }
            long total = (long) rows * d;
            if (form == Form.FUSED) {
                grids.regroup("fused", rows);
            } else {
                grids.regroupFolded("load", d / columnGroup, rows);
                if (form == Form.ROWS) {
                    rowCount.set(0, rows); // a fixed set of work-items walks the rows
                } else {
                    grids.regroup("fwht", rows);
                }
                grids.regroupFolded("store", d / columnGroup, rows);
            }
            String call = what + " (rows=" + rows + ")";
            Plans.run(plan, call, device, new Plans.Fetch(dtype == DType.FP32 ? out32 : out16, total));
            if (dtype == DType.FP32) {
                Plans.store(out32, out);
            } else {
                Plans.store(out16, out);
            }
        }

        /**
         * Work-items of {@link HadamardKernels#fwhtRows}: four per compute unit (so that the rows
         * even out over the units when one runs slower), no more than the rows.
         */
        private int rowItems(int rowCap) {
            int units = Math.max(1, device.getPhysicalDevice().getDeviceMaxComputeUnits());
            return Math.max(1, Math.min(rowCap, 4 * units));
        }

        @Override
        public void close() throws Exception {
            plan.close();
        }
    }
}
